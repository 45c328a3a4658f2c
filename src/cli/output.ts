import type { ErrorCode, InstanceState, Role } from '../core/index.js';
import type { ConflictReport, InstanceView, TaskView } from '../mcp/index.js';
import type { HostSample, ResourceSnapshot } from '../supervisor/index.js';

/** Exit codes, decided in one place. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 2,
  NOT_FOUND: 4,
  FORBIDDEN: 2,
  UNAUTHORIZED: 2,
  CONFLICT: 5,
  MERGE_CONFLICT: 5,
  UNMERGED_WORK: 5,
  STALE_LEASE: 5,
  DEPENDENCY_MISSING: 6,
  UNAVAILABLE: 7,
  TIMEOUT: 8,
  EXTERNAL_COMMAND_FAILED: 1,
  INTERNAL: 1,
};

interface TreeNode {
  id: string;
  parentId: string | null;
}

/** Instances in tree order (roots first, children in spawn order under their parent) with the tree drawing. */
function treeLines<T extends TreeNode>(instances: readonly T[]): Array<{ instance: T; prefix: string }> {
  const ids = new Set(instances.map((i) => i.id));
  const children = new Map<string | null, T[]>();
  for (const i of instances) {
    const parent = i.parentId && ids.has(i.parentId) ? i.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), i]);
  }
  const lines: Array<{ instance: T; prefix: string }> = [];
  const walk = (parent: string | null, indent: string): void => {
    const list = children.get(parent) ?? [];
    list.forEach((i, n) => {
      const last = n === list.length - 1;
      const branch = parent === null ? '' : last ? '└─ ' : '├─ ';
      lines.push({ instance: i, prefix: indent + branch });
      walk(i.id, parent === null ? indent : indent + (last ? '   ' : '│  '));
    });
  };
  walk(null, '');
  return lines;
}

