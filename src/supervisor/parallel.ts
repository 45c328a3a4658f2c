import type { Coordinator } from '../coordinator/index.js';
import { tasksChanged } from '../coordinator/index.js';
import {
  LIVE_STATES,
  TmuxClaudeError,
  globsOverlap,
  isLive,
  newInstanceId,
  type Logger,
  type Signals,
  type Instance,
  type Task,
} from '../core/index.js';
import type { Store } from '../store/index.js';

/** What execute_parallel left to run for one manager: its tasks (with names) and how many at once. */
interface Batch {
  runId: string;
  maxActive: number;
  tasks: Array<{ id: string; name: string }>;
}

export interface ParallelDeps {
  store: Store;
  coordinator: Coordinator;
  signals: Signals;
  log: Logger;
  /** Starts a specialist under `managerId` for a task, with the given id; resolves once it is ready. */
  spawnSpecialist: (req: {
    managerId: string;
    id: string;
    name: string;
    task: Task;
    prompt: string;
  }) => Promise<void>;
  /** Tells the task's creator that a specialist could not be started for it (it will be retried). */
  reportStartFailure: (task: Task, error: string) => Promise<void>;
  /** Whether this supervisor runs the manager (each batch is scheduled by its manager's host). */
  owns: (manager: Instance) => boolean;
  /** How many more instances the budgets over the manager let it start now (Infinity: no budget; 0: paused). */
  capacity?: (managerId: string, runId: string) => Promise<number>;
}

const META_PREFIX = 'parallel:';
/** Spawn failures of one task before the scheduler stops retrying it (the manager is told each time). */
const MAX_SPAWN_FAILURES = 2;

/** The first prompt of a specialist started for a task; the `Task id:` line is machine-read. */
export function specialistTaskPrompt(task: Task): string {
  return [
    `Task id: ${task.id}`,
    `Title: ${task.title}`,
    `Files reserved for you: ${task.files.length ? task.files.join(', ') : 'none declared'}`,
    `Start with claim_task(task_id: "${task.id}") and finish with complete_task(task_id, epoch, result).`,
    '',
    task.description,
  ].join('\n');
}

/**
 * Runs execute_parallel batches: one loop per manager that, whenever the run's tasks change, starts a
 * specialist for each task that may start — ready, its dependencies done and merged (so its worktree starts
 * from their work), its files clear of every task claimed or done-but-unmerged — while fewer than max_active
 * of the manager's tasks are in flight. A task whose specialist died is started again with a new one. The
 * batch is kept in the store, so a restarted supervisor resumes it.
 */
export class ParallelScheduler {
  private readonly loops = new Map<string, Promise<void>>();
  /** Tasks whose specialist is being spawned (not yet in the store as live). */
  private readonly starting = new Set<string>();
  private readonly spawnFailures = new Map<string, number>();
  private stopped = false;

  constructor(private readonly deps: ParallelDeps) {}

  /** Adds tasks to a manager's batch and makes sure its loop runs. */
  async add(managerId: string, runId: string, tasks: Array<{ id: string; name: string }>, maxActive: number) {
    const batch = (await this.load(managerId)) ?? { runId, maxActive, tasks: [] };
    batch.maxActive = maxActive;
    batch.tasks.push(...tasks);
    await this.deps.store.meta.set(META_PREFIX + managerId, JSON.stringify(batch));
    this.ensureLoop(managerId);
  }

  /** The name execute_parallel gave a task, if it came from a batch of this manager. */
  async nameOf(managerId: string, taskId: string): Promise<string | null> {
    return (await this.load(managerId))?.tasks.find((t) => t.id === taskId)?.name ?? null;
  }

