import { TmuxClaudeError, globsOverlap, normaliseRepoGlob } from '../core/index.js';

/** A task as a caller describes it (create_task, execute_parallel). */
export interface TaskSpec {
  /** Unique within one batch; lets other entries of the batch depend on it. Defaults to the title. */
  name?: string | undefined;
  title: string;
  description?: string | undefined;
  /** Names of entries of the same batch, or ids of existing tasks. */
  dependsOn?: readonly string[] | undefined;
  files?: readonly string[] | undefined;
  priority?: number | undefined;
}

/** A batch entry checked and resolved: files normalised, dependencies as ids or batch indices. */
export interface PlannedTask {
  name: string;
  title: string;
  description: string;
  files: string[];
  priority: number;
  /** Indices into the batch. */
  batchDeps: number[];
  /** Ids of existing tasks. */
  existingDeps: string[];
}

export const MAX_TITLE = 200;
export const MAX_DESCRIPTION = 100_000;
export const MAX_FILES_PER_TASK = 200;
export const MAX_BATCH = 1_000;

function invalid(message: string, hint?: string): TmuxClaudeError {
  return new TmuxClaudeError('INVALID_ARGUMENT', message, hint ? { hint } : {});
}

/**
 * Checks a batch of task specs and resolves names: sizes, unique names, files normalised (refusing paths that
 * leave the repo), dependencies on batch names or on ids that `isTaskId` accepts, and no cycle. Throws
 * INVALID_ARGUMENT naming the offending entry.
 */
export function planTasks(specs: readonly TaskSpec[], isTaskId: (ref: string) => boolean): PlannedTask[] {
  if (specs.length === 0) throw invalid('no tasks given');
  if (specs.length > MAX_BATCH) throw invalid(`at most ${MAX_BATCH} tasks at once (got ${specs.length})`);
  const names = new Map<string, number>();
  const planned = specs.map((s, i): PlannedTask => {
    const title = s.title.trim();
    if (title === '' || title.includes('\n') || title.length > MAX_TITLE) {
      throw invalid(`task ${i + 1}: the title must be one line of 1–${MAX_TITLE} characters`);
    }
    const name = (s.name ?? title).trim();
    if (name === '') throw invalid(`task ${i + 1}: empty name`);
    if (names.has(name))
      throw invalid(`two tasks are named ${JSON.stringify(name)}`, 'give each a unique name');
    names.set(name, i);
    const description = s.description ?? '';
    if (description.length > MAX_DESCRIPTION) {
      throw invalid(`task ${JSON.stringify(name)}: the description exceeds ${MAX_DESCRIPTION} characters`);
    }
    const files = [...new Set((s.files ?? []).map(normaliseRepoGlob))];
    if (files.length > MAX_FILES_PER_TASK) {
      throw invalid(`task ${JSON.stringify(name)}: more than ${MAX_FILES_PER_TASK} file patterns`);
    }
    const priority = s.priority ?? 0;
    if (!Number.isFinite(priority)) throw invalid(`task ${JSON.stringify(name)}: priority must be a number`);
    return { name, title, description, files, priority, batchDeps: [], existingDeps: [] };
  });
  specs.forEach((s, i) => {
    const task = planned[i]!;
    for (const ref of new Set(s.dependsOn ?? [])) {
      const local = names.get(ref);
      if (local === i) throw invalid(`task ${JSON.stringify(task.name)} depends on itself`);
      if (local !== undefined) task.batchDeps.push(local);
      else if (isTaskId(ref)) task.existingDeps.push(ref);
      else {
        throw new TmuxClaudeError(
          'NOT_FOUND',
          `task ${JSON.stringify(task.name)} depends on ${JSON.stringify(ref)}, which is neither a task of ` +
            'this batch nor an existing task id',
        );
      }
    }
  });
  const cycle = findCycle(planned.map((t) => t.batchDeps));
  if (cycle) {
    throw invalid(
      `dependency cycle: ${[...cycle, cycle[0]!].map((i) => planned[i]!.name).join(' → ')}`,
      'remove one of these dependencies',
    );
  }
  return planned;
}

/** A cycle in a graph given as adjacency lists (node indices), or null. */
export function findCycle(edges: readonly (readonly number[])[]): number[] | null {
  const state = new Array<0 | 1 | 2>(edges.length).fill(0);
  const stack: number[] = [];
  const visit = (n: number): number[] | null => {
    state[n] = 1;
    stack.push(n);
    for (const m of edges[n] ?? []) {
      if (state[m] === 1) return stack.slice(stack.indexOf(m));
      if (state[m] === 0) {
        const found = visit(m);
        if (found) return found;
      }
    }
    stack.pop();
    state[n] = 2;
    return null;
  };
  for (let n = 0; n < edges.length; n++) {
    if (state[n] === 0) {
      const found = visit(n);
      if (found) return found;
    }
  }
  return null;
}

/** For each entry, every entry it depends on directly or transitively. */
function reachability(planned: readonly PlannedTask[]): Set<number>[] {
  const reach = planned.map(() => new Set<number>());
  const visit = (i: number, seen: Set<number>): void => {
    for (const d of planned[i]!.batchDeps) {
      if (!seen.has(d)) {
        seen.add(d);
        visit(d, seen);
      }
    }
  };
  planned.forEach((_, i) => visit(i, reach[i]!));
  return reach;
}

/** An overlap between two batch entries that could run at the same time. */
export interface PlanOverlap {
  a: string;
  b: string;
  files: [string, string];
}

/**
 * Pairs of batch entries that could run at the same time (neither depends on the other, directly or not)
 * and whose file sets overlap: a plan execute_parallel refuses, since their reservations would collide.
 */
export function concurrentOverlaps(planned: readonly PlannedTask[]): PlanOverlap[] {
  const reach = reachability(planned);
  const out: PlanOverlap[] = [];
  for (let i = 0; i < planned.length; i++) {
    for (let j = i + 1; j < planned.length; j++) {
      if (reach[i]!.has(j) || reach[j]!.has(i)) continue;
      const hit = firstOverlap(planned[i]!.files, planned[j]!.files);
      if (hit) out.push({ a: planned[i]!.name, b: planned[j]!.name, files: hit });
    }
  }
  return out;
}

/**
 * Orders overlapping entries instead of refusing them: each later entry of an unordered overlapping pair
 * comes to depend on the earlier one (in the order given), so they run one after the other, each starting
 * from the other's merged work. Mutates `planned`; returns how many dependencies it added.
 */
export function serializeOverlaps(planned: PlannedTask[]): number {
  let added = 0;
  let reach: Set<number>[] | null = null;
  for (let j = 0; j < planned.length; j++) {
    for (let i = 0; i < j; i++) {
      if (!firstOverlap(planned[i]!.files, planned[j]!.files)) continue;
      // Recomputed after each added edge: it may already order a later pair.
      reach ??= reachability(planned);
      if (reach[i]!.has(j) || reach[j]!.has(i)) continue;
      planned[j]!.batchDeps.push(i);
      reach = null;
      added++;
    }
  }
  return added;
}

function firstOverlap(a: readonly string[], b: readonly string[]): [string, string] | null {
  for (const x of a) for (const y of b) if (globsOverlap(x, y)) return [x, y];
  return null;
}
