/** The three levels of the organisation. */
export type Role = 'executive' | 'manager' | 'specialist';
export const ROLES: readonly Role[] = ['executive', 'manager', 'specialist'];

/** Agent CLIs an instance can run. `lite` is the built-in light runtime. */
export type AgentKind = 'lite' | 'claude' | 'codex' | 'gemini';
export const AGENT_KINDS: readonly AgentKind[] = ['lite', 'claude', 'codex', 'gemini'];

/**
 * Lifecycle of an instance. `starting` until the agent reports ready; `idle`/`busy` follow its turns;
 * `blocked` on a dialog; `stuck` when busy without any sign of life for a while; `dead` when its pane or
 * process is gone unexpectedly; `terminated` after a deliberate stop.
 */
export type InstanceState = 'starting' | 'idle' | 'busy' | 'blocked' | 'stuck' | 'dead' | 'terminated';
export const LIVE_STATES: readonly InstanceState[] = ['starting', 'idle', 'busy', 'blocked', 'stuck'];

export function isLive(state: InstanceState): boolean {
  return LIVE_STATES.includes(state);
}

/** One agent running in its own tmux session. */
export interface Instance {
  id: string;
  runId: string;
  role: Role;
  parentId: string | null;
  /** Short human name, also the `<feature>` part of a specialist's branch. */
  name: string;
  agent: AgentKind;
  state: InstanceState;
  /** Branch the instance's work lands on (specialists: their own; managers: their integration branch). */
  branch: string | null;
  /** Worktree directory (specialists only), under the home dir. */
  worktree: string | null;
  /** Working directory the agent was started in. */
  cwd: string;
  tmuxSession: string;
  /** The host whose supervisor runs the instance's tmux session (see {@link Host}). */
  host: string;
  /** PID of the agent process in the pane, once known. */
  pid: number | null;
  /** sha256 of the instance's bearer token; the token itself is never stored. */
  tokenHash: string;
  /** The task text the instance was spawned for. */
  task: string | null;
  taskId: string | null;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
  /** Why the instance is dead or blocked, when known. */
  error: string | null;
  /** Last progress the agent reported (its todo list, or report_progress). */
  progress: Progress | null;
}

/**
 * A machine's supervisor as the shared store knows it. `up` while it heartbeats; `down` after a clean stop;
 * `lost` once it stopped heartbeating for longer than the host timeout (its instances are re-homed).
 */
export interface Host {
  id: string;
  state: 'up' | 'down' | 'lost';
  /** Identifies one supervisor process on the host: a restarted supervisor registers a new incarnation. */
  incarnation: string;
  pid: number;
  url: string;
  /** Live instances the host takes before placement prefers others. */
  capacity: number;
  startedAt: number;
  lastSeen: number;
  /** When and by which host it was declared lost. */
  lostAt: number | null;
  lostBy: string | null;
}

/** How far an instance is with its task. */
export interface Progress {
  /** 0–100, when the agent's reports allow a figure. */
  percent: number | null;
  note: string | null;
  updatedAt: number;
}

/** A goal handed to an Executive, and where its work lands. */
export interface Run {
  id: string;
  goal: string;
  /** The user's repository. */
  repo: string;
  /** Branch that receives the run's merged work. */
  targetBranch: string;
  agent: AgentKind;
  /** Environment given to every agent of the run (e.g. ANTHROPIC_BASE_URL for the scripted model). */
  agentEnv: Record<string, string>;
  createdAt: number;
}

/**
 * Where one message stands for one recipient: `pending` until it lands in the recipient's turn, `delivered`
 * once a hook or a tool call confirmed that, `acked` when the recipient acknowledged it, `dead` when it could
 * not be delivered (attempts exhausted, or the recipient was terminated).
 */
export type DeliveryState = 'pending' | 'delivered' | 'acked' | 'dead';
export const DELIVERY_STATES: readonly DeliveryState[] = ['pending', 'delivered', 'acked', 'dead'];

/** A message as sent: one record, whatever the number of recipients. */
export interface Message {
  id: string;
  runId: string;
  /** Sender instance id, or `user` / `supervisor`. */
  from: string;
  /** The address as the sender wrote it: an instance id, `parent`, `children`, a role, or `topic:NAME`. */
  to: string;
  subject: string | null;
  body: string;
  /** The sender wants an `ack`; until then the message is redelivered after a restart of the recipient. */
  requiresAck: boolean;
  /** Id of the message this one answers. */
  replyTo: string | null;
  /** The sender's idempotency key: a second send with the same (from, clientId) is the same message. */
  clientId: string | null;
  topic: string | null;
  /** Position in the topic's append-only log (1, 2, …). */
  topicSeq: number | null;
  createdAt: number;
}

