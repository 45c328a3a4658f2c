import type { ErrorCode } from '../core/index.js';
import type { InstanceView } from '../mcp/index.js';

/** Exit codes, decided in one place. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 2,
  NOT_FOUND: 4,
  FORBIDDEN: 2,
  UNAUTHORIZED: 2,
  CONFLICT: 5,
  MERGE_CONFLICT: 5,
  UNMERGED_WORK: 5,
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
