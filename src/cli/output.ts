import type { ErrorCode } from '../core/index.js';
import type { InstanceView, TaskView } from '../mcp/index.js';

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

/** The hierarchy as an indented tree, roots first, children in spawn order. */
export function renderTree(instances: readonly InstanceView[]): string {
  const ids = new Set(instances.map((i) => i.id));
  const children = new Map<string | null, InstanceView[]>();
  for (const i of instances) {
    const parent = i.parentId && ids.has(i.parentId) ? i.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), i]);
  }
  const lines: string[] = [];
  const walk = (parent: string | null, prefix: string): void => {
    const list = children.get(parent) ?? [];
    list.forEach((i, n) => {
      const last = n === list.length - 1;
      const branch = parent === null ? '' : last ? '└─ ' : '├─ ';
      const unread = i.pendingMessages ? `  ✉ ${i.pendingMessages}` : '';
      const progress =
        i.progress && i.state !== 'terminated'
          ? `  ${i.progress.percent ?? '?'}%${i.progress.note ? ` ${i.progress.note.slice(0, 40)}` : ''}`
          : '';
      const err = i.error && (i.state === 'dead' || i.state === 'blocked') ? `  (${i.error})` : '';
      lines.push(
        `${prefix}${branch}${i.id}  ${i.role}  ${i.state}  ${i.branch ?? '-'}${progress}${unread}${err}`,
      );
      walk(i.id, parent === null ? prefix : prefix + (last ? '   ' : '│  '));
    });
  };
  walk(null, '');
  return lines.join('\n');
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