/** Local wall-clock time of day, HH:MM:SS. */
export function clockTime(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** An instance's state, with the time a rate-limited one is resumed: `blocked until 12:34:56`. */
export function stateText(i: { state: InstanceState; blockedUntil?: number | null }): string {
  return i.state === 'blocked' && i.blockedUntil ? `blocked until ${clockTime(i.blockedUntil)}` : i.state;
}

/** The hierarchy as an indented tree, roots first, children in spawn order. */
export function renderTree(instances: readonly InstanceView[]): string {
  // Several hosts share the store: say where each instance runs.
  const where = new Set(instances.map((i) => i.host)).size > 1;
  return treeLines(instances)
    .map(({ instance: i, prefix }) => {
      const unread = i.pendingMessages ? `  ✉ ${i.pendingMessages}` : '';
      const progress =
        i.progress && i.state !== 'terminated'
          ? `  ${i.progress.percent ?? '?'}%${i.progress.note ? ` ${i.progress.note.slice(0, 40)}` : ''}`
          : '';
      const err = i.error && (i.state === 'dead' || i.state === 'blocked') ? `  (${i.error})` : '';
      const host = where ? `  @${i.host}` : '';
      return `${prefix}${i.id}  ${i.role}  ${stateText(i)}${host}  ${i.branch ?? '-'}${progress}${unread}${err}`;
    })
    .join('\n');
}

/**
 * The task graph as a table in dependency order (a task after the ones it depends on): state, owner,
 * fencing epoch, attempts, what it waits on, and its title.
 */
export function renderTasks(tasks: readonly TaskView[]): string {
  if (tasks.length === 0) return 'no tasks';
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const ordered: TaskView[] = [];
  const seen = new Set<string>();
  const visit = (t: TaskView): void => {
    if (seen.has(t.id)) return;
    seen.add(t.id);
    for (const d of t.depends_on) {
      const dep = byId.get(d);
      if (dep) visit(dep);
    }
    ordered.push(t);
  };
  tasks.forEach(visit);
  const rows = ordered.map((t) => [
    t.id,
    t.state === 'done' && t.merged ? 'merged' : t.state,
    t.owner ?? t.assignee ?? '-',
    String(t.epoch),
    `${t.attempts}/${t.max_attempts}`,
    t.depends_on.length ? t.depends_on.join(',') : '-',
    t.title + (t.error && t.state !== 'done' ? `  (${t.error})` : ''),
  ]);
  const header = ['TASK', 'STATE', 'OWNER', 'EPOCH', 'TRIES', 'AFTER', 'TITLE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r[1]!, (counts.get(r[1]!) ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  return [line(header), ...rows.map(line), '', `${tasks.length} tasks: ${summary}`].join('\n');
}

/** One instance as `tmux-claude top` shows it. */
export interface TopInstance {
  id: string;
  runId: string;
  parentId: string | null;
  role: Role;
  state: InstanceState;
  host: string;
  /** Waiting out a rate limit: when it is resumed (epoch ms). */
  blockedUntil: number | null;
  /** The task it holds (claimed), else the one it was spawned for, when the graph has it. */
  task: { id: string; title: string } | null;
  progressPercent: number | null;
  /** Of the agent's process tree: CPU in % of one core, null until two samples exist; RSS summed. */
  cpuPercent: number | null;
  rssBytes: number | null;
  /** Messages waiting for it. */
  unread: number;
}

/** Where work may collide in a run with live instances. */
export interface TopRun {
  id: string;
  /** Files changed in two worktrees, plus ready tasks waiting for files others hold. */
  conflicts: number;
  worktreeOverlaps: number;
  tasksWaitingOnFiles: number;
}

/** Everything one frame of `top` shows; `top --json` prints it. */
export interface TopSnapshot {
  ts: number;
  host: HostSample | null;
  runs: TopRun[];
  instances: TopInstance[];
}

/** Joins what `top` fetches from the supervisor into one snapshot. */
export function topSnapshot(
  input: {
    instances: readonly InstanceView[];
    resources: ResourceSnapshot;
    tasks: readonly TaskView[];
    conflicts: ReadonlyMap<string, ConflictReport>;
  },
  ts = Date.now(),
): TopSnapshot {
  const byId = new Map(input.tasks.map((t) => [t.id, t]));
  const held = new Map(input.tasks.filter((t) => t.state === 'claimed' && t.owner).map((t) => [t.owner!, t]));
  return {
    ts,
    host: input.resources.host,
    runs: [...input.conflicts].map(([id, c]) => ({
      id,
      conflicts: c.worktreeOverlaps.length + c.tasksWaitingOnFiles.length,
      worktreeOverlaps: c.worktreeOverlaps.length,
      tasksWaitingOnFiles: c.tasksWaitingOnFiles.length,
    })),
    instances: input.instances.map((i) => {
      const task = held.get(i.id) ?? (i.taskId ? byId.get(i.taskId) : undefined);
      const sample = input.resources.instances[i.id];
      return {
        id: i.id,
        runId: i.runId,
        parentId: i.parentId,
        role: i.role,
        state: i.state,
        host: i.host,
        blockedUntil: i.blockedUntil ?? null,
        task: task ? { id: task.id, title: task.title } : null,
        progressPercent: i.state === 'terminated' ? null : (i.progress?.percent ?? null),
        cpuPercent: sample?.cpuPercent ?? null,
        rssBytes: sample?.rssBytes ?? null,
        unread: i.pendingMessages,
      };
    }),
  };
}

const GB = 1024 ** 3;
const MiB = 1024 ** 2;

function percent(n: number | null): string {
  return n === null ? '-' : n.toFixed(1);
}

function clip(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** The host line of `top`: machine CPU, load and memory, and what the supervisor and tmux use. */
function hostLine(h: HostSample | null): string {
  if (!h) return 'host: no sample yet';
  const proc = (name: string, u: HostSample['supervisor']): string =>
    u ? `  ${name} ${percent(u.cpuPercent)}% ${(u.rssBytes / MiB).toFixed(0)} MB` : '';
  return (
    `host: CPU ${h.cpuPercent === null ? '-' : h.cpuPercent.toFixed(0)}% of ${h.cpus} cores` +
    `  load ${h.load.map((l) => l.toFixed(2)).join(' ')}` +
    `  mem ${((h.memTotalBytes - h.memFreeBytes) / GB).toFixed(1)}/${(h.memTotalBytes / GB).toFixed(1)} GB used` +
    proc('supervisor', h.supervisor) +
    proc('tmux', h.tmux)
  );
}

function runsLine(runs: readonly TopRun[]): string {
  if (runs.length === 0) return 'runs: none live';
  const one = (r: TopRun): string => {
    if (r.conflicts === 0) return `${r.id} no conflicts`;
    const parts = [
      r.worktreeOverlaps ? `${r.worktreeOverlaps} file(s) changed in two worktrees` : '',
      r.tasksWaitingOnFiles ? `${r.tasksWaitingOnFiles} task(s) waiting for files` : '',
    ].filter(Boolean);
    return `${r.id} ${r.conflicts} conflict${r.conflicts === 1 ? '' : 's'} (${parts.join(', ')})`;
  };
  return `runs: ${runs.map(one).join('   ')}`;
}

/**
 * One frame of `tmux-claude top`: a host line, a line of conflicts per live run, and the instance tree as a
 * table. With `columns`, lines are cut to the terminal's width; with `rows`, the table is cut to fit its height.
 */
export function renderTop(snap: TopSnapshot, opts: { columns?: number; rows?: number } = {}): string {
  const time = new Date(snap.ts).toTimeString().slice(0, 8);
  const header = ['INSTANCE', 'STATE', 'TASK', 'PROG', 'CPU%', 'RSS MB', 'UNREAD'];
  // Several hosts: each instance's host after its id (CPU and RSS are sampled by this host only).
  const where = new Set(snap.instances.map((i) => i.host)).size > 1;
  const rows = treeLines(snap.instances).map(({ instance: i, prefix }) => [
    prefix + i.id + (where ? `@${i.host}` : ''),
    stateText(i),
    i.task ? clip(`${i.task.id} ${i.task.title}`, 36) : '-',
    i.progressPercent === null ? '-' : `${i.progressPercent}%`,
    percent(i.cpuPercent),
    i.rssBytes === null ? '-' : (i.rssBytes / MiB).toFixed(0),
    i.unread ? String(i.unread) : '-',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const numeric = new Set([3, 4, 5, 6]);
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  let body = rows.map(line);
  const head = [`tmux-claude top  ${time}`, hostLine(snap.host), runsLine(snap.runs), '', line(header)];
  if (rows.length === 0) body = ['no instances (use `tmux-claude run` or `tmux-claude demo`)'];
  if (opts.rows !== undefined && head.length + body.length > opts.rows) {
    const room = Math.max(opts.rows - head.length - 1, 0);
    body = [...body.slice(0, room), `… ${body.length - room} more`];
  }
  const lines = [...head, ...body];
  return (opts.columns ? lines.map((l) => clip(l, opts.columns!)) : lines).join('\n');
}

/** A header and rows as columns two spaces apart, every cell left-aligned. */
function leftAligned(header: readonly string[], body: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

/** A host as GET /api/hosts returns it. */
export interface HostRow {
  id: string;
  state: 'up' | 'down' | 'lost';
  url: string;
  pid: number;
  capacity: number;
  live: number;
  self: boolean;
  silentMs: number;
  lostBy: string | null;
}

/** The hosts as a table: this one marked `*`, a lost one with who declared it so. */
export function renderHosts(rows: readonly HostRow[]): string {
  if (rows.length === 0) return 'no hosts registered';
  const header = ['HOST', 'STATE', 'LAST SEEN', 'LIVE', 'CAPACITY', 'PID', 'URL'];
  const body = rows.map((h) => [
    `${h.self ? '*' : ' '}${h.id}`,
    h.state === 'lost' && h.lostBy ? `lost (by ${h.lostBy})` : h.state,
    `${(h.silentMs / 1000).toFixed(1)} s ago`,
    String(h.live),
    String(h.capacity),
    String(h.pid),
    h.url,
  ]);
  return leftAligned(header, body);
}

/** A budget as GET /api/budgets returns it (see the supervisor's BudgetView). */
export interface BudgetRow {
  root: string;
  runId: string;
  role: Role | null;
  name: string | null;
  rootState: InstanceState | null;
  state: 'active' | 'paused';
  pausedFor: string | null;
  limits: {
    maxInstances?: number;
    maxDepth?: number;
    maxMinutes?: number;
    maxTokens?: number;
    maxCost?: number;
  };
  used: { instances: number; depth: number; minutes: number; tokens: number; cost: number };
  reserved: { tokens: number; cost: number };
  startedAt: number;
}

/** Budgets as a table: one row per subtree, `used/max` per resource (`-` for no limit). */
export function renderBudgets(rows: readonly BudgetRow[]): string {
  const n = (v: number): string => Math.round(v).toLocaleString('en-US');
  const of = (used: string, max: number | undefined, show: (v: number) => string): string =>
    max === undefined ? used : `${used}/${show(max)}`;
  const header = ['ROOT', 'ROLE', 'STATE', 'INSTANCES', 'DEPTH', 'MINUTES', 'TOKENS', 'COST'];
  const body = rows.map((r) => [
    r.root,
    r.role ?? '-',
    r.state === 'paused'
      ? `paused (${r.pausedFor ?? '?'})`
      : r.rootState === 'terminated'
        ? 'ended'
        : 'active',
    of(String(r.used.instances), r.limits.maxInstances, String),
    of(String(r.used.depth), r.limits.maxDepth, String),
    of(r.used.minutes.toFixed(1), r.limits.maxMinutes, String),
    of(n(r.used.tokens), r.limits.maxTokens, n),
    of(`$${r.used.cost.toFixed(2)}`, r.limits.maxCost, (v) => `$${v.toFixed(2)}`),
  ]);
  return leftAligned(header, body);
}
