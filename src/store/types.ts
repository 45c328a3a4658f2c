import type {
  AuditEvent,
  Host,
  Delivery,
  DeliveryState,
  Envelope,
  EventInput,
  Instance,
  InstanceState,
  Knowledge,
  Message,
  Reservation,
  ReservationMode,
  Run,
  Task,
  TaskState,
  VerifyReport,
} from '../core/index.js';

/** Fields of an instance that change after it is created. */
export type InstancePatch = Partial<
  Pick<
    Instance,
    'state' | 'pid' | 'error' | 'endedAt' | 'tokenHash' | 'branch' | 'worktree' | 'progress' | 'host' | 'cwd'
  >
>;

export interface InstanceFilter {
  runId?: string;
  parentId?: string;
  /** Only instances in these states. */
  states?: readonly InstanceState[];
  /** Only instances on this host. */
  host?: string;
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
   * After the recipient restarted: its pending deliveries, and its delivered-but-unacked deliveries of
   * messages that require an ack, go back to pending (due now). With `to`, they move to that recipient instead.
   * Returns the message ids moved, in seq order.
   */
  requeueUnacked(recipient: string, to?: string): Promise<string[]>;
  /**
   * A successor takes over from `recipient`: every delivery of it that is pending or delivered but not acked
   * (whether or not it asked for an ack: the successor never saw it) moves to `to`, pending and due now, in seq
   * order. Ids in `except` stay where they are, as do deliveries `to` already has. Returns the message ids
   * moved, in seq order.
   */
  handOver(recipient: string, to: string, except?: readonly string[]): Promise<string[]>;
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

/** A task as its creator defines it; the store sets the rest (state, lease, attempts, …). */
export type NewTask = Pick<
  Task,
  | 'id'
  | 'runId'
  | 'title'
  | 'description'
  | 'dependsOn'
  | 'files'
  | 'priority'
  | 'createdBy'
  | 'assignee'
  | 'maxAttempts'
  | 'createdAt'
>;

export interface TaskFilter {
  runId?: string;
  ids?: readonly string[];
  states?: readonly TaskState[];
  owner?: string;
  assignee?: string;
  createdBy?: string;
}

export interface ClaimRequest {
  runId: string;
  claimant: string;
  /** A specific task; without it, the best ready task the claimant may take. */
  taskId?: string | undefined;
  /** Without taskId: only tasks created by one of these (the claimant's parent, or itself). */
  creators?: readonly string[] | undefined;
  ttlMs: number;
  now: number;
}

/** Why a claim was not granted. */
export type ClaimRefusal =
  | { reason: 'not_found' }
  /** The task exists but is not ready (blocked, claimed by another live lease, done, failed). */
  | { reason: 'not_ready'; task: Task }
  /** Assigned to another instance. */
  | { reason: 'assigned'; task: Task }
  /** Its files overlap another holder's live reservation. */
  | { reason: 'files_busy'; task: Task; conflicts: Reservation[] }
  /** No task id given and no ready task the claimant may take (some may be waiting on files). */
  | { reason: 'none_ready'; waitingOnFiles: number };

export type ClaimOutcome =
  { granted: true; task: Task; reservations: Reservation[] } | ({ granted: false } & ClaimRefusal);

/** Why a completion or failure under a lease was refused; the task is returned as it stands. */
export type FenceRefusal =
  | { reason: 'not_found' }
  /** The epoch is not the task's current one: someone claimed it since. */
  | { reason: 'stale_epoch'; task: Task }
  /** The caller is not the holder. */
  | { reason: 'not_holder'; task: Task }
  /** The caller's lease ran out (the task may not have been re-claimed yet). */
  | { reason: 'expired'; task: Task }
  /** The task is not claimed (e.g. already done). */
  | { reason: 'not_claimed'; task: Task };

export type FenceOutcome<T> = ({ ok: true } & T) | ({ ok: false } & FenceRefusal);

/** Leases that lapsed or were taken back, and what became of their tasks. */
export interface Released {
  /** Tasks that were claimed by the holder(s), now ready again or failed (attempts used up). */
  tasks: Task[];
  reservations: Reservation[];
}

/**
 * The task graph and its fenced leases. Every method is atomic on its own (one transaction / one script), so
 * concurrent supervisors or clients never grant one task twice or complete it under two epochs.
 */
export interface TaskStore {
  /**
   * Inserts all tasks in one transaction, each `ready` when its dependencies are all done, else `blocked`.
   * Dependencies may name tasks of the same batch. Throws NOT_FOUND for an unknown dependency (or one of
   * another run), CONFLICT if an id exists. Cycles are the caller's to refuse (only a batch can form one).
   */
  create(tasks: readonly NewTask[]): Promise<Task[]>;
  get(id: string): Promise<Task | null>;
  /** Ordered by creation time, then id. */
  list(filter?: TaskFilter): Promise<Task[]>;
  /**
   * First returns lapsed leases (expiry before `now`) to ready, as {@link expire} does. Then grants a lease
   * on `taskId`, or on the best ready task the claimant may take (not assigned to another; created by one of
   * `creators` when given; priority high first, then oldest), skipping tasks whose files overlap another
   * holder's live reservation. Granting sets state claimed, owner, epoch + 1, attempts + 1, leaseExpiresAt =
   * now + ttl, and reserves the task's files exclusively for the claimant (taskId set on the reservations).
   * Claiming a task one already holds under a live lease renews it and returns it unchanged (a retry).
   */
  claim(req: ClaimRequest): Promise<ClaimOutcome>;
  /**
   * Extends every live (unexpired) task lease and reservation of the holder to now + ttl. A lapsed lease is
   * not revived. Returns the tasks renewed and the reservation count.
   */
  renew(holder: string, ttlMs: number, now: number): Promise<{ tasks: Task[]; reservations: number }>;
  /**
   * claimed → done, only for the holder, under the current epoch, with the lease still live. Releases the
   * task's reservations, and makes `ready` every blocked task whose dependencies are now all done.
   */
  complete(
    taskId: string,
    holder: string,
    epoch: number,
    result: { result: string | null; branch: string | null },
    now: number,
  ): Promise<FenceOutcome<{ task: Task; unblocked: Task[] }>>;
  /**
   * The holder gives the task up under its current, live lease: back to `ready` when `retry` and attempts
   * are left, else `failed`. Releases the task's reservations.
   */
  fail(
    taskId: string,
    holder: string,
    epoch: number,
    error: string,
    retry: boolean,
    now: number,
  ): Promise<FenceOutcome<{ task: Task }>>;
  /**
   * Takes back every lease of a holder that is gone (dead, terminated): its claimed tasks go back to ready
   * (failed when attempts are used up) with `error` = reason; its reservations are deleted.
   */
  releaseHolder(holder: string, reason: string, now: number): Promise<Released>;
  /**
   * Takes back one claimed task's lease, whoever holds it (a user's reassignment): the task goes back to ready
   * (failed when attempts are used up) with `error` = reason and its reservations are deleted; the old
   * holder's later completion is refused as it no longer holds the task. A task that is not claimed is left
   * as it is (nothing released). Throws NOT_FOUND for an unknown task.
   */
  releaseTask(taskId: string, reason: string, now: number): Promise<Released>;
  /** Takes back every lease that lapsed before `now`, as {@link releaseHolder} does. */
  expire(now: number): Promise<Released>;
  /** The earliest expiry among live task leases and reservations (null when none): when to expire next. */
  nextExpiry(): Promise<number | null>;
  /** Sets mergedAt on done tasks (idempotent); returns the tasks that changed. */
  markMerged(taskIds: readonly string[], now: number): Promise<Task[]>;
  /** Sets or clears the assignee of a task that is not claimed; NOT_FOUND / CONFLICT otherwise. */
  assign(taskId: string, assignee: string | null, now: number): Promise<Task>;
}

export interface ReserveRequest {
  runId: string;
  holder: string;
  /** Normalised repo-relative globs. */
  patterns: readonly string[];
  mode: ReservationMode;
  ttlMs: number;
  now: number;
}

/** File reservations: leases on repo-relative globs. Overlap is decided by core's `globsOverlap`. */
export interface ReservationStore {
  /**
   * All or nothing: refused (nothing stored) when any pattern overlaps another holder's live reservation
   * and either side is exclusive; the conflicting reservations are returned. A pattern the holder already
   * reserves is renewed with the new mode and expiry (its own reservations never conflict with each other).
   */
  reserve(
    req: ReserveRequest,
  ): Promise<{ ok: true; reservations: Reservation[] } | { ok: false; conflicts: Reservation[] }>;
  /**
   * Deletes the holder's reservations of these patterns (all of its explicit ones when omitted; task
   * reservations go with their task). Returns those deleted and the patterns it did not hold (any more).
   */
  release(
    holder: string,
    patterns: readonly string[] | undefined,
  ): Promise<{ released: Reservation[]; notHeld: string[] }>;
  /** Live reservations (expiry after `now`) of a run, optionally one holder's, oldest first. */
  list(filter: { runId?: string; holder?: string; now: number }): Promise<Reservation[]>;
}

/** A discovery to store: everything but its version, which the store assigns. */
export type NewKnowledge = Omit<Knowledge, 'version'>;

export interface KnowledgeQuery {
  runId: string;
  /**
   * Free text: any words (each matched as a term, ranked by how many and how rare), or with `syntax: 'fts'`
   * an SQLite-FTS5-style query (phrases in quotes, AND/OR/NOT, prefix*). Omitted or empty: no text filter.
   */
  text?: string | undefined;
  syntax?: 'words' | 'fts' | undefined;
  /** Entries carrying every one of these tags. */
  tags?: readonly string[] | undefined;
  /** Entries anchored to a path that overlaps one of these globs (core `globsOverlap`). */
  paths?: readonly string[] | undefined;
  /** Only the newest version of each key (default true). */
  latestOnly?: boolean | undefined;
  limit: number;
}

export interface KnowledgeHit {
  entry: Knowledge;
  /** Text relevance (higher is better; 0 without a text query). */
  relevance: number;
}

/**
 * Shared knowledge: discoveries with provenance and history, and full-text search over them. Every method is
 * atomic on its own.
 */
export interface KnowledgeStore {
  /** Stores a new version of `key` in its run (version = previous + 1) and returns it. */
  record(entry: NewKnowledge): Promise<Knowledge>;
  /**
   * Matching entries, best first: by text relevance when there is a text query, newer first among equals (and
   * newest first without one). Throws INVALID_ARGUMENT with the reason for a malformed `fts` query.
   */
  query(q: KnowledgeQuery): Promise<KnowledgeHit[]>;
  /** Every version of a key, oldest first. */
  history(runId: string, key: string): Promise<Knowledge[]>;
  /** Entries of a run (or all runs), newest first; latest version of each key unless `all`. */
  list(filter: { runId?: string; all?: boolean; limit: number }): Promise<Knowledge[]>;
  count(runId?: string): Promise<number>;
}

/**
 * The append-only audit trail, hash-chained (see event-chain.ts): each event carries the hash of the one
 * before it and its own, and the backend keeps a head record of the newest event, so edits and deletions are
 * detectable with {@link EventLog.verify}.
 */
export interface EventLog {
  /**
   * Appends and returns the event with its sequence number, time and hashes. Reading the head, inserting and
   * moving the head is one transaction, so concurrent appends form one chain.
   */
  append(event: EventInput): Promise<AuditEvent>;
  /**
   * Events with seq > afterSeq, oldest first; with `instanceId` only those about that instance; with
   * `sinceTs` only those with ts >= sinceTs (epoch ms). `limit` defaults to 10,000.
   */
  list(opts?: {
    afterSeq?: number;
    instanceId?: string;
    sinceTs?: number;
    limit?: number;
  }): Promise<AuditEvent[]>;
  /** Sequence number of the newest event (0 when empty): where a follower starts. */
  lastSeq(): Promise<number>;
  /**
   * Checks the whole chain in seq order, a page at a time: every hash recomputed, every link, no sequence
   * number skipped, the head record naming the newest event. Reports the first problem found.
   */
  verify(): Promise<VerifyReport>;
}

/** What a supervisor registers for its host; the store sets state, lastSeen and the lost fields. */
export type HostRegistration = Pick<Host, 'id' | 'incarnation' | 'pid' | 'url' | 'capacity' | 'startedAt'>;

/**
 * The supervisors sharing the store, with heartbeats. Every method is atomic on its own. On the embedded
 * store there is only ever the one host; on Redis every machine's supervisor registers here.
 */
export interface HostStore {
  /**
   * Registers a host as up under a new incarnation. Throws CONFLICT when the id is up under another
   * incarnation that heartbeat within `staleMs` (another live supervisor uses the same host id).
   */
  register(host: HostRegistration, at: number, staleMs: number): Promise<Host>;
  /**
   * Records that the incarnation is alive. Returns null when it no longer holds the id or is not up (it was
   * declared lost meanwhile): its instances were re-homed, and it must register again.
   */
  heartbeat(id: string, incarnation: string, at: number): Promise<Host | null>;
  get(id: string): Promise<Host | null>;
  /** Every host ever registered, by id. */
  list(): Promise<Host[]>;
  /**
   * up → lost if the host's last heartbeat is older than `silentSince`. True only for the one caller that
   * made the change (so exactly one supervisor re-homes a lost host's instances).
   */
  markLost(id: string, silentSince: number, by: string, at: number): Promise<boolean>;
  /** up → down (a clean stop), when the incarnation still holds the id. */
  markDown(id: string, incarnation: string, at: number): Promise<void>;
}

/** A request one supervisor sends another through the shared store (see {@link HostLink}). */
export interface HostRequest {
  id: string;
  kind: string;
  args: Record<string, unknown>;
  /** The requester has given up after this time (epoch ms): the request is dropped unrun. */
  deadline: number;
}

/**
 * Requests between supervisors of a shared store: what only the host that runs an instance's tmux session can
 * do (type into it, read its screen, stop it, start an instance there). A request waits in the target host's
 * queue until that supervisor takes it, or until its deadline.
 */
export interface HostLink {
  /**
   * Sends a request to `host` and waits for its answer. The handler's TmuxClaudeError comes back with its
   * code; no answer within `timeoutMs` throws UNAVAILABLE.
   */
  request(host: string, kind: string, args: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
  /** Takes requests addressed to `host` and answers each with the handler's result. Returns the stop function. */
  serve(host: string, handler: (req: HostRequest) => Promise<unknown>): () => void;
}

/** Small key/value facts about the deployment (e.g. the last supervisor port). */
export interface MetaStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
}

/**
 * A change another process committed to a shared store, as a wake-up hint: it names what to look at again,
 * never the data (the store stays the truth, and a hint may be late, repeated or, when a connection drops,
 * lost: then a `resync` follows, meaning anything may have changed).
 * - `mail`: pending mail appeared for a recipient (posted, requeued, handed over).
 * - `delivery`: a delivery of the message left pending (delivered, acked, dead-lettered).
 * - `tasks`: a run's tasks changed (created, claimed, completed, failed, released, merged, assigned) or its
 *   reservations were released: claimable work may have appeared.
 * - `events`: audit events were appended.
 * - `instance`: an instance's state changed.
 */
export type StoreChange =
  | { kind: 'mail'; recipient: string }
  | { kind: 'delivery'; messageId: string }
  | { kind: 'tasks'; runId: string }
  | { kind: 'events' }
  | { kind: 'instance'; id: string }
  | { kind: 'resync' };

/** The one source of truth. The composition root creates it; the caller that created it closes it. */
export interface Store {
  readonly backend: 'sqlite' | 'redis';
  readonly instances: InstanceStore;
  readonly runs: RunStore;
  readonly messages: MessageStore;
  readonly tasks: TaskStore;
  readonly reservations: ReservationStore;
  readonly knowledge: KnowledgeStore;
  readonly events: EventLog;
  readonly meta: MetaStore;
  readonly hosts: HostStore;
  /** Requests between supervisors; absent on a store only one supervisor uses (SQLite). */
  readonly link?: HostLink;
  /** Throws UNAVAILABLE when the store cannot be reached. */
  ping(): Promise<void>;
  /**
   * Calls `listener` with changes that other processes sharing this store committed (this store's own are
   * left out: its caller already knows them). Returns the unsubscribe function. Absent on a store only one
   * process uses (SQLite: the supervisor owns it), where there are no other processes to hear from.
   */
  onExternalChange?(listener: (changes: readonly StoreChange[]) => void): () => void;
  close(): Promise<void>;
}
