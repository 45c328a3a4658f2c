import { TmuxClaudeError, notFound, type Instance } from '../core/index.js';
import type { Caller } from '../mcp/index.js';
import type { Store } from '../store/index.js';

/** True when `target` is `ancestorId` or lies below it. */
export async function isInSubtree(store: Store, ancestorId: string, target: Instance): Promise<boolean> {
  let current: Instance | null = target;
  for (let depth = 0; current && depth < 64; depth++) {
    if (current.id === ancestorId) return true;
    current = current.parentId ? await store.instances.get(current.parentId) : null;
  }
  return false;
}

/** Loads an instance the caller may act on (its subtree, excluding itself unless allowSelf). */
export async function loadInSubtree(
  store: Store,
  caller: Caller | null,
  id: string,
  opts: { allowSelf?: boolean } = {},
): Promise<Instance> {
  const target = await store.instances.get(id);
  if (!target) {
    throw notFound(
      'instance',
      id,
      caller ? 'call `list` to see the instances you can reach' : 'see `tmux-claude ls --all`',
    );
  }
  if (caller === null) return target; // the admin API (CLI, dashboard)
  if (target.id === caller.id && !opts.allowSelf) {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `${id} is yourself`);
  }
  if (!(await isInSubtree(store, caller.id, target))) {
    throw new TmuxClaudeError('FORBIDDEN', `${id} is not in your subtree`, {
      hint: 'you may act only on instances you spawned and their descendants',
    });
  }
  return target;
}

/** Every descendant of `rootId`, parents before children. */
export async function descendants(store: Store, rootId: string): Promise<Instance[]> {
  const out: Instance[] = [];
  const queue = [rootId];
  while (queue.length > 0) {
    const id = queue.shift()!;
    const children = await store.instances.list({ parentId: id });
    out.push(...children);
    queue.push(...children.map((c) => c.id));
  }
  return out;
}
