import type {
  AgentKind,
  Envelope,
  Instance,
  Knowledge,
  Message,
  Reservation,
  ReservationMode,
  Role,
  Task,
  TaskState,
} from '../core/index.js';

/** Who is calling a tool: resolved by the server from the bearer token, never from arguments. */
export type Caller = Pick<Instance, 'id' | 'role' | 'runId' | 'parentId' | 'branch'>;

export interface SpawnRequest {
  role: Exclude<Role, 'executive'>;
  name: string;
  prompt?: string | undefined;
  agent?: AgentKind | undefined;
  taskId?: string | undefined;
  /** The child's own budget (limits by name), carved out of what the caller's budgets have left. */
  budget?: Record<string, unknown> | undefined;
  /** The host to run the child on (a shared store's hosts); placement picks one by capacity when absent. */
  host?: string | undefined;
}

export interface SpawnResult {
  id: string;
  role: Role;
  branch: string | null;
  worktree: string | null;
  tmuxSession: string;
  /** The host it runs on. */
  host: string;
}

export interface SendResult {
  messageId: string;
  to: string;
  /** True once the recipient's turn received it (hook confirmed); false if still queued at the timeout. */
  delivered: boolean;
}

export interface InstanceView {
  id: string;
  runId: string;
  role: Role;
  parentId: string | null;
  name: string;
  state: Instance['state'];
  branch: string | null;
  agent: AgentKind;
  tmuxSession: string;
  /** The host whose supervisor runs it. */
  host: string;
  pid: number | null;
  /** The task the instance was spawned for (a specialist's; it may name no task of the graph). */
  taskId: string | null;
  error: string | null;
  pendingMessages: number;
  progress: Instance['progress'];
  /** A blocked instance waiting out a rate limit: when the supervisor resumes it (epoch ms). */
  blockedUntil?: number | null;
}

export interface ProgressReport {
  root: string;
  total: number;
  /** Tasks created by instances of the subtree, by state (merged ones counted apart as well). */
  tasks: { total: number; merged: number; byState: Partial<Record<TaskState, number>> };
  /** Mean of the reported percentages below the root (finished instances count as 100); null if none. */
  percent: number | null;
  byState: Partial<Record<Instance['state'], number>>;
  instances: InstanceView[];
}

export interface MergeRequest {
  instanceId?: string | undefined;
  branch?: string | undefined;
  into?: string | undefined;
}

export interface MergeReport {
  merged: true;
  source: string;
  into: string;
  commit: string;
  commits: number;
  alreadyMerged: boolean;
}

export interface SendMessageRequest {
  /** An instance id, `parent`, `children`, a role (`managers`, `specialist`, …) below the caller, or `topic:NAME`. */
  to: string;
  body: string;
  subject?: string | undefined;
  requiresAck?: boolean | undefined;
  replyTo?: string | undefined;
  clientId?: string | undefined;
}

export interface SendMessageResult {
  messageId: string;
  recipients: string[];
  duplicate: boolean;
  topic?: string;
  topicSeq?: number;
}

/** The message bus as an agent uses it: its own inbox, sends, topics. */
export interface Messaging {
  sendMessage(caller: Caller, req: SendMessageRequest): Promise<SendMessageResult>;
  inbox(
    caller: Caller,
    opts: { unreadOnly: boolean; limit: number },
  ): Promise<{ messages: Envelope[]; more: boolean }>;
  ack(caller: Caller, ids: readonly string[]): Promise<{ acked: string[]; alreadyAcked: string[] }>;
  waitForMessages(
    caller: Caller,
    opts: { timeoutMs: number; from?: string | undefined; subject?: string | undefined },
  ): Promise<{ messages: Envelope[]; timedOut: boolean }>;
  publish(caller: Caller, topic: string, body: string, subject?: string): Promise<SendMessageResult>;
  subscribe(caller: Caller, topic: string): Promise<{ topic: string; headSeq: number }>;
  replay(
    caller: Caller,
    topic: string,
    sinceSeq: number,
    limit: number,
  ): Promise<{ topic: string; messages: Message[]; headSeq: number }>;
}

/** A task as create_task / execute_parallel take it. */
export interface TaskInput {
  /** Unique within one execute_parallel call; other entries' depends_on may name it. */
  name?: string | undefined;
  title: string;
  description?: string | undefined;
  /** Names of entries of the same call, or ids of existing tasks. */
  dependsOn?: readonly string[] | undefined;
  /** Repo-relative globs the task edits. */
  files?: readonly string[] | undefined;
  priority?: number | undefined;
}

export interface ParallelRequest {
  tasks: readonly TaskInput[];
  /** Specialists running at once (default from config, 4). */
  maxActive?: number | undefined;
  /** Chain overlapping tasks in the order given instead of refusing the plan. */
  serializeOverlaps?: boolean | undefined;
}