/** One recipient's copy of a message and its state machine. */
export interface Delivery {
  messageId: string;
  recipient: string;
  runId: string;
  /** Rises with every delivery created: the recipient's inbox order (and so the sender's send order). */
  seq: number;
  state: DeliveryState;
  /** Push attempts (pastes) that were not confirmed. */
  attempts: number;
  /** A pending delivery is not pushed again before this time (backoff). */
  nextAttemptAt: number;
  createdAt: number;
  deliveredAt: number | null;
  ackedAt: number | null;
  /** Why it is dead, or what went wrong on the last attempt. */
  error: string | null;
}

/** A message together with one recipient's delivery of it. */
export interface Envelope {
  message: Message;
  delivery: Delivery;
}

/**
 * Where a task stands: `blocked` until every dependency is done, then `ready`; `claimed` while a lease is
 * held; `done` once completed under a current lease; `failed` when its attempts are used up (or it was
 * failed without retry).
 */
export type TaskState = 'blocked' | 'ready' | 'claimed' | 'done' | 'failed';
export const TASK_STATES: readonly TaskState[] = ['blocked', 'ready', 'claimed', 'done', 'failed'];

/** A unit of work in a run's task graph. */
export interface Task {
  id: string;
  runId: string;
  title: string;
  description: string;
  /** Ids of tasks (same run) that must be done first. */
  dependsOn: string[];
  /** Repo-relative globs the task edits; reserved exclusively for its holder while it is claimed. */
  files: string[];
  /** Higher first among ready tasks (default 0). */
  priority: number;
  state: TaskState;
  /** Instance id that created it, or `user`. */
  createdBy: string;
  /** When set, only this instance may claim it (execute_parallel assigns each task to its specialist). */
  assignee: string | null;
  /** The lease holder while claimed; afterwards the last holder. */
  owner: string | null;
  /** Fencing token: rises by one with every claim. Completion must name the current one. */
  epoch: number;
  leaseExpiresAt: number | null;
  /** Claims so far. */
  attempts: number;
  maxAttempts: number;
  /** What the holder reported at completion (e.g. a commit id). */
  result: string | null;
  /** Why the last attempt failed or was lost. */
  error: string | null;
  /** The branch the completed work is on (its holder's branch at completion). */
  branch: string | null;
  /** When its branch was merged by merge_branch. */
  mergedAt: number | null;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
}

/** `exclusive`: nobody else may hold an overlapping pattern; `shared`: others may, unless exclusively. */
export type ReservationMode = 'exclusive' | 'shared';

/** A lease on files (a repo-relative glob) held by an instance. */
export interface Reservation {
  id: string;
  runId: string;
  holder: string;
  pattern: string;
  mode: ReservationMode;
  /** The task whose claim made it (released with the task), or null for an explicit reserve_files. */
  taskId: string | null;
  expiresAt: number;
  createdAt: number;
}

/**
 * A discovery: something an instance learned that others should know, with its provenance. Re-recording a
 * key adds a new version; the older ones stay as history.
 */
export interface Knowledge {
  id: string;
  runId: string;
  key: string;
  value: string;
  tags: string[];
  /** Repo-relative globs the entry describes: it turns stale when they change on the run's branch later. */
  paths: string[];
  /** Instance id that recorded it, or `user`. */
  recordedBy: string;
  /** The task the recorder held (or was spawned for), if any. */
  taskId: string | null;
  /** HEAD of the recorder's branch when it was recorded: what the entry describes. */
  commit: string | null;
  branch: string | null;
  /** 1 for the first record of a key in a run, then 2, 3, … */
  version: number;
  createdAt: number;
}

