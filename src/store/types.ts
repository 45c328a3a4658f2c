import type {
  AuditEvent,
  Delivery,
  DeliveryState,
  Envelope,
  EventInput,
  Instance,
  InstanceState,
  Message,
  Run,
} from '../core/index.js';

/** Fields of an instance that change after it is created. */
export type InstancePatch = Partial<
  Pick<Instance, 'state' | 'pid' | 'error' | 'endedAt' | 'tokenHash' | 'branch' | 'worktree' | 'progress'>
>;

export interface InstanceFilter {
  runId?: string;
  parentId?: string;
  /** Only instances in these states. */
  states?: readonly InstanceState[];
}

/** Instances: the organisation's members. Every method is atomic on its own. */
export interface InstanceStore {
  /** Throws CONFLICT if the id exists. */
  create(instance: Instance): Promise<void>;
  get(id: string): Promise<Instance | null>;
  findByTokenHash(tokenHash: string): Promise<Instance | null>;
  /** Ordered by creation time. */
  list(filter?: InstanceFilter): Promise<Instance[]>;
  /**
   * Applies the patch and bumps updatedAt. With `expectState`, only when the current state is one of them
   * (compare-and-set); returns null then. Throws NOT_FOUND for an unknown id.
   */
  update(id: string, patch: InstancePatch, expectState?: readonly InstanceState[]): Promise<Instance | null>;
}

export interface RunStore {
  /** Throws CONFLICT if the id exists. */
  create(run: Run): Promise<void>;
  get(id: string): Promise<Run | null>;
  list(): Promise<Run[]>;
}

export interface DeliveryFilter {
  runId?: string;
  recipient?: string;
  from?: string;
  states?: readonly DeliveryState[];
  /** Only deliveries with seq above this (a follower's cursor). */
  afterSeq?: number;
}

/** A message to store: everything but the topic position, which the store assigns. */
export type NewMessage = Omit<Message, 'topicSeq'>;

/** What {@link MessageStore.ack} did with each id. */
export interface AckOutcome {
  acked: string[];
  alreadyAcked: string[];
  /** Ids that are not a delivery to this recipient; when any, nothing was changed. */
  unknown: string[];
}

/**
 * Durable messages and their per-recipient deliveries (the bus's state machine), and topics. Every method is
 * atomic on its own. Delivery order is `seq` order: a recipient's deliveries rise in the order they were posted.
 */
export interface MessageStore {
  /**
   * Stores a message and one pending delivery per recipient in one transaction. If the sender already posted
   * a message with the same clientId, nothing is stored and that message is returned with `duplicate: true`.
   * A topic message gets the topic's next sequence number. Throws CONFLICT if the id exists.
   */
  post(
    message: NewMessage,
    recipients: readonly string[],
  ): Promise<{ message: Message; deliveries: Delivery[]; duplicate: boolean }>;
  get(id: string): Promise<Message | null>;
  /** Every recipient's delivery of a message, in seq order. */
  deliveriesOf(messageId: string): Promise<Delivery[]>;
  /** The message a sender posted with this client id, with its deliveries. */
  findByClientId(
    from: string,
    clientId: string,
  ): Promise<{ message: Message; deliveries: Delivery[] } | null>;
  /** A recipient's deliveries in the given states, oldest first. */
  inbox(recipient: string, states: readonly DeliveryState[], limit?: number): Promise<Envelope[]>;
  /** Recipients with a pending delivery whose next attempt is due at `now`. */
  dueRecipients(now: number): Promise<string[]>;
  /** Pending deliveries per recipient (only recipients that have some). */
  pendingCounts(recipients?: readonly string[]): Promise<Map<string, number>>;
  /** pending → delivered; returns the ids that moved (already delivered/acked ones are left alone). */
  markDelivered(recipient: string, messageIds: readonly string[], at: number): Promise<string[]>;
  /** Any non-dead state → acked. All or nothing: if an id is not this recipient's, nothing changes. */
  ack(recipient: string, messageIds: readonly string[], at: number): Promise<AckOutcome>;
  /** Counts a failed push attempt on pending deliveries and sets when the next one is due. */
  recordFailedAttempt(
    recipient: string,
    messageIds: readonly string[],
    nextAttemptAt: number,
    error: string,
  ): Promise<Delivery[]>;
  /** pending/delivered → dead; returns the envelopes that moved. */
  markDead(recipient: string, messageIds: readonly string[], at: number, error: string): Promise<Envelope[]>;
  /**
   * Delivered-but-unacked deliveries of messages that require an ack go back to pending (due now), e.g.
   * after the recipient restarted. With `to`, they move to that recipient instead (a successor). Returns the
   * message ids moved.
   */
  requeueUnacked(recipient: string, to?: string): Promise<string[]>;
  /** Deliveries with their messages, in seq order (newest last); limit keeps the newest. */
  list(filter?: DeliveryFilter, limit?: number): Promise<Envelope[]>;
  count(filter?: DeliveryFilter): Promise<number>;
  /** Subscribes an instance to a run's topic (idempotent). */
  subscribe(runId: string, topic: string, instanceId: string, at: number): Promise<void>;
  subscribers(runId: string, topic: string): Promise<string[]>;
  /** The sequence number of the topic's newest message (0 when empty). */
  topicHead(runId: string, topic: string): Promise<number>;
  /** A topic's messages with topicSeq > afterSeq, oldest first. */
  replay(runId: string, topic: string, afterSeq: number, limit: number): Promise<Message[]>;
}

/** The append-only audit trail. */
export interface EventLog {
  /** Appends and returns the event with its sequence number and time. */
  append(event: EventInput): Promise<AuditEvent>;
  /** Events with seq > afterSeq, oldest first. */
  list(opts?: { afterSeq?: number; instanceId?: string; limit?: number }): Promise<AuditEvent[]>;
  /** Sequence number of the newest event (0 when empty): where a follower starts. */
  lastSeq(): Promise<number>;
}

/** Small key/value facts about the deployment (e.g. the last supervisor port). */
export interface MetaStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
}

/** The one source of truth. The composition root creates it; the caller that created it closes it. */
export interface Store {
  readonly backend: 'sqlite' | 'redis';
  readonly instances: InstanceStore;
  readonly runs: RunStore;
  readonly messages: MessageStore;
  readonly events: EventLog;
  readonly meta: MetaStore;
  /** Throws UNAVAILABLE when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