export interface ParallelResult {
  tasks: Array<{ name: string; taskId: string; state: TaskState; dependsOn: string[] }>;
  maxActive: number;
  /** Dependencies added by serializeOverlaps. */
  addedDependencies: number;
  /** When a budget allows fewer specialists at once than maxActive: how many it allows now at most. */
  budgetAllows?: number;
}

/** Where work may collide: overlapping reservations, and files changed in two live worktrees at once. */
export interface ConflictReport {
  reservationOverlaps: Array<{ a: Reservation; b: Reservation }>;
  worktreeOverlaps: Array<{
    path: string;
    instances: Array<{ id: string; branch: string | null; taskId: string | null }>;
  }>;
  /** Ready tasks that cannot be claimed because others hold their files. */
  tasksWaitingOnFiles: string[];
}

/** The work coordinator as an agent uses it. */
export interface Coordination {
  createTask(caller: Caller, task: TaskInput): Promise<Task>;
  listTasks(
    caller: Caller,
    filter: { states?: readonly TaskState[] | undefined; owner?: string | undefined; limit: number },
  ): Promise<{ tasks: Task[]; more: boolean }>;
  claimTask(
    caller: Caller,
    opts: { taskId?: string | undefined; waitMs?: number | undefined },
  ): Promise<{ task: Task; reservations: Reservation[] } | { task: null; reason: string }>;
  heartbeat(caller: Caller): Promise<{ tasks: Task[]; reservations: number; expiresAt: number }>;
  completeTask(
    caller: Caller,
    taskId: string,
    epoch: number,
    result: string | null,
  ): Promise<{ task: Task; unblocked: Task[] }>;
  failTask(caller: Caller, taskId: string, epoch: number, error: string, retry: boolean): Promise<Task>;
  reserveFiles(
    caller: Caller,
    patterns: readonly string[],
    mode: ReservationMode,
    ttlMs?: number,
  ): Promise<Reservation[]>;
  releaseFiles(
    caller: Caller,
    patterns?: readonly string[],
  ): Promise<{ released: Reservation[]; notHeld: string[] }>;
  checkConflicts(caller: Caller): Promise<ConflictReport>;
  executeParallel(caller: Caller, req: ParallelRequest): Promise<ParallelResult>;
}

/** A query_knowledge answer row. */
export interface KnowledgeAnswer {
  entry: Knowledge;
  relevance: number;
  /** Its anchored paths changed on the run's branch after its commit. */
  stale: boolean;
}

/** Shared knowledge and progress as an agent uses them. */
export interface Knowing {
  recordDiscovery(
    caller: Caller,
    input: { key: string; value: string; tags?: readonly string[]; paths?: readonly string[] },
  ): Promise<Knowledge>;
  queryKnowledge(
    caller: Caller,
    q: {
      query?: string | undefined;
      syntax?: 'words' | 'fts' | undefined;
      tags?: readonly string[] | undefined;
      paths?: readonly string[] | undefined;
      limit?: number | undefined;
    },
  ): Promise<KnowledgeAnswer[]>;
  reportProgress(
    caller: Caller,
    progress: { percent?: number | undefined; note?: string | undefined },
  ): Promise<Instance['progress']>;
}

/**
 * What the MCP tools need from the supervisor. Every method checks that the target lies in the caller's
 * subtree (or is the caller's parent where the role table allows it) and throws TmuxClaudeError otherwise.
 */
export interface Orchestrator extends Messaging, Coordination, Knowing {
  spawn(caller: Caller, req: SpawnRequest): Promise<SpawnResult>;
  send(caller: Caller, to: string, text: string, timeoutMs?: number): Promise<SendResult>;
  read(caller: Caller, id: string, since?: number): Promise<{ id: string; cursor: number; text: string }>;
  list(caller: Caller): Promise<InstanceView[]>;
  terminate(
    caller: Caller,
    id: string,
    cascade: boolean,
  ): Promise<{ terminated: string[]; keptWorktrees: string[] }>;
  restart(caller: Caller, id: string): Promise<SpawnResult>;
  getProgress(caller: Caller, id?: string): Promise<ProgressReport>;
  /** Sets or raises the budget of an instance below the caller (limits by name). */
  setBudget(caller: Caller, id: string, limits: Record<string, unknown>): Promise<unknown>;
  /** The budgets over and below the caller, with their spend. */
  budgetsOf(caller: Caller): Promise<unknown[]>;
  mergeBranch(caller: Caller, req: MergeRequest): Promise<MergeReport>;
  /** Audit hook: called after every tool call. */
  recordToolCall(caller: Caller, tool: string, ok: boolean, error?: string): Promise<void>;
}
