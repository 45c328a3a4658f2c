import {
  TmuxClaudeError,
  globsOverlap,
  newTaskId,
  normaliseRepoGlob,
  type EventInput,
  type Instance,
  type Logger,
  type Reservation,
  type ReservationMode,
  type Signals,
  type Task,
  type TaskState,
} from '../core/index.js';
import type { FenceRefusal, Released, Store, TaskFilter } from '../store/index.js';
import { planTasks, type PlannedTask, type TaskSpec } from './plan.js';

/** Who acts: resolved from a bearer token by the server (the MCP Caller has this shape). */
export type Actor = Pick<Instance, 'id' | 'role' | 'runId' | 'parentId' | 'branch'>;

/** What happened to a task that its creator hears about. */
export interface TaskNotice {
  kind: 'task.done' | 'task.failed';
  task: Task;
  /** The instance that held it. */
  instance: string | null;
}

export interface CoordinatorDeps {
  store: Store;
  signals: Signals;
  emit: (event: EventInput) => Promise<void>;
  /** Tells a task's creator that it finished or was lost (the supervisor sends it over the bus). */
  notify: (notice: TaskNotice) => Promise<void>;
  log: Logger;
  leaseTtlMs: number;
  maxAttempts: number;
}

export interface ClaimResult {
  task: Task;
  reservations: Reservation[];
}

/** An overlap between two holders' live reservations (only shared/shared can coexist). */
export interface ReservationOverlap {
  a: Reservation;
  b: Reservation;
}

const MAX_RESULT = 10_000;
const MAX_ERROR = 10_000;
const MAX_WAIT_MS = 300_000;

/** The signal key a run's task changes are announced on (claimable work may have appeared). */
export function tasksChanged(runId: string): string {
  return `tasks:${runId}`;
}

/**
 * The work coordinator: the task graph, fenced task leases and file reservations, on top of the store.
 * Every decision that must be atomic is one store call; this class checks input, enforces who may do what,
 * records events, tells creators about outcomes, wakes waiters and expires lapsed leases on a timer set to
 * the next expiry (no polling).
 */
export class Coordinator {
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryAt = Infinity;
  private closed = false;
  /** Last time the supervisor renewed an instance's leases for its activity (throttle). */
  private readonly touched = new Map<string, number>();

  constructor(private readonly deps: CoordinatorDeps) {}

  private get store(): Store {
    return this.deps.store;
  }

  get leaseTtlMs(): number {
    return this.deps.leaseTtlMs;
  }

  // ---- tasks ------------------------------------------------------------------------------------

  /** Creates a batch of tasks (checked by {@link planTasks}); dependencies on existing ids must be in the run. */
  async createTasks(
    actor: Actor | null,
    runId: string,
    specs: readonly TaskSpec[],
    opts: { assignees?: readonly (string | null)[]; transform?: (planned: PlannedTask[]) => void } = {},
  ): Promise<Task[]> {
    const planned = planTasks(specs, (ref) => /^t[a-z0-9]{5,}$/.test(ref));
    opts.transform?.(planned);
    const ids = planned.map(() => newTaskId());
    const now = Date.now();
    const created = await this.store.tasks.create(
      planned.map((p, i) => ({
        id: ids[i]!,
        runId,
        title: p.title,
        description: p.description,
        dependsOn: [...p.batchDeps.map((d) => ids[d]!), ...p.existingDeps],
        files: p.files,
        priority: p.priority,
        createdBy: actor?.id ?? 'user',
        assignee: opts.assignees?.[i] ?? null,
        maxAttempts: this.deps.maxAttempts,
        createdAt: now,
      })),
    );
    for (const t of created) {
      await this.deps.emit({
        kind: 'task.created',
        actor: actor?.id ?? 'user',
        instanceId: actor?.id ?? null,
        data: { taskId: t.id, title: t.title, dependsOn: t.dependsOn, files: t.files, state: t.state },
      });
    }
    this.deps.signals.notify(tasksChanged(runId));
    return created;
  }

  listTasks(filter: TaskFilter): Promise<Task[]> {
    return this.store.tasks.list(filter);
  }

