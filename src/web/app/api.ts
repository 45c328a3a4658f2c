/**
 * The supervisor's HTTP API as the dashboard sees it. The app talks to the server only over HTTP (same
 * origin, authenticated by the login cookie), so the types it needs are declared here, not imported.
 */

export type Role = 'executive' | 'manager' | 'specialist';
export type InstanceState = 'starting' | 'idle' | 'busy' | 'blocked' | 'stuck' | 'dead' | 'terminated';
export const LIVE_STATES: readonly string[] = ['starting', 'ready', 'idle', 'busy', 'blocked', 'stuck'];

export interface Progress {
  percent: number | null;
  note: string | null;
  updatedAt: number;
}

export interface InstanceView {
  id: string;
  runId: string;
  role: Role;
  parentId: string | null;
  name: string;
  /** An {@link InstanceState}; kept open so that a state added on the server still renders. */
  state: string;
  branch: string | null;
  agent: string;
  tmuxSession: string;
  /** The host whose supervisor runs it (several share a Redis store). */
  host: string;
  pid: number | null;
  taskId: string | null;
  error: string | null;
  pendingMessages: number;
  progress: Progress | null;
  /** Blocked by a rate limit or API error: when the supervisor resumes it (epoch ms), if the reset is known. */
  blockedUntil?: number | null;
}

/** The limits of a budget (absent: no limit). */
export interface BudgetLimits {
  maxInstances?: number;
  maxDepth?: number;
  maxMinutes?: number;
  maxTokens?: number;
  maxCost?: number;
}

/** One subtree's budget with what it used (GET /api/budgets). */
export interface BudgetView {
  root: string;
  runId: string;
  role: Role | null;
  name: string | null;
  rootState: string | null;
  state: 'active' | 'paused';
  pausedFor: 'tokens' | 'minutes' | 'cost' | null;
  limits: BudgetLimits;
  used: { instances: number; depth: number; minutes: number; tokens: number; cost: number };
  reserved: { tokens: number; cost: number };
  startedAt: number;
}

export interface RunView {
  id: string;
  goal: string;
  repo: string;
  targetBranch: string;
  agent?: string;
  createdAt: number;
  executiveId?: string | null;
}

export type DeliveryState = 'pending' | 'delivered' | 'acked' | 'dead';

export interface MessageFlowRow {
  seq: number;
  id: string;
  runId: string;
  from: string;
  to: string;
  address: string;
  subject: string | null;
  state: string;
  requiresAck: boolean;
  attempts: number;
  bytes: number;
  sentAt: number;
  deliveredMs: number | null;
  ackedMs: number | null;
  error: string | null;
  body: string;
}

export type TaskState = 'blocked' | 'ready' | 'claimed' | 'done' | 'failed';

export interface TaskView {
  id: string;
  title: string;
  description: string;
  state: string;
  depends_on: string[];
  files: string[];
  priority: number;
  created_by: string;
  assignee: string | null;
  owner: string | null;
  epoch: number;
  attempts: number;
  max_attempts: number;
  lease_expires_at: string | null;
  result: string | null;
  error: string | null;
  branch: string | null;
  merged: boolean;
}

export interface Reservation {
  id: string;
  runId: string;
  holder: string;
  pattern: string;
  mode: 'exclusive' | 'shared';
  taskId: string | null;
  expiresAt: number;
  createdAt: number;
}

export interface TasksResponse {
  tasks: TaskView[];
  reservations: Reservation[];
}

export interface ConflictReport {
  reservationOverlaps: Array<{ a: Reservation; b: Reservation }>;
  worktreeOverlaps: Array<{
    path: string;
    instances: Array<{ id: string; branch: string | null; taskId: string | null }>;
  }>;
  /** Ids of ready tasks that cannot be claimed because others hold their files. */
  tasksWaitingOnFiles: string[];
}

export interface ProcessUsage {
  cpuPercent: number | null;
  rssBytes: number;
  processes: number;
}