/** Every kind of audit event, with the data it carries. */
export interface EventDataByKind {
  'supervisor.started': { pid: number; port: number; adopted: string[]; lost: string[] };
  'supervisor.stopped': { pid: number };
  'run.created': { runId: string; repo: string; targetBranch: string; goal: string };
  'instance.spawned': { role: Role; parentId: string | null; branch: string | null; agent: AgentKind };
  'instance.state': { from: InstanceState; to: InstanceState; reason?: string };
  'instance.terminated': { cascade: boolean; worktreeKept: boolean; reason?: string };
  'instance.restarted': { pid: number | null };
  /** A supervisor registered its host in the shared store (or re-registered after it was fenced). */
  'host.up': { host: string; incarnation: string; url: string; capacity: number };
  /** A host was declared lost (silent past the host timeout); its live instances are re-homed. */
  'host.lost': { host: string; silentMs: number; instances: string[] };
  /** A host's supervisor stopped cleanly. */
  'host.down': { host: string };
  /** An instance of a lost host now runs on this one (same id, conversation resumed where reachable). */
  'instance.rehomed': { from: string; to: string };
  'instance.recovery': {
    action: 'restart' | 'replace' | 'rehome' | 'gave-up' | 'nudge' | 'interrupt' | 'release';
    attempt: number;
    /** replace: the successor that took over. */
    successor?: string;
    /** release: why the instance's leases were taken back. */
    reason?: string;
  };
  'instance.progress': { percent: number | null; note: string | null; source: string };
  'message.sent': { messageId: string; to: string; recipients: string[]; bytes: number; topic?: string };
  'message.delivered': { messageId: string; latencyMs: number; via: 'paste' | 'stop-hook' | 'tool' };
  'message.acked': { messageId: string; latencyMs: number };
  'message.dead': { messageId: string; from: string; error: string; attempts: number };
  'message.requeued': { messageIds: string[]; reason: string };
  'git.merged': { source: string; into: string; commit: string; commits: number };
  'git.merge_refused': { source: string; into: string; files: string[]; owners: Record<string, string[]> };
  'task.created': { taskId: string; title: string; dependsOn: string[]; files: string[]; state: TaskState };
  'task.claimed': { taskId: string; epoch: number; attempt: number; leaseExpiresAt: number };
  'task.completed': { taskId: string; epoch: number; result: string | null; unblocked: string[] };
  'task.failed': { taskId: string; epoch: number; error: string; state: TaskState };
  'task.released': { taskId: string; epoch: number; reason: string; state: TaskState };
  'task.refused': { taskId: string; action: 'complete' | 'fail'; epoch: number; reason: string };
  'task.merged': { taskId: string; branch: string };
  'files.reserved': { patterns: string[]; mode: ReservationMode; expiresAt: number };
  'files.released': { patterns: string[]; reason: string };
  'files.refused': { patterns: string[]; holders: string[] };
  'knowledge.recorded': { key: string; version: number; commit: string | null; paths: string[] };
  'tool.called': { tool: string; ok: boolean; error?: string };
  'tmux.orphan': { session: string };
  /** A user's action from the dashboard (restart, kill, send, reassign, …) and how it ended. */
  'dashboard.action': { action: string; target: string; ok: boolean; error?: string };
  /** Keystrokes typed into an instance's terminal from the dashboard (text cut at 1,000 characters). */
  'dashboard.input': { bytes: number; text: string };
  /** A subtree's budget was set (at `run`, at `spawn`, or by set_budget / `budget raise`). */
  'budget.set': { root: string; limits: BudgetLimits; previous: BudgetLimits | null; by: string };
  /** A subtree used 80 % of a budgeted resource; its root was told (once per resource). */
  'budget.warning': { root: string; resource: BudgetResource; used: number; limit: number };
  /** A subtree used up a resource: it stops taking work until its budget is raised. */
  'budget.paused': { root: string; resource: BudgetResource; used: number; limit: number };
  /** A paused subtree's budget was raised above its use: it takes work again. */
  'budget.resumed': { root: string; by: string };
  /** A spawn, execute_parallel, claim or budget change refused by a budget. */
  'budget.refused': { action: string; reason: string };
  /** An agent hit an API rate limit or error; it waits until `until` (epoch ms; null: a default wait). */
  'instance.blocked': { kind: string; reason: string; until: number | null; resumeAt: number };
  /** A rate-limited agent was resumed after its reset time. */
  'instance.resumed': { blockedMs: number };
}

/** What a budget limits over time (live instances and depth are caps checked at spawn). */
export type BudgetResource = 'tokens' | 'minutes' | 'cost';

/**
 * The limits of a subtree's budget; absent fields are unlimited. Instances: live instances below the subtree's
 * root (the root not counted). Depth: levels below the root. Minutes: wall-clock since the budget was set.
 * Tokens: input, output and cache tokens the subtree's agents reported. Cost: from the price table.
 */
export interface BudgetLimits {
  maxInstances?: number;
  maxDepth?: number;
  maxMinutes?: number;
  maxTokens?: number;
  maxCost?: number;
}
export type EventKind = keyof EventDataByKind;

/** What a component appends to the event log. */
export type EventInput = {
  [K in EventKind]: { kind: K; actor: string; instanceId: string | null; data: EventDataByKind[K] };
}[EventKind];

/**
 * An appended event: sequence numbers rise by one per append. Events form a hash chain: `hash` covers the
 * event and `prevHash` (the hash of the event before it), so an edited or deleted event is detectable.
 */
export type AuditEvent = EventInput & {
  seq: number;
  ts: number;
  /** Hex SHA-256 of the previous event (64 zeros for the first). */
  prevHash: string;
  /** Hex SHA-256 of prevHash and this event's fields (see the store's event chain). */
  hash: string;
};

/** What the audit-trail check of the whole event log found. */
export type VerifyReport =
  | {
      ok: true;
      /** Events checked (all of them). */
      events: number;
      /** The newest event, as the head record names it (seq 0 and the genesis hash when empty). */
      head: { seq: number; hash: string };
    }
  | {
      ok: false;
      /** Events checked before the first problem. */
      events: number;
      /** The first problem in seq order. */
      problem: {
        /** The event where the chain breaks (for `deleted`, the first missing one). */
        seq: number;
        /**
         * `edited`: the event's fields no longer match its hash; `deleted`: sequence numbers skip (events
         * removed); `broken-link`: its prevHash is not the previous event's hash (that one was rewritten with a
         * new hash); `head-mismatch`: the head record does not name the newest event (the newest were removed).
         */
        kind: 'edited' | 'deleted' | 'head-mismatch' | 'broken-link';
        detail: string;
      };
    };