  async getTask(id: string, runId?: string): Promise<Task> {
    const task = await this.store.tasks.get(id);
    if (!task || (runId !== undefined && task.runId !== runId)) {
      throw new TmuxClaudeError('NOT_FOUND', `task ${JSON.stringify(id)} not found`, {
        hint: 'list_tasks shows the tasks of your run',
      });
    }
    return task;
  }

  /**
   * Grants a lease on `taskId`, or on the best ready task the actor may take (tasks created by its parent or
   * itself). Without a task id and with `waitMs`, waits for one to become claimable; returns null when none
   * is (reason says why). A refused claim of a named task throws with the reason.
   */
  async claim(
    actor: Actor,
    opts: { taskId?: string | undefined; waitMs?: number | undefined },
  ): Promise<ClaimResult | { task: null; reason: string }> {
    const deadline = Date.now() + Math.min(opts.waitMs ?? 0, MAX_WAIT_MS);
    const key = tasksChanged(actor.runId);
    for (;;) {
      const version = this.deps.signals.version(key);
      const now = Date.now();
      const outcome = await this.store.tasks.claim({
        runId: actor.runId,
        claimant: actor.id,
        taskId: opts.taskId,
        creators: opts.taskId ? undefined : [actor.parentId, actor.id].filter((x): x is string => !!x),
        ttlMs: this.deps.leaseTtlMs,
        now,
      });
      if (outcome.granted) {
        const { task } = outcome;
        await this.deps.emit({
          kind: 'task.claimed',
          actor: actor.id,
          instanceId: actor.id,
          data: {
            taskId: task.id,
            epoch: task.epoch,
            attempt: task.attempts,
            leaseExpiresAt: task.leaseExpiresAt ?? 0,
          },
        });
        this.armExpiry(task.leaseExpiresAt);
        return { task, reservations: outcome.reservations };
      }
      const left = deadline - Date.now();
      if (opts.taskId !== undefined || left <= 0) {
        if (outcome.reason === 'none_ready') {
          return {
            task: null,
            reason:
              outcome.waitingOnFiles > 0
                ? `no task is claimable now: ${outcome.waitingOnFiles} ready task(s) wait for files others hold`
                : 'no ready task you may take',
          };
        }
        throw claimError(opts.taskId ?? '', outcome);
      }
      await this.deps.signals.waitSince(key, version, Math.min(left, this.deps.leaseTtlMs));
    }
  }

  /** Renews every live lease (tasks and reservations) of the actor. */
  async heartbeat(actorId: string): Promise<{ tasks: Task[]; reservations: number; expiresAt: number }> {
    const now = Date.now();
    const renewed = await this.store.tasks.renew(actorId, this.deps.leaseTtlMs, now);
    this.touched.set(actorId, now);
    return { ...renewed, expiresAt: now + this.deps.leaseTtlMs };
  }

  /**
   * The supervisor's renewal for an instance that shows activity (a hook, an MCP request): at most once per
   * tenth of the TTL, so a chatty agent costs one write per few seconds.
   */
  async touch(actorId: string): Promise<void> {
    const last = this.touched.get(actorId) ?? 0;
    if (Date.now() - last < this.deps.leaseTtlMs / 10) return;
    await this.heartbeat(actorId);
  }

