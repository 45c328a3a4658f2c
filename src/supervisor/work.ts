import {
  concurrentOverlaps,
  serializeOverlaps,
  type Coordinator,
  type TaskNotice,
} from '../coordinator/index.js';
import {
  TmuxClaudeError,
  globMatches,
  globsOverlap,
  isLive,
  type Config,
  type Instance,
  type ReservationMode,
  type Run,
  type Task,
  type TaskState,
} from '../core/index.js';
import type { Git } from '../git/index.js';
import type {
  Caller,
  ConflictReport,
  Coordination,
  ParallelRequest,
  ParallelResult,
  TaskInput,
} from '../mcp/index.js';
import type { Store } from '../store/index.js';
import type { ParallelScheduler } from './parallel.js';

export interface WorkDeps {
  config: Config;
  store: Store;
  git: Git;
  coordinator: Coordinator;
  scheduler: ParallelScheduler;
}

/**
 * The work coordinator as agents reach it through MCP: who may do what (by role and run), the git side of
 * conflicts (files changed in live worktrees), and merge order. The coordinator holds the task logic.
 */
export class Work implements Coordination {
  constructor(private readonly deps: WorkDeps) {}

  private get coordinator(): Coordinator {
    return this.deps.coordinator;
  }

  async createTask(caller: Caller, task: TaskInput): Promise<Task> {
    forbidSpecialist(caller, 'create tasks');
    const [created] = await this.coordinator.createTasks(caller, caller.runId, [task]);
    return created!;
  }

  async listTasks(
    caller: Caller,
    filter: { states?: readonly TaskState[] | undefined; owner?: string | undefined; limit: number },
  ): Promise<{ tasks: Task[]; more: boolean }> {
    const tasks = await this.coordinator.listTasks({
      runId: caller.runId,
      states: filter.states,
      owner: filter.owner,
    });
    return { tasks: tasks.slice(0, filter.limit), more: tasks.length > filter.limit };
  }

  claimTask(caller: Caller, opts: { taskId?: string | undefined; waitMs?: number | undefined }) {
    return this.coordinator.claim(caller, opts);
  }

  heartbeat(caller: Caller) {
    return this.coordinator.heartbeat(caller.id);
  }

  completeTask(caller: Caller, taskId: string, epoch: number, result: string | null) {
    return this.coordinator.complete(caller, taskId, epoch, result);
  }

  failTask(caller: Caller, taskId: string, epoch: number, error: string, retry: boolean) {
    return this.coordinator.fail(caller, taskId, epoch, error, retry);
  }

  reserveFiles(caller: Caller, patterns: readonly string[], mode: ReservationMode, ttlMs?: number) {
    return this.coordinator.reserve(caller, patterns, mode, ttlMs);
  }

  releaseFiles(caller: Caller, patterns?: readonly string[]) {
    return this.coordinator.release(caller, patterns);
  }

  async checkConflicts(caller: Pick<Caller, 'runId'>): Promise<ConflictReport> {
    const { store } = this.deps;
    const run = await mustGetRun(store, caller.runId);
    const reservationOverlaps = await this.coordinator.reservationOverlaps(run.id);
    const instances = await store.instances.list({ runId: run.id });
    const byId = new Map(instances.map((i) => [i.id, i]));
    const changedBy = new Map<string, Instance[]>();
    for (const inst of instances) {
      if (!isLive(inst.state) || !inst.worktree || !inst.branch) continue;
      const base = (inst.parentId && byId.get(inst.parentId)?.branch) || run.targetBranch;
      const files = await this.changedInWorktree(run.repo, inst, base);
      for (const f of files) changedBy.set(f, [...(changedBy.get(f) ?? []), inst]);
    }
    const worktreeOverlaps = [...changedBy]
      .filter(([, who]) => who.length > 1)
      .map(([path, who]) => ({
        path,
        instances: who.map((i) => ({ id: i.id, branch: i.branch, taskId: i.taskId })),
      }))
      .sort((a, b) => a.path.localeCompare(b.path));
    const ready = await this.coordinator.listTasks({ runId: run.id, states: ['ready'] });
    const reservations = await this.coordinator.listReservations({ runId: run.id });
    const tasksWaitingOnFiles = ready
      .filter((t) =>
        reservations.some((r) => r.holder !== t.assignee && t.files.some((f) => globsOverlap(f, r.pattern))),
      )
      .map((t) => t.id);
    return { reservationOverlaps, worktreeOverlaps, tasksWaitingOnFiles };
  }

