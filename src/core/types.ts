/** The three levels of the organisation. */
export type Role = 'executive' | 'manager' | 'specialist';
export const ROLES: readonly Role[] = ['executive', 'manager', 'specialist'];

/** Agent CLIs an instance can run. `lite` is the built-in light runtime. */
export type AgentKind = 'lite' | 'claude' | 'codex' | 'gemini';
export const AGENT_KINDS: readonly AgentKind[] = ['lite', 'claude', 'codex', 'gemini'];

/**
 * Lifecycle of an instance. `starting` until the agent reports ready; `idle`/`busy` follow its turns;
 * `dead` when its pane or process is gone unexpectedly; `terminated` after a deliberate stop.
 */
export type InstanceState = 'starting' | 'idle' | 'busy' | 'blocked' | 'dead' | 'terminated';
export const LIVE_STATES: readonly InstanceState[] = ['starting', 'idle', 'busy', 'blocked'];

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

/** Every kind of audit event, with the data it carries. */
export interface EventDataByKind {
  'supervisor.started': { pid: number; port: number; adopted: string[]; lost: string[] };
  'supervisor.stopped': { pid: number };
  'run.created': { runId: string; repo: string; targetBranch: string; goal: string };
  'instance.spawned': { role: Role; parentId: string | null; branch: string | null; agent: AgentKind };
  'instance.state': { from: InstanceState; to: InstanceState; reason?: string };
  'instance.terminated': { cascade: boolean; worktreeKept: boolean; reason?: string };
  'instance.restarted': { pid: number | null };
  'instance.progress': { percent: number | null; note: string | null; source: string };
  'message.sent': { messageId: string; to: string; recipients: string[]; bytes: number; topic?: string };
  'message.delivered': { messageId: string; latencyMs: number; via: 'paste' | 'stop-hook' | 'tool' };
  'message.acked': { messageId: string; latencyMs: number };
  'message.dead': { messageId: string; from: string; error: string; attempts: number };
  'message.requeued': { messageIds: string[]; reason: string };
  'git.merged': { source: string; into: string; commit: string; commits: number };
  'tool.called': { tool: string; ok: boolean; error?: string };
  'tmux.orphan': { session: string };
}
export type EventKind = keyof EventDataByKind;

/** What a component appends to the event log. */
export type EventInput = {
  [K in EventKind]: { kind: K; actor: string; instanceId: string | null; data: EventDataByKind[K] };
}[EventKind];

/** An appended event: sequence numbers rise by one per append. */
export type AuditEvent = EventInput & { seq: number; ts: number };