  async complete(
    actor: Actor,
    taskId: string,
    epoch: number,
    result: string | null,
  ): Promise<{ task: Task; unblocked: Task[] }> {
    if (result !== null && result.length > MAX_RESULT) {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `result exceeds ${MAX_RESULT} characters`, {
        hint: 'put the details in a discovery or a commit; report a short summary here',
      });
    }
    const outcome = await this.store.tasks.complete(
      taskId,
      actor.id,
      epoch,
      { result, branch: actor.branch },
      Date.now(),
    );
    if (!outcome.ok) throw await this.refused(actor, taskId, 'complete', epoch, outcome);
    const { task, unblocked } = outcome;
    await this.deps.emit({
      kind: 'task.completed',
      actor: actor.id,
      instanceId: actor.id,
      data: { taskId, epoch, result, unblocked: unblocked.map((t) => t.id) },
    });
    this.touched.delete(actor.id);
    this.deps.signals.notify(tasksChanged(task.runId));
    await this.tell({ kind: 'task.done', task, instance: actor.id });
    return { task, unblocked };
  }

  async fail(actor: Actor, taskId: string, epoch: number, error: string, retry: boolean): Promise<Task> {
    const why = error.trim() || 'no reason given';
    if (why.length > MAX_ERROR) {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `error exceeds ${MAX_ERROR} characters`);
    }
    const outcome = await this.store.tasks.fail(taskId, actor.id, epoch, why, retry, Date.now());
    if (!outcome.ok) throw await this.refused(actor, taskId, 'fail', epoch, outcome);
    const { task } = outcome;
    await this.deps.emit({
      kind: 'task.failed',
      actor: actor.id,
      instanceId: actor.id,
      data: { taskId, epoch, error: why, state: task.state },
    });
    this.deps.signals.notify(tasksChanged(task.runId));
    await this.tell({ kind: 'task.failed', task, instance: actor.id });
    return task;
  }

  /**
   * Fails a task nobody holds, for good (e.g. no specialist could be started for it): the supervisor takes
   * the lease itself and fails it, so the change is fenced like any other and the creator is told.
   */
  async abandon(task: Task, reason: string): Promise<Task> {
    const supervisor: Actor = {
      id: 'supervisor',
      role: 'manager',
      runId: task.runId,
      parentId: null,
      branch: null,
    };
    const claim = await this.claim(supervisor, { taskId: task.id });
    if (!claim.task) throw new TmuxClaudeError('CONFLICT', `task ${task.id} could not be taken back`);
    return this.fail(supervisor, task.id, claim.task.epoch, reason, false);
  }

  /** Takes back a gone instance's leases (dead, terminated): its tasks become claimable again. */
  async releaseHolder(holderId: string, reason: string): Promise<Task[]> {
    this.touched.delete(holderId);
    const released = await this.store.tasks.releaseHolder(holderId, reason, Date.now());
    await this.afterRelease(released, reason, holderId);
    return released.tasks;
  }

  /** Returns lapsed leases to the pool (called on the expiry timer and by the periodic sweep). */
  async expireLeases(): Promise<Released> {
    const released = await this.store.tasks.expire(Date.now());
    await this.afterRelease(released, 'lease expired', null);
    return released;
  }

  /**
   * A user's reassignment: takes the task back from its holder (fenced: the holder's later completion is
   * refused) and reserves it for `to`, or for whoever claims it next when `to` is null. Done and failed tasks
   * are refused with CONFLICT.
   */
  async reassign(taskId: string, to: string | null, actorId: string): Promise<Task> {
    const task = await this.getTask(taskId);
    if (task.state === 'done' || task.state === 'failed') {
      throw new TmuxClaudeError(
        'CONFLICT',
        `task ${taskId} is ${task.state}; only open tasks can be reassigned`,
      );
    }
    const holder = task.state === 'claimed' ? task.owner : null;
    const reason = `reassigned by ${actorId}${to ? ` to ${to}` : ''}`;
    const released = await this.store.tasks.releaseTask(taskId, reason, Date.now());
    await this.afterRelease(released, reason, holder);
    return this.assign(taskId, to);
  }

  async assign(taskId: string, assignee: string | null): Promise<Task> {
    const task = await this.store.tasks.assign(taskId, assignee, Date.now());
    this.deps.signals.notify(tasksChanged(task.runId));
    return task;
  }

  /** Marks done tasks merged (their branch reached the integration branch); wakes dependants' schedulers. */
  async markMerged(actorId: string, tasks: readonly Task[]): Promise<void> {
    const changed = await this.store.tasks.markMerged(
      tasks.map((t) => t.id),
      Date.now(),
    );
    for (const t of changed) {
      await this.deps.emit({
        kind: 'task.merged',
        actor: actorId,
        instanceId: t.owner,
        data: { taskId: t.id, branch: t.branch ?? '' },
      });
    }
    const runs = new Set(changed.map((t) => t.runId));
    for (const r of runs) this.deps.signals.notify(tasksChanged(r));
  }

  // ---- file reservations ------------------------------------------------------------------------

  async reserve(
    actor: Actor,
    patterns: readonly string[],
    mode: ReservationMode,
    ttlMs?: number,
  ): Promise<Reservation[]> {
    if (patterns.length === 0) throw new TmuxClaudeError('INVALID_ARGUMENT', 'no file patterns given');
    const normalised = [...new Set(patterns.map(normaliseRepoGlob))];
    const now = Date.now();
    const outcome = await this.store.reservations.reserve({
      runId: actor.runId,
      holder: actor.id,
      patterns: normalised,
      mode,
      ttlMs: ttlMs ?? this.deps.leaseTtlMs,
      now,
    });
    if (!outcome.ok) {
      const holders = [...new Set(outcome.conflicts.map((c) => c.holder))];
      await this.deps.emit({
        kind: 'files.refused',
        actor: actor.id,
        instanceId: actor.id,
        data: { patterns: normalised, holders },
      });
      const lines = outcome.conflicts.map(
        (c) => `${c.pattern} (${c.mode}, held by ${c.holder}${c.taskId ? ` for task ${c.taskId}` : ''})`,
      );
      throw new TmuxClaudeError('CONFLICT', `files already reserved: ${lines.join('; ')}`, {
        hint: 'wait for those holders to finish (wait_for_messages on system.completed), or coordinate with them',
        details: { conflicts: outcome.conflicts },
      });
    }
    await this.deps.emit({
      kind: 'files.reserved',
      actor: actor.id,
      instanceId: actor.id,
      data: { patterns: normalised, mode, expiresAt: outcome.reservations[0]?.expiresAt ?? now },
    });
    this.armExpiry(outcome.reservations[0]?.expiresAt ?? null);
    return outcome.reservations;
  }

  async release(
    actor: Actor,
    patterns: readonly string[] | undefined,
  ): Promise<{ released: Reservation[]; notHeld: string[] }> {
    const normalised = patterns ? [...new Set(patterns.map(normaliseRepoGlob))] : undefined;
    const result = await this.store.reservations.release(actor.id, normalised);
    if (result.released.length > 0) {
      await this.deps.emit({
        kind: 'files.released',
        actor: actor.id,
        instanceId: actor.id,
        data: { patterns: result.released.map((r) => r.pattern), reason: 'released by holder' },
      });
      this.deps.signals.notify(tasksChanged(actor.runId));
    }
    return result;
  }

  listReservations(filter: { runId?: string; holder?: string }): Promise<Reservation[]> {
    return this.store.reservations.list({ ...filter, now: Date.now() });
  }

  /** Pairs of different holders' live reservations that overlap (possible only when both are shared). */
  async reservationOverlaps(runId: string): Promise<ReservationOverlap[]> {
    const live = await this.listReservations({ runId });
    const out: ReservationOverlap[] = [];
    for (let i = 0; i < live.length; i++) {
      for (let j = i + 1; j < live.length; j++) {
        const a = live[i]!;
        const b = live[j]!;
        if (a.holder !== b.holder && globsOverlap(a.pattern, b.pattern)) out.push({ a, b });
      }
    }
    return out;
  }

  /** Stops the expiry timer (supervisor shutdown). */
  close(): void {
    this.closed = true;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
  }

  /** Starts expiring leases that lapsed while no supervisor ran (call once at startup). */
  async start(): Promise<void> {
    await this.expireLeases();
    this.armExpiry(await this.store.tasks.nextExpiry());
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Sets the expiry timer to `at` if that is earlier than the one set. */
  private armExpiry(at: number | null): void {
    if (this.closed || at === null || at >= this.expiryAt) return;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryAt = at;
    this.expiryTimer = setTimeout(
      () => {
        this.expiryAt = Infinity;
        this.expiryTimer = undefined;
        this.expireLeases()
          .then(() => this.store.tasks.nextExpiry())
          .then((next) => this.armExpiry(next))
          .catch((err: unknown) => this.deps.log.warn({ err }, 'lease expiry failed'));
      },
      Math.max(0, at - Date.now() + 5),
    ).unref();
  }

  private async afterRelease(released: Released, reason: string, holder: string | null): Promise<void> {
    for (const task of released.tasks) {
      await this.deps.emit({
        kind: 'task.released',
        actor: 'supervisor',
        instanceId: holder ?? task.owner,
        data: { taskId: task.id, epoch: task.epoch, reason, state: task.state },
      });
      await this.tell({ kind: 'task.failed', task, instance: holder });
    }
    if (released.reservations.length > 0) {
      await this.deps.emit({
        kind: 'files.released',
        actor: 'supervisor',
        instanceId: holder,
        data: { patterns: released.reservations.map((r) => r.pattern), reason },
      });
    }
    const runs = new Set([...released.tasks, ...released.reservations].map((x) => x.runId));
    for (const r of runs) this.deps.signals.notify(tasksChanged(r));
  }

  private async tell(notice: TaskNotice): Promise<void> {
    await this.deps
      .notify(notice)
      .catch((err: unknown) => this.deps.log.warn({ err, task: notice.task.id }, 'task notice failed'));
  }

  private async refused(
    actor: Actor,
    taskId: string,
    action: 'complete' | 'fail',
    epoch: number,
    refusal: FenceRefusal,
  ): Promise<TmuxClaudeError> {
    if (refusal.reason === 'not_found') {
      return new TmuxClaudeError('NOT_FOUND', `task ${JSON.stringify(taskId)} not found`);
    }
    await this.deps.emit({
      kind: 'task.refused',
      actor: actor.id,
      instanceId: actor.id,
      data: { taskId, action, epoch, reason: refusal.reason },
    });
    const t = refusal.task;
    const why: Record<Exclude<FenceRefusal['reason'], 'not_found'>, string> = {
      stale_epoch: `your lease (epoch ${epoch}) is stale: the task is at epoch ${t.epoch}${t.owner && t.owner !== actor.id ? `, held by ${t.owner}` : ''}`,
      not_holder: `you do not hold it${t.owner ? ` (${t.owner} does)` : ''}`,
      expired: `your lease expired at ${new Date(t.leaseExpiresAt ?? 0).toISOString()}`,
      not_claimed: `it is ${t.state}, not claimed`,
    };
    return new TmuxClaudeError('STALE_LEASE', `cannot ${action} task ${taskId}: ${why[refusal.reason]}`, {
      hint:
        refusal.reason === 'not_claimed' && t.state === 'done'
          ? 'it is already done; nothing to do'
          : 'stop working on it: another instance owns it now (claim_task for new work; heartbeat keeps a lease)',
      details: { task: taskId, state: t.state as TaskState, epoch: t.epoch, owner: t.owner },
    });
  }
}