export interface InstanceSample extends ProcessUsage {
  ts: number;
  pid: number;
}

export interface HostSample {
  ts: number;
  cpuPercent: number | null;
  cpus: number;
  load: [number, number, number];
  memFreeBytes: number;
  memTotalBytes: number;
  supervisor: ProcessUsage | null;
  tmux: ProcessUsage | null;
}

export interface ResourceSnapshot {
  intervalMs: number;
  host: HostSample | null;
  instances: Record<string, InstanceSample>;
}

export interface AuditEvent {
  seq: number;
  ts: number;
  kind: string;
  actor: string;
  instanceId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** One terminal frame of `GET /api/instances/:id/terminal`. */
export interface TerminalScreen {
  text: string;
  cursorX: number;
  cursorY: number;
  width: number;
  height: number;
}

/** An error the server answered with (`{error:{code,message}}`), or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function answer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof err?.code === 'string' ? err.code : `HTTP_${res.status}`;
    const message =
      typeof err?.message === 'string' ? err.message : text.trim().slice(0, 300) || res.statusText;
    throw new ApiError(code, message, res.status);
  }
  return body as T;
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers:
        method === 'POST'
          ? { 'Content-Type': 'application/json', Accept: 'application/json' }
          : { Accept: 'application/json' },
      ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
    });
  } catch (err) {
    throw new ApiError('NETWORK', err instanceof Error ? err.message : String(err), 0);
  }
  return answer<T>(res);
}

/** A query string from the defined values. */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    q.set(k, v === true ? '1' : String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body: unknown) => request<T>('POST', path, body),

  runs: () => request<RunView[]>('GET', '/api/runs'),
  instances: () => request<InstanceView[]>('GET', '/api/instances'),
  messages: (p: {
    run?: string;
    after?: number;
    limit?: number;
    dead?: boolean;
    to?: string;
    from?: string;
  }) => request<MessageFlowRow[]>('GET', `/api/messages${qs(p)}`),
  tasks: (run: string | undefined) => request<TasksResponse>('GET', `/api/tasks${qs({ run })}`),
  conflicts: (run: string) => request<ConflictReport>('GET', `/api/conflicts${qs({ run })}`),
  budgets: (run: string) => request<BudgetView[]>('GET', `/api/budgets${qs({ run })}`),
  resources: () => request<ResourceSnapshot>('GET', '/api/resources'),
  hostSeries: () => request<{ intervalMs: number; samples: HostSample[] }>('GET', '/api/resources?host=1'),
  instanceSeries: (id: string) =>
    request<{ intervalMs: number; samples: InstanceSample[] }>(
      'GET',
      `/api/resources${qs({ instance: id })}`,
    ),
  eventsHead: () => request<{ seq: number }>('GET', '/api/events/head'),
  events: (p: { after?: number; instance?: string }) =>
    request<AuditEvent[]>('GET', `/api/events${qs({ after: p.after ?? 0, instance: p.instance })}`),

  restart: (id: string) => request<unknown>('POST', `/api/instances/${enc(id)}/restart`, {}),
  kill: (id: string, cascade: boolean) =>
    request<unknown>('POST', `/api/instances/${enc(id)}/kill`, { cascade }),
  send: (id: string, text: string) => request<unknown>('POST', `/api/instances/${enc(id)}/send`, { text }),
  input: (id: string, data: string) => request<unknown>('POST', `/api/instances/${enc(id)}/input`, { data }),
  reassign: (taskId: string, to: string | null) =>
    request<TaskView>('POST', `/api/tasks/${enc(taskId)}/reassign`, to ? { to } : {}),

  streamUrl: (after: number) => `/api/stream${qs({ after })}`,
  terminalUrl: (id: string) => `/api/instances/${enc(id)}/terminal`,
};

export function isLive(state: string): boolean {
  return LIVE_STATES.includes(state);
}