  /** After a supervisor restart: resumes the loops of live managers with unfinished batches. */
  async resume(): Promise<void> {
    for (const m of await this.deps.store.instances.list({
      states: LIVE_STATES,
    })) {
      if (m.role !== 'specialist' && this.deps.owns(m) && (await this.load(m.id))) this.ensureLoop(m.id);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private async load(managerId: string): Promise<Batch | null> {
    const raw = await this.deps.store.meta.get(META_PREFIX + managerId);
    return raw ? (JSON.parse(raw) as Batch) : null;
  }

  private ensureLoop(managerId: string): void {
    if (this.loops.has(managerId)) return;
    const loop = this.run(managerId)
      .catch((err: unknown) => this.deps.log.warn({ err, manager: managerId }, 'parallel scheduler stopped'))
      .finally(() => this.loops.delete(managerId));
    this.loops.set(managerId, loop);
  }

  private async run(managerId: string): Promise<void> {
    while (!this.stopped) {
      const batch = await this.load(managerId);
      if (!batch) return;
      const key = tasksChanged(batch.runId);
      const version = this.deps.signals.version(key);
      if (!(await this.pump(managerId, batch))) return;
      await this.deps.signals.waitSince(key, version, 30_000);
    }
  }

  /** One scheduling pass; false when the batch is over (all merged or failed, or the manager terminated). */
  private async pump(managerId: string, batch: Batch): Promise<boolean> {
    const { store } = this.deps;
    const manager = await store.instances.get(managerId);
    // Terminated, or re-homed on another host (whose scheduler took the batch over).
    if (!manager || manager.state === 'terminated' || !this.deps.owns(manager)) return false;
    // A dead manager is usually restarted (e.g. after the tmux server was killed): its batch waits for it.
    if (!isLive(manager.state)) return true;
    const tasks = await store.tasks.list({ ids: batch.tasks.map((t) => t.id) });
    if (tasks.every((t) => (t.state === 'done' && t.mergedAt !== null) || t.state === 'failed')) return false;

    const children = await store.instances.list({ parentId: managerId });
    const live = new Set(children.filter((c) => isLive(c.state)).map((c) => c.id));
    const inFlight = (t: Task): boolean =>
      this.starting.has(t.id) ||
      (t.state === 'claimed' && t.owner !== null && live.has(t.owner)) ||
      (t.state === 'ready' && t.assignee !== null && live.has(t.assignee));
    let active = tasks.filter(inFlight).length;
    if (active >= batch.maxActive) return true;
    // Budgets count every live instance below them at the moment of each start (specialists being started too).
    let room = (await this.deps.capacity?.(managerId, batch.runId)) ?? Infinity;
    if (room <= 0) return true;

    // Files in use anywhere in the run: claimed, or done but not merged yet (a new worktree would lack them).
    const runTasks = await store.tasks.list({ runId: batch.runId, states: ['claimed', 'done'] });
    const busy = [
      ...runTasks.filter((t) => t.state === 'claimed' || t.mergedAt === null),
      ...tasks.filter(inFlight),
    ].flatMap((t) => t.files);
    const byId = new Map(runTasks.map((t) => [t.id, t]));
    const depsMerged = async (t: Task): Promise<boolean> => {
      for (const d of t.dependsOn) {
        const dep = byId.get(d) ?? (await store.tasks.get(d));
        if (!dep || dep.state !== 'done' || dep.mergedAt === null) return false;
      }
      return true;
    };
    const candidates = tasks
      .filter((t) => t.state === 'ready' && !inFlight(t))
      .filter((t) => (this.spawnFailures.get(t.id) ?? 0) < MAX_SPAWN_FAILURES)
      .sort((a, b) => b.priority - a.priority || a.createdAt - b.createdAt);
    for (const task of candidates) {
      if (active >= batch.maxActive || room <= 0) break;
      if (!(await depsMerged(task))) continue;
      if (task.files.some((f) => busy.some((b) => globsOverlap(f, b)))) continue;
      busy.push(...task.files);
      active++;
      room--;
      const name = batch.tasks.find((t) => t.id === task.id)?.name ?? task.title;
      this.start(managerId, task, name);
    }
    return true;
  }

  /** Spawns a specialist for a task in the background; a failure unassigns it and tells the manager. */
  private start(managerId: string, task: Task, name: string): void {
    const id = newInstanceId('specialist');
    this.starting.add(task.id);
    const { coordinator, log } = this.deps;
    (async () => {
      // Assigned first, so nobody else claims the task between the spawn and the specialist's claim.
      const assigned = await coordinator.assign(task.id, id);
      await this.deps.spawnSpecialist({
        managerId,
        id,
        name,
        task: assigned,
        prompt: specialistTaskPrompt(assigned),
      });
    })()
      .catch(async (err: unknown) => {
        if (err instanceof TmuxClaudeError && err.details?.budget === true) {
          // Refused by a budget (e.g. a spawn of the manager's took the slot): not a failure of the task; it
          // waits for the next free slot.
          log.info({ task: task.id, reason: err.message }, 'specialist start deferred by a budget');
          await coordinator.assign(task.id, null).catch(() => undefined);
          return;
        }
        const failures = (this.spawnFailures.get(task.id) ?? 0) + 1;
        this.spawnFailures.set(task.id, failures);
        const message = err instanceof Error ? err.message : String(err);
        log.warn({ err, task: task.id, failures }, 'could not start a specialist for a task');
        await coordinator.assign(task.id, null).catch(() => undefined);
        if (failures >= MAX_SPAWN_FAILURES) {
          // Failed for good: the creator hears it from the coordinator (task.failed, state failed).
          const why = `no specialist could be started (${failures} attempts): ${message}`;
          await coordinator.abandon(task, why).catch((e: unknown) => log.warn({ err: e }, 'abandon failed'));
        } else {
          await this.deps.reportStartFailure(task, message).catch(() => undefined);
        }
      })
      .finally(() => {
        this.starting.delete(task.id);
        this.deps.signals.notify(tasksChanged(task.runId));
      });
  }
}
