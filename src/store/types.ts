import type { AuditEvent, EventInput, Instance, InstanceState, Message, Run } from '../core/index.js';

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

export interface MessageFilter {
  runId?: string;
  to?: string;
  from?: string;
  states?: readonly Message['state'][];
}

/** Durable messages. Ordering: per recipient in enqueue order (a rising sequence). */
export interface MessageStore {
  /** Stores a new pending message. Throws CONFLICT if the id exists. */
  enqueue(message: Pick<Message, 'id' | 'runId' | 'from' | 'to' | 'body' | 'createdAt'>): Promise<Message>;
  get(id: string): Promise<Message | null>;
  /** Pending messages for a recipient in send order. */
  pendingFor(to: string): Promise<Message[]>;
  /** Recipients that have pending messages. */
  recipientsWithPending(): Promise<string[]>;
  /** Counts an attempt to deliver these messages. */
  recordAttempt(ids: readonly string[]): Promise<void>;
  /** Moves pending messages to delivered; already delivered ones are left as they are (idempotent). */
  markDelivered(ids: readonly string[], at: number): Promise<void>;
  markFailed(ids: readonly string[]): Promise<void>;
  list(filter?: MessageFilter, limit?: number): Promise<Message[]>;
  count(filter?: MessageFilter): Promise<number>;
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