  async executeParallel(caller: Caller, req: ParallelRequest): Promise<ParallelResult> {
    forbidSpecialist(caller, 'run tasks in parallel');
    const maxActive = req.maxActive ?? this.deps.config.maxActiveDefault;
    let added = 0;
    const created = await this.coordinator.createTasks(caller, caller.runId, req.tasks, {
      transform: (planned) => {
        if (req.serializeOverlaps) added = serializeOverlaps(planned);
        const overlaps = concurrentOverlaps(planned);
        if (overlaps.length > 0) {
          const shown = overlaps
            .slice(0, 5)
            .map((o) => `${o.a} (${o.files[0]}) and ${o.b} (${o.files[1]})`)
            .join('; ');
          throw new TmuxClaudeError(
            'CONFLICT',
            `tasks that could run at the same time have overlapping files: ${shown}` +
              (overlaps.length > 5 ? ` and ${overlaps.length - 5} more` : ''),
            {
              hint: 'make one depend on the other (depends_on), split the files, or pass serialize_overlaps: true',
              details: { overlaps },
            },
          );
        }
      },
    });
    const named = created.map((t, i) => ({ id: t.id, name: req.tasks[i]?.name ?? t.title }));
    await this.deps.scheduler.add(caller.id, caller.runId, named, maxActive);
    const nameOf = new Map(named.map((n) => [n.id, n.name]));
    return {
      tasks: created.map((t) => ({
        name: nameOf.get(t.id)!,
        taskId: t.id,
        state: t.state,
        dependsOn: t.dependsOn.map((d) => nameOf.get(d) ?? d),
      })),
      maxActive,
      addedDependencies: added,
    };
  }

  /**
   * The done tasks whose work is on `branch`, after checking merge order: each dependency of theirs must be
   * merged already. Throws CONFLICT naming the ones that are not.
   */
  async tasksToMerge(runId: string, branch: string): Promise<Task[]> {
    const done = await this.coordinator.listTasks({ runId, states: ['done'] });
    const tasks = done.filter((t) => t.branch === branch);
    const pending: string[] = [];
    for (const t of tasks) {
      for (const d of t.dependsOn) {
        const dep = await this.deps.store.tasks.get(d);
        if (dep && dep.mergedAt === null && !tasks.some((x) => x.id === d)) {
          pending.push(`${d} (${dep.state}${dep.owner ? `, ${dep.owner}` : ''})`);
        }
      }
    }
    if (pending.length > 0) {
      throw new TmuxClaudeError(
        'CONFLICT',
        `merge in dependency order: ${branch} has work that depends on unmerged tasks ${pending.join(', ')}`,
        { hint: 'merge those first (merge_branch their specialists), then this one' },
      );
    }
    return tasks;
  }

  /** Who else touched conflicting files: task owners whose file sets match, and current reservation holders. */
  async ownersOf(runId: string, files: readonly string[]): Promise<Record<string, string[]>> {
    const tasks = await this.coordinator.listTasks({ runId, states: ['claimed', 'done'] });
    const reservations = await this.coordinator.listReservations({ runId });
    const owners: Record<string, string[]> = {};
    for (const f of files) {
      const who = new Set<string>();
      for (const t of tasks) {
        if (t.owner && t.files.some((p) => globMatches(p, f))) who.add(`${t.owner} (task ${t.id})`);
      }
      for (const r of reservations) if (globMatches(r.pattern, f)) who.add(r.holder);
      owners[f] = [...who];
    }
    return owners;
  }

  /** The supervisor's message body telling a task's creator what happened. */
  async noticeBody(notice: TaskNotice): Promise<{ to: string; subject: string; body: string } | null> {
    const { task } = notice;
    const creator = await this.deps.store.instances.get(task.createdBy);
    if (!creator || !isLive(creator.state)) return null;
    const name = (await this.deps.scheduler.nameOf(creator.id, task.id)) ?? task.title;
    const body =
      notice.kind === 'task.done'
        ? {
            task_id: task.id,
            name,
            title: task.title,
            instance: notice.instance,
            branch: task.branch,
            result: task.result,
            epoch: task.epoch,
          }
        : {
            task_id: task.id,
            name,
            title: task.title,
            instance: notice.instance,
            error: task.error,
            state: task.state,
          };
    return { to: creator.id, subject: notice.kind, body: JSON.stringify(body) };
  }

  private async changedInWorktree(repo: string, inst: Instance, base: string): Promise<string[]> {
    const { git } = this.deps;
    try {
      const [committed, uncommitted] = await Promise.all([
        git.changedFiles(repo, inst.branch!, base),
        git.uncommittedFiles(inst.worktree!),
      ]);
      return [...new Set([...committed, ...uncommitted])];
    } catch {
      // A worktree being created or removed right now has nothing to compare yet.
      return [];
    }
  }
}

function forbidSpecialist(caller: Caller, what: string): void {
  if (caller.role === 'specialist') {
    throw new TmuxClaudeError('FORBIDDEN', `a specialist may not ${what}`, {
      hint: 'ask your parent with send_message',
    });
  }
}

async function mustGetRun(store: Store, id: string): Promise<Run> {
  const run = await store.runs.get(id);
  if (!run) throw new TmuxClaudeError('NOT_FOUND', `run ${id} not found`);
  return run;
}