function claimError(
  taskId: string,
  outcome: { reason: string; task?: Task; conflicts?: Reservation[] },
): TmuxClaudeError {
  const t = outcome.task;
  switch (outcome.reason) {
    case 'not_found':
      return new TmuxClaudeError('NOT_FOUND', `task ${JSON.stringify(taskId)} not found`, {
        hint: 'list_tasks shows the tasks of your run',
      });
    case 'assigned':
      return new TmuxClaudeError(
        'FORBIDDEN',
        `task ${taskId} is assigned to ${t?.assignee ?? 'another instance'}`,
        {
          hint: 'claim_task without an id takes the best task you may take',
        },
      );
    case 'files_busy': {
      const holders = [...new Set((outcome.conflicts ?? []).map((c) => `${c.pattern} (${c.holder})`))];
      return new TmuxClaudeError(
        'CONFLICT',
        `task ${taskId} needs files others hold: ${holders.join(', ')}`,
        {
          hint: 'claim_task with wait_s waits until they are released',
          details: { conflicts: outcome.conflicts },
        },
      );
    }
    default: {
      const state = t?.state ?? 'unknown';
      const detail =
        state === 'blocked'
          ? `blocked on ${t?.dependsOn.join(', ')}`
          : state === 'claimed'
            ? `claimed by ${t?.owner} (epoch ${t?.epoch})`
            : state;
      return new TmuxClaudeError('CONFLICT', `task ${taskId} is not ready: ${detail}`, {
        hint: state === 'done' ? 'it is already done' : 'claim another task, or wait until it is ready',
        details: { state, owner: t?.owner ?? null, epoch: t?.epoch ?? null },
      });
    }
  }
}
