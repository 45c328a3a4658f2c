import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { adapterFor } from '../agents/index.js';
import { Bus, type Sender, type SystemTopic } from '../bus/index.js';
import { Coordinator, tasksChanged, type TaskNotice } from '../coordinator/index.js';
import { KnowledgeBase } from '../knowledge/index.js';
import {
  AGENT_KINDS,
  ROLES,
  LIVE_STATES,
  TmuxClaudeError,
  hashToken,
  instanceDir,
  isLive,
  managerBranch,
  newInstanceId,
  newRunId,
  newTaskId,
  newToken,
  recoveryPolicy,
  specialistBranch,
  type AgentKind,
  type BudgetLimits,
  type Config,
  type EventDataByKind,
  type EventInput,
  type Host,
  type Instance,
  type InstanceState,
  type Envelope,
  type Logger,
  type Paths,
  type Role,
  type ReservationMode,
  type Run,
  type Task,
  type TaskState,
  Signals,
} from '../core/index.js';
import type { Git } from '../git/index.js';
import type {
  Caller,
  InstanceView,
  MergeReport,
  MergeRequest,
  Orchestrator,
  SendMessageRequest,
  SendMessageResult,
  ProgressReport,
  SendResult,
  SpawnRequest,
  SpawnResult,
  TaskInput,
  ParallelRequest,
} from '../mcp/index.js';
import { formatMessages, messageIdsIn, rolePrompt } from '../prompts/index.js';
import type { HostRequest, Store } from '../store/index.js';
import type { SessionInfo, StyledScreen, TmuxDriver } from '../tmux/index.js';
import { descendants, loadInSubtree } from './access.js';
import { Budgets, parseLimits, type BudgetView } from './budgets.js';
import { parseBody } from './http-util.js';
import { HostRegistry } from './hosts.js';
import { RateLimits, limitReport } from './rate-limits.js';
import { ParallelScheduler } from './parallel.js';
import { Work } from './work.js';

export interface OrganisationDeps {
  config: Config;
  paths: Paths;
  store: Store;
  tmux: TmuxDriver;
  git: Git;
  log: Logger;
  /** Base URL agents use to reach the supervisor. */
  supervisorUrl: string;
}

export interface CreateRunRequest {
  goal: string;
  repo: string;
  /** Branch that receives the run's work; default `tmux-claude/<run-id>` from the repo's HEAD. */
  targetBranch?: string | undefined;
  agent?: AgentKind | undefined;
  agentEnv?: Record<string, string> | undefined;
  /** The run's budget (on its executive's subtree). */
  budget?: BudgetLimits | undefined;
}

export interface RunStatus {
  run: Run;
  instances: InstanceView[];
  pendingMessages: number;
  /** Tasks created or held by live instances that are ready or claimed: work still to move. */
  openTasks: number;
  /** Every live instance idle, nothing waiting for delivery, no open task: the run has nothing left in motion. */
  quiescent: boolean;
}

/** Payload fields of agent hooks we read (Claude Code names; the light runtime sends the same). */
export interface HookPayload {
  pid?: number;
  prompt?: string;
  error?: string;
  last_assistant_message?: string;
  stop_hook_active?: boolean;
  notification_type?: string;
  message?: string;
  tool_name?: string;
  tool_input?: unknown;
  /** Stop/StopFailure: Claude Code's transcript (its assistant lines carry `message.usage`). */
  transcript_path?: string;
  /** Stop/StopFailure of the light runtime: the token counts of its model calls since the last one. */
  usage?: Record<string, unknown>;
  /** StopFailure: the error text (Claude Code; `error` is then its type, e.g. rate_limit). */
  error_details?: string;
  /** StopFailure of the light runtime on a rate limit: when the API said it resets. */
  reset_at?: string | number;
  retry_after?: number;
}

const DELIVERY_CONFIRM_MS = 5_000;
/** Stuck spells the supervisor treats itself (nudge, interrupt, restart) before it tells the parent instead. */
const MAX_STUCK_SPELLS = 3;
/** Store meta key prefix of an instance's {@link RecoveryCounts}. */
const RECOVERY_META = 'recovery:';

/**
 * What the supervisor has done about one instance, kept in the store so that a restarted supervisor keeps
 * counting towards the caps. A successor starts from its predecessor's restarts (the cap covers the chain).
 */
interface RecoveryCounts {
  /** Automatic restarts in place or successors started after deaths. */
  restarts: number;
  /** Times the instance was found stuck. */
  stuckSpells: number;
}

/**
 * The organisation: spawns, stops and restarts instances, delivers messages, merges work, and keeps every
 * fact in the store. Implements the Orchestrator the MCP tools call; the admin API calls it with caller null.
 */
/** What to start: where it sits in the organisation, its first prompt, and optionally where it runs. */
interface LaunchRequest {
  run: Run;
  parent: Instance | null;
  role: Role;
  name: string;
  prompt?: string | undefined;
  agent?: AgentKind | undefined;
  taskId?: string | undefined;
  /** A pre-chosen id (the scheduler assigns the task to it before the spawn). */
  id?: string | undefined;
  /** The dead instance this one succeeds: its briefing names that attempt. */
  predecessor?: Instance | undefined;
  /** The child's own budget, carved out of the budgets over its parent. */
  budget?: BudgetLimits | undefined;
  /** The host to run on; placement picks one when absent. */
  host?: string | undefined;
}

/** A launch on its way to the host that runs it: the records it names travel as ids. */
const RemoteLaunch = z.object({
  runId: z.string(),
  parentId: z.string().nullable(),
  role: z.enum(ROLES as [Role, ...Role[]]),
  name: z.string(),
  prompt: z.string().nullable(),
  agent: z.enum(AGENT_KINDS as [AgentKind, ...AgentKind[]]),
  taskId: z.string().nullable(),
  id: z.string().min(1),
  predecessorId: z.string().nullable(),
  budget: z.unknown().nullable(),
});

function launchToWire(opts: LaunchRequest & { agent: AgentKind; id: string }): z.infer<typeof RemoteLaunch> {
  return {
    runId: opts.run.id,
    parentId: opts.parent?.id ?? null,
    role: opts.role,
    name: opts.name,
    prompt: opts.prompt ?? null,
    agent: opts.agent,
    taskId: opts.taskId ?? null,
    id: opts.id,
    predecessorId: opts.predecessor?.id ?? null,
    budget: opts.budget ?? null,
  };
}

export class Organisation implements Orchestrator {
  readonly signals = new Signals();
  readonly bus: Bus;
  readonly coordinator: Coordinator;
  readonly scheduler: ParallelScheduler;
  readonly knowledge: KnowledgeBase;
  readonly budgets: Budgets;
  readonly rateLimits: RateLimits;
  /** The hosts sharing the store: placement, and requests to the host that runs an instance. */
  readonly hosts: HostRegistry;
  private readonly work: Work;
  private readonly delivering = new Set<string>();
  private readonly recoveryTimers = new Set<NodeJS.Timeout>();
  /** Last sign of life per instance (hooks, MCP requests), for the stuck-agent ladder. */
  private readonly activity = new Map<string, number>();
  /** How far the stuck-agent ladder has gone per instance: 1 nudged, 2 interrupted, 3 left to the parent. */
  private readonly stuckStage = new Map<string, number>();
  /** Blocked or hung instances whose leases were taken back (once per spell). */
  private readonly workReleased = new Set<string>();
  private closing = false;
  private readonly inFlight = new Map<string, { ids: string[]; confirmed: boolean }>();
  /** What a starting instance has shown of being ready: its SessionStart hook, its first MCP request. */
  private readonly readiness = new Map<string, { hook: boolean; mcp: boolean }>();

  constructor(readonly deps: OrganisationDeps) {
    this.hosts = new HostRegistry({ store: deps.store, config: deps.config, log: deps.log });
    this.bus = new Bus({
      store: deps.store,
      signals: this.signals,
      emit: (e) => this.emit(e),
      log: deps.log,
      onMail: (recipient) => this.kickDelivery(recipient),
    });
    this.coordinator = new Coordinator({
      store: deps.store,
      signals: this.signals,
      emit: (e) => this.emit(e),
      notify: (n) => this.tellTaskOutcome(n),
      log: deps.log,
      leaseTtlMs: deps.config.leaseTtlMs,
      maxAttempts: deps.config.taskMaxAttempts,
    });
    this.scheduler = new ParallelScheduler({
      store: deps.store,
      coordinator: this.coordinator,
      signals: this.signals,
      log: deps.log,
      spawnSpecialist: async (req) => {
        const parent = await this.mustGet(req.managerId);
        // A specialist that died holding this task: the new one succeeds it.
        const predecessor = (await this.store.instances.list({ parentId: parent.id, states: ['dead'] }))
          .filter((i) => i.taskId === req.task.id)
          .at(-1);
        await this.launch({
          run: await this.mustGetRun(parent.runId),
          parent,
          role: 'specialist',
          name: req.name,
          prompt: req.prompt,
          taskId: req.task.id,
          id: req.id,
          predecessor,
        });
        if (predecessor) {
          // Its opening prompt named the same task, and the successor has just been given its own.
          const opening = (await this.store.messages.inbox(predecessor.id, ['delivered']))
            .filter((e) => e.message.subject === 'task' && e.message.from === parent.id)
            .map((e) => e.message.id);
          await this.succeed(predecessor, req.id, opening);
        }
      },
      // The task stays ready (it is retried); its creator hears why this attempt did not start.
      reportStartFailure: (task, error) =>
        this.tellTaskOutcome({ kind: 'task.failed', task: { ...task, error }, instance: null }),
      capacity: (managerId, runId) => this.budgets.capacity(managerId, runId),
      owns: (manager) => this.owns(manager),
    });
    this.budgets = new Budgets({
      store: deps.store,
      config: deps.config,
      log: deps.log,
      emit: (e) => this.emit(e),
      tell: (to, body, subject) => this.notifyFromSupervisor(to, body, subject),
      resumed: async (root, runId) => {
        for (const i of [root, ...(await descendants(this.store, root)).map((d) => d.id)])
          this.kickDelivery(i);
        this.signals.notify(tasksChanged(runId));
      },
    });
    this.rateLimits = new RateLimits({
      store: deps.store,
      config: deps.config,
      log: deps.log,
      emit: (e) => this.emit(e),
      renewLeases: (id) => this.coordinator.heartbeat(id),
      stateOf: async (id) => (await this.store.instances.get(id))?.state ?? null,
      resume: async (id, why) => {
        if (!(await this.transition(id, ['blocked'], 'idle', `resumed: ${why}`, { error: null })))
          return false;
        await this.notifyFromSupervisor(
          id,
          `The model API limit is over (${why}). Continue where you left off: your task leases were held for you.`,
          'resume',
        );
        this.kickDelivery(id);
        return true;
      },
    });
    this.knowledge = new KnowledgeBase({
      store: deps.store,
      git: {
        head: (repo, branch) => deps.git.resolve(repo, branch).catch(() => null),
        changedSince: (repo, since, ref, globs) => deps.git.changedSince(repo, since, ref, globs),
      },
      emit: (e) => this.emit(e),
      log: deps.log,
    });
    this.work = new Work({
      config: deps.config,
      store: deps.store,
      git: deps.git,
      coordinator: this.coordinator,
      scheduler: this.scheduler,
    });
  }

  private get store(): Store {
    return this.deps.store;
  }

  /**
   * Whether this supervisor runs the instance's tmux session. Instances recorded before hosts existed (no
   * host) belong to whichever supervisor runs on their store.
   */
  owns(inst: Instance): boolean {
    return inst.host === this.hosts.id || inst.host === '';
  }

  /** This host's instances in the given states. */
  private async ownInstances(states: readonly InstanceState[]): Promise<Instance[]> {
    return (await this.store.instances.list({ states })).filter((i) => this.owns(i));
  }

  /** Appends an audit event and wakes event followers. */
  async emit(event: EventInput): Promise<void> {
    await this.store.events.append(event);
    this.signals.notify('events');
  }

  // ---- runs -------------------------------------------------------------------------------------

  async createRun(req: CreateRunRequest): Promise<{ run: Run; executive: SpawnResult }> {
    const { git } = this.deps;
    const budget = req.budget === undefined ? undefined : parseLimits(req.budget, 'budget');
    const repo = await git.assertRepo(req.repo);
    const id = newRunId();
    const targetBranch = req.targetBranch ?? `tmux-claude/${id}`;
    if (!(await git.branchExists(repo, targetBranch))) {
      await git.createBranch(repo, targetBranch, 'HEAD');
    }
    const run: Run = {
      id,
      goal: req.goal,
      repo,
      targetBranch,
      agent: req.agent ?? 'lite',
      agentEnv: req.agentEnv ?? {},
      createdAt: Date.now(),
    };
    adapterFor(run.agent);
    await this.store.runs.create(run);
    await this.emit({
      kind: 'run.created',
      actor: 'user',
      instanceId: null,
      data: { runId: id, repo, targetBranch, goal: req.goal },
    });
    const executiveId = newInstanceId('executive');
    // Set before the executive starts: its first spawns are already counted.
    if (budget) await this.budgets.createForRun(executiveId, id, budget);
    const executive = await this.launch({
      run,
      parent: null,
      role: 'executive',
      name: 'executive',
      prompt: req.goal,
      id: executiveId,
      // Where the user started the run: `attach` to it works from this machine.
      host: this.hosts.id,
    });
    return { run, executive };
  }

  async runStatus(runId: string): Promise<RunStatus> {
    const run = await this.store.runs.get(runId);
    if (!run) throw new TmuxClaudeError('NOT_FOUND', `run ${runId} not found`);
    const instances = await this.store.instances.list({ runId });
    const live = instances.filter((i) => isLive(i.state));
    const pending = await this.store.messages.pendingCounts(live.map((i) => i.id));
    const pendingMessages = [...pending.values()].reduce((a, b) => a + b, 0);
    const views = await this.views(instances);
    // Work a live instance created or holds that can still move: ready (about to be started or claimed) or claimed.
    const liveIds = new Set(live.map((i) => i.id));
    const openTasks = (await this.store.tasks.list({ runId, states: ['ready', 'claimed'] })).filter(
      (t) => liveIds.has(t.createdBy) || (t.owner !== null && liveIds.has(t.owner)),
    ).length;
    const quiescent =
      instances.length > 0 &&
      live.every((i) => i.state === 'idle') &&
      pendingMessages === 0 &&
      openTasks === 0 &&
      live.every((i) => !this.delivering.has(i.id));
    return { run, instances: views, pendingMessages, openTasks, quiescent };
  }

  // ---- Orchestrator -----------------------------------------------------------------------------

  async spawn(caller: Caller, req: SpawnRequest): Promise<SpawnResult> {
    const allowed: Record<Role, readonly Role[]> = {
      executive: ['manager', 'specialist'],
      manager: ['specialist'],
      specialist: [],
    };
    if (!allowed[caller.role].includes(req.role)) {
      throw new TmuxClaudeError('FORBIDDEN', `a ${caller.role} may not spawn a ${req.role}`, {
        hint: caller.role === 'specialist' ? 'report to your parent with `send` instead' : undefined,
      });
    }
    const parent = await this.mustGet(caller.id);
    const run = await this.mustGetRun(parent.runId);
    return this.launch({
      run,
      parent,
      role: req.role,
      name: req.name,
      prompt: req.prompt,
      agent: req.agent,
      taskId: req.taskId,
      budget: req.budget === undefined ? undefined : parseLimits(req.budget, 'budget'),
      host: req.host,
    });
  }

  async send(caller: Caller | null, to: string, text: string, timeoutMs?: number): Promise<SendResult> {
    let recipient: Instance;
    if (to === 'parent') {
      if (!caller?.parentId) {
        throw new TmuxClaudeError('INVALID_ARGUMENT', 'you have no parent instance', {
          hint: 'the executive reports to the user by finishing its turn with a summary',
        });
      }
      recipient = await this.mustGet(caller.parentId);
    } else if (caller && caller.role === 'specialist') {
      if (to !== caller.parentId) {
        throw new TmuxClaudeError('FORBIDDEN', 'a specialist may `send` only to its parent', {
          hint: 'use to: "parent", or send_message to reach other agents',
        });
      }
      recipient = await this.mustGet(to);
    } else if (caller && to === caller.parentId) {
      recipient = await this.mustGet(to);
    } else {
      recipient = await loadInSubtree(this.store, caller, to);
    }
    if (!isLive(recipient.state)) {
      throw new TmuxClaudeError(
        'CONFLICT',
        `${recipient.id} is ${recipient.state} and cannot receive messages`,
        {
          hint: 'restart it first, or send to a live instance',
        },
      );
    }
    const { messageId } = await this.bus.send(this.senderOf(caller, recipient.runId), {
      to: recipient.id,
      body: text,
    });
    const delivered = await this.waitDelivered(messageId, timeoutMs ?? this.deps.config.sendTimeoutMs);
    return { messageId, to: recipient.id, delivered };
  }

  // ---- messaging (the bus, as agents use it) ----------------------------------------------------

  sendMessage(caller: Caller, req: SendMessageRequest): Promise<SendMessageResult> {
    return this.bus.send(this.senderOf(caller, caller.runId), req);
  }

  inbox(caller: Caller, opts: { unreadOnly: boolean; limit: number }) {
    return this.bus.inbox(caller.id, opts);
  }

  ack(caller: Caller, ids: readonly string[]) {
    return this.bus.ack(caller.id, ids);
  }

  waitForMessages(
    caller: Caller,
    opts: { timeoutMs: number; from?: string | undefined; subject?: string | undefined },
  ) {
    return this.bus.waitForMessages(caller.id, { ...opts, parentId: caller.parentId });
  }

  publish(caller: Caller, topic: string, body: string, subject?: string): Promise<SendMessageResult> {
    return this.bus.publish(this.senderOf(caller, caller.runId), topic, body, subject);
  }

  subscribe(caller: Caller, topic: string) {
    return this.bus.subscribe(this.senderOf(caller, caller.runId), topic);
  }

  replay(caller: Caller, topic: string, sinceSeq: number, limit: number) {
    return this.bus.replay(this.senderOf(caller, caller.runId), topic, sinceSeq, limit);
  }

  // ---- work coordination ------------------------------------------------------------------------

  createTask(caller: Caller, task: TaskInput) {
    return this.work.createTask(caller, task);
  }

  listTasks(
    caller: Caller,
    filter: { states?: readonly TaskState[] | undefined; owner?: string | undefined; limit: number },
  ) {
    return this.work.listTasks(caller, filter);
  }

  async claimTask(caller: Caller, opts: { taskId?: string | undefined; waitMs?: number | undefined }) {
    await this.budgets.assertNotPaused(caller.id, 'claim_task');
    return this.work.claimTask(caller, opts);
  }

  heartbeat(caller: Caller) {
    return this.work.heartbeat(caller);
  }

  completeTask(caller: Caller, taskId: string, epoch: number, result: string | null) {
    return this.work.completeTask(caller, taskId, epoch, result);
  }

  failTask(caller: Caller, taskId: string, epoch: number, error: string, retry: boolean): Promise<Task> {
    return this.work.failTask(caller, taskId, epoch, error, retry);
  }

  reserveFiles(caller: Caller, patterns: readonly string[], mode: ReservationMode, ttlMs?: number) {
    return this.work.reserveFiles(caller, patterns, mode, ttlMs);
  }

  releaseFiles(caller: Caller, patterns?: readonly string[]) {
    return this.work.releaseFiles(caller, patterns);
  }

  checkConflicts(caller: Pick<Caller, 'runId'>) {
    return this.work.checkConflicts(caller);
  }

  async executeParallel(caller: Caller, req: ParallelRequest) {
    if (caller.role === 'specialist') return this.work.executeParallel(caller, req);
    const most = await this.budgets.checkBatch(await this.mustGet(caller.id));
    const result = await this.work.executeParallel(caller, req);
    return Number.isFinite(most) && most < result.maxActive ? { ...result, budgetAllows: most } : result;
  }

  // ---- budgets ----------------------------------------------------------------------------------

  /**
   * Sets or raises the budget of an instance's subtree: the user (caller null) for any instance, an
   * executive or manager for one below it (carved out of what its own budgets have left). A paused subtree
   * whose use is below the new limits resumes.
   */
  async setBudget(caller: Caller | null, id: string, limits: unknown): Promise<BudgetView> {
    if (caller?.role === 'specialist')
      throw new TmuxClaudeError('FORBIDDEN', 'a specialist may not set budgets');
    const parsed = parseLimits(limits, 'budget');
    const target = await loadInSubtree(this.store, caller, id);
    if (target.state === 'terminated') {
      throw new TmuxClaudeError('CONFLICT', `${id} was terminated; its budget no longer applies`);
    }
    return this.budgets.set(caller ? await this.mustGet(caller.id) : null, target, parsed);
  }

  /** Budgets with their spend: of one run (or all) for the user; the caller's own and those below it for an agent. */
  async budgetsOf(caller: Caller | null, runId?: string): Promise<BudgetView[]> {
    const all = await this.budgets.list(caller?.runId ?? runId);
    if (!caller) return all;
    const mine = new Set([caller.id, ...(await descendants(this.store, caller.id)).map((d) => d.id)]);
    const over: BudgetView[] = [];
    let inst = await this.store.instances.get(caller.id);
    while (inst?.parentId) {
      inst = await this.store.instances.get(inst.parentId);
      const v = inst ? all.find((b) => b.root === inst!.id) : undefined;
      if (v) over.push(v);
    }
    return [...over.reverse(), ...all.filter((b) => mine.has(b.root))];
  }

  // ---- knowledge and progress ------------------------------------------------------------------

  async recordDiscovery(
    caller: Caller,
    input: { key: string; value: string; tags?: readonly string[]; paths?: readonly string[] },
  ) {
    const held = await this.store.tasks.list({ owner: caller.id, states: ['claimed'] });
    const inst = await this.mustGet(caller.id);
    const spawnedFor = inst.taskId ? await this.store.tasks.get(inst.taskId) : null;
    return this.knowledge.record(
      {
        id: caller.id,
        runId: caller.runId,
        branch: caller.branch,
        taskId: held[0]?.id ?? spawnedFor?.id ?? null,
      },
      input,
    );
  }

  queryKnowledge(
    caller: Pick<Caller, 'runId'>,
    q: {
      query?: string | undefined;
      syntax?: 'words' | 'fts' | undefined;
      tags?: readonly string[] | undefined;
      paths?: readonly string[] | undefined;
      limit?: number | undefined;
    },
  ) {
    return this.knowledge.query(caller.runId, { ...q, text: q.query });
  }

  async reportProgress(caller: Caller, p: { percent?: number | undefined; note?: string | undefined }) {
    if (p.percent === undefined && (p.note ?? '').trim() === '') {
      throw new TmuxClaudeError('INVALID_ARGUMENT', 'pass percent, note, or both');
    }
    await this.recordProgress(
      caller.id,
      { percent: p.percent === undefined ? null : Math.round(p.percent), note: p.note?.trim() || null },
      'report_progress',
    );
    return (await this.mustGet(caller.id)).progress;
  }

  /** Tasks of a run (or every run) for the admin API and `tmux-claude tasks`. */
  tasksOf(runId?: string): Promise<Task[]> {
    return this.coordinator.listTasks(runId ? { runId } : {});
  }

  /**
   * The user's reassignment of a task (dashboard): its holder loses the lease (and is told to stop), and the
   * task is reserved for `to` — a live instance of the task's run, told to claim it — or for anyone.
   */
  async reassignTask(taskId: string, to: string | null, actor: string): Promise<Task> {
    const before = await this.coordinator.getTask(taskId);
    if (to !== null) {
      const target = await this.mustGet(to);
      if (target.runId !== before.runId || !isLive(target.state)) {
        throw new TmuxClaudeError(
          'CONFLICT',
          `${to} is ${target.state} or in another run; pick a live instance of run ${before.runId}`,
        );
      }
    }
    const task = await this.coordinator.reassign(taskId, to, actor);
    if (before.state === 'claimed' && before.owner && before.owner !== to) {
      await this.notifyFromSupervisor(
        before.owner,
        `Task ${taskId} ("${task.title}") was reassigned by the user; stop working on it (its completion would be refused).`,
        'task.reassigned',
      );
    }
    if (to !== null) {
      await this.notifyFromSupervisor(
        to,
        `The user assigned task ${taskId} ("${task.title}") to you: claim it with claim_task {"task_id":"${taskId}"}, do it and complete it.`,
        'task.assigned',
      );
    }
    return task;
  }

  async read(
    caller: Caller | null,
    id: string,
    since?: number,
  ): Promise<{ id: string; cursor: number; text: string }> {
    const target = await loadInSubtree(this.store, caller, id, { allowSelf: true });
    if (!this.owns(target)) return this.hosts.request(target.host, 'read', { id, since });
    if (!isLive(target.state) && !(await this.deps.tmux.hasSession(target.tmuxSession))) {
      throw new TmuxClaudeError('CONFLICT', `${id} is ${target.state}; its terminal is gone`);
    }
    const { cursor, lines } = await this.deps.tmux.capture(target.tmuxSession, since);
    return { id, cursor, text: lines.join('\n') };
  }

  async list(caller: Caller | null): Promise<InstanceView[]> {
    const instances =
      caller === null
        ? await this.store.instances.list()
        : [await this.mustGet(caller.id), ...(await descendants(this.store, caller.id))];
    return this.views(instances);
  }

  async terminate(
    caller: Caller | null,
    id: string,
    cascade: boolean,
  ): Promise<{ terminated: string[]; keptWorktrees: string[] }> {
    const target = await loadInSubtree(this.store, caller, id);
    const below = await descendants(this.store, id);
    const liveBelow = below.filter((i) => isLive(i.state));
    if (liveBelow.length > 0 && !cascade) {
      throw new TmuxClaudeError(
        'CONFLICT',
        `${id} has live children: ${liveBelow.map((i) => i.id).join(', ')}`,
        {
          hint: 'terminate them first, or pass cascade: true',
        },
      );
    }
    const terminated: string[] = [];
    const keptWorktrees: string[] = [];
    // Children before parents, so a parent's branch still exists while children are checked against it.
    for (const inst of [...below.reverse(), target]) {
      if (inst.state === 'terminated') continue;
      const kept = await this.stopInstance(inst, caller?.id ?? 'user', cascade, 'terminated');
      terminated.push(inst.id);
      if (kept) keptWorktrees.push(kept);
    }
    return { terminated, keptWorktrees };
  }

  async restart(caller: Caller | null, id: string): Promise<SpawnResult> {
    const inst = await loadInSubtree(this.store, caller, id);
    return this.restartInstance(inst, caller?.id ?? 'user');
  }

  private async restartInstance(inst: Instance, actor: string, adopt = false): Promise<SpawnResult> {
    if (inst.state === 'terminated') {
      throw new TmuxClaudeError('CONFLICT', `${inst.id} was terminated; spawn a new instance instead`);
    }
    if (!this.owns(inst) && !adopt) {
      // Its host restarts it; a lost host's instance is re-homed on the host placement picks.
      if (!(await this.hosts.isLost(inst.host))) {
        return this.hosts.request(inst.host, 'restart', { id: inst.id, actor }, this.spawnWaitMs());
      }
      const target = await this.hosts.place();
      if (target !== this.hosts.id) {
        return this.hosts.request(target, 'restart', { id: inst.id, actor, adopt: true }, this.spawnWaitMs());
      }
      adopt = true;
    }
    if (adopt && !this.owns(inst)) inst = await this.adopt(inst);
    const run = await this.mustGetRun(inst.runId);
    const token = newToken();
    // Starting with no pid before the old session goes, so the sweep does not take the gap for a death.
    await this.store.instances.update(inst.id, {
      state: 'starting',
      error: null,
      tokenHash: hashToken(token),
      pid: null,
    });
    await this.deps.tmux.killSession(inst.tmuxSession);
    // What it received but never acked comes again once it is ready.
    await this.bus.requeueUnacked(inst.id, 'instance restarted');
    const pid = await this.startSession(inst, run, token, true);
    await this.emit({
      kind: 'instance.restarted',
      actor,
      instanceId: inst.id,
      data: { pid },
    });
    await this.waitReady(inst);
    // A manager's execute_parallel batch waits while it is down; wake its scheduler (here, if re-homed).
    if (adopt) await this.scheduler.resume();
    this.signals.notify(tasksChanged(inst.runId));
    return this.spawnResult(await this.mustGet(inst.id));
  }

  // ---- several hosts -------------------------------------------------------------------------------

  /** Every host that registered in the store, with its live instances and whether it is this one. */
  async hostViews(): Promise<Array<Host & { live: number; self: boolean; silentMs: number }>> {
    const live = await this.store.instances.list({ states: LIVE_STATES });
    const now = Date.now();
    return (await this.store.hosts.list()).map((h) => ({
      ...h,
      live: live.filter((i) => i.host === h.id).length,
      self: h.id === this.hosts.id,
      silentMs: Math.max(0, now - h.lastSeen),
    }));
  }

  /** How long to wait for another host to start (or restart) an instance: its spawn timeout and some. */
  private spawnWaitMs(): number {
    return this.deps.config.spawnTimeoutMs + 30_000;
  }

  /** An instance's screen with colours (the dashboard's terminal); null once its session is gone. */
  async screen(inst: Instance): Promise<StyledScreen | null> {
    if (!this.owns(inst)) return this.hosts.request(inst.host, 'screen', { id: inst.id });
    return this.deps.tmux.screenWithStyle(inst.tmuxSession).catch(() => null);
  }

  /** Raw keystrokes into an instance's terminal (the dashboard's interactive terminal). */
  async typeInto(inst: Instance, data: string): Promise<void> {
    if (!this.owns(inst)) {
      await this.hosts.request(inst.host, 'keys', { id: inst.id, data });
      return;
    }
    await this.deps.tmux.sendBytes(inst.tmuxSession, data);
  }

  /** Does what another host's supervisor asked of this one (see HostRegistry.request). */
  async handleHostRequest(req: HostRequest): Promise<unknown> {
    const a = req.args;
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const id = str(a.id) ?? '';
    switch (req.kind) {
      case 'spawn': {
        const w = parseBody(RemoteLaunch, a);
        return this.launch({
          run: await this.mustGetRun(w.runId),
          parent: w.parentId ? await this.mustGet(w.parentId) : null,
          role: w.role,
          name: w.name,
          prompt: w.prompt ?? undefined,
          agent: w.agent,
          taskId: w.taskId ?? undefined,
          id: w.id,
          predecessor: w.predecessorId
            ? ((await this.store.instances.get(w.predecessorId)) ?? undefined)
            : undefined,
          budget: w.budget === null ? undefined : parseLimits(w.budget, 'budget'),
          host: this.hosts.id,
        });
      }
      case 'read':
        return this.read(null, id, typeof a.since === 'number' ? a.since : undefined);
      case 'restart':
        return this.restartInstance(await this.mustGet(id), str(a.actor) ?? 'supervisor', a.adopt === true);
      case 'stop':
        return this.stopInstance(
          await this.mustGet(id),
          str(a.actor) ?? 'supervisor',
          a.cascade === true,
          str(a.reason) ?? 'terminated',
        );
      case 'screen':
        return this.screen(await this.mustGet(id));
      case 'keys':
        return this.typeInto(await this.mustGet(id), str(a.data) ?? '');
      default:
        throw new TmuxClaudeError('INVALID_ARGUMENT', `unknown host request ${JSON.stringify(req.kind)}`);
    }
  }

  /**
   * This supervisor declared `host` lost: each of its live instances dies (its leases and reservations go back
   * at once), and recovery re-homes it (see {@link rehome}).
   */
  async hostLost(host: string, silentMs: number): Promise<void> {
    const lost = await this.store.instances.list({ states: LIVE_STATES, host });
    await this.emit({
      kind: 'host.lost',
      actor: 'supervisor',
      instanceId: null,
      data: { host, silentMs, instances: lost.map((i) => i.id) },
    });
    const why = `host ${host} lost: no heartbeat for ${Math.round(silentMs / 1000)} s`;
    // In creation order: a manager is re-homed before its specialists are replaced under it.
    for (const inst of lost) await this.transition(inst.id, LIVE_STATES, 'dead', why, { error: why });
  }

  /**
   * This host was declared lost while it ran (it was paused or cut off longer than the host timeout): what it
   * ran has been re-homed or replaced elsewhere, so its copies here stop.
   */
  async fenced(): Promise<void> {
    for (const s of await this.deps.tmux.listSessions()) {
      if (!s.name.startsWith('tc-')) continue;
      const inst = await this.store.instances.get(s.name.slice(3));
      if (inst && (!this.owns(inst) || !isLive(inst.state))) await this.deps.tmux.killSession(s.name);
    }
  }

  /**
   * Recovery for an instance of a lost host, whatever its role's policy (its host failed, not it): a
   * specialist gets a successor on a live host — its scheduler's, or one started now — that starts from its
   * branch and takes over its task and mail; a manager or executive is re-homed with the same id (its children
   * and batch stay its own) and resumes its conversation where the lost host's files are readable.
   */
  private async rehome(inst: Instance): Promise<string> {
    if (await this.inBatch(inst)) {
      await this.recoveryEvent(inst.id, 'replace', 0);
      return `Its host ${inst.host} was lost: execute_parallel hands its task to a new specialist on a live host.`;
    }
    await this.recoveryEvent(inst.id, 'rehome', 0);
    if (inst.role === 'specialist') {
      void this.replaceDead(inst.id, 0);
      return `Its host ${inst.host} was lost: a successor starts on a live host from its branch and takes over its task and mail.`;
    }
    void this.restartInstance(inst, 'supervisor').catch((err: unknown) =>
      this.deps.log.warn({ err, instance: inst.id }, 're-homing failed'),
    );
    return `Its host ${inst.host} was lost: it is re-homed on a live host and takes up its work again.`;
  }

  /** Makes a lost host's manager or executive this host's: a state dir here (copied where readable). */
  private async adopt(inst: Instance): Promise<Instance> {
    if (inst.worktree) {
      throw new TmuxClaudeError(
        'CONFLICT',
        `${inst.id} ran on lost host ${inst.host}; a specialist is replaced, not moved`,
        {
          hint: 'terminate it; its parent (or execute_parallel) starts a successor from its branch',
        },
      );
    }
    const dir = instanceDir(this.deps.paths, inst.id);
    await mkdir(dir, { recursive: true });
    // The transcript lets it resume; readable when the lost host shares this machine or a disk with it.
    if (inst.cwd !== dir) await cp(inst.cwd, dir, { recursive: true, force: false }).catch(() => undefined);
    const moved = await this.store.instances.update(inst.id, { host: this.hosts.id, cwd: dir });
    await this.emit({
      kind: 'instance.rehomed',
      actor: 'supervisor',
      instanceId: inst.id,
      data: { from: inst.host, to: this.hosts.id },
    });
    return moved ?? inst;
  }

  async getProgress(caller: Caller | null, id?: string): Promise<ProgressReport> {
    const rootId = id ?? caller?.id;
    if (!rootId) throw new TmuxClaudeError('INVALID_ARGUMENT', 'pass an instance id');
    const root = await loadInSubtree(this.store, caller, rootId, { allowSelf: true });
    const all = [root, ...(await descendants(this.store, root.id))];
    const byState: ProgressReport['byState'] = {};
    for (const i of all) byState[i.state] = (byState[i.state] ?? 0) + 1;
    const figures = all
      .slice(1)
      .map((i) => (i.state === 'terminated' && !i.error ? 100 : i.progress?.percent))
      .filter((p): p is number => typeof p === 'number');
    const percent = figures.length ? Math.round(figures.reduce((a, b) => a + b, 0) / figures.length) : null;
    const creators = new Set(all.map((i) => i.id));
    const tasks = (await this.store.tasks.list({ runId: root.runId })).filter((t) =>
      creators.has(t.createdBy),
    );
    const taskStates: ProgressReport['tasks']['byState'] = {};
    for (const t of tasks) taskStates[t.state] = (taskStates[t.state] ?? 0) + 1;
    return {
      root: root.id,
      total: all.length,
      tasks: {
        total: tasks.length,
        merged: tasks.filter((t) => t.mergedAt !== null).length,
        byState: taskStates,
      },
      percent,
      byState,
      instances: await this.views(all),
    };
  }

  async mergeBranch(caller: Caller | null, req: MergeRequest): Promise<MergeReport> {
    if (caller?.role === 'specialist') throw new TmuxClaudeError('FORBIDDEN', 'a specialist may not merge');
    let source: string;
    let runId: string;
    if (req.instanceId) {
      const inst = await loadInSubtree(this.store, caller, req.instanceId);
      if (!inst.branch) throw new TmuxClaudeError('INVALID_ARGUMENT', `${inst.id} has no branch`);
      source = inst.branch;
      runId = inst.runId;
    } else if (req.branch && caller) {
      source = req.branch;
      runId = caller.runId;
    } else {
      throw new TmuxClaudeError('INVALID_ARGUMENT', 'pass instance_id (or branch)');
    }
    const run = await this.mustGetRun(runId);
    const into = req.into ?? caller?.branch ?? run.targetBranch;
    if (!into) throw new TmuxClaudeError('INVALID_ARGUMENT', 'you have no branch; pass `into`');
    const tasks = await this.work.tasksToMerge(run.id, source);
    let result;
    try {
      result = await this.deps.git.merge(run.repo, {
        source,
        into,
        message: `Merge ${source} into ${into}\n\nMerged by ${caller?.id ?? 'user'} (tmux-claude ${run.id})`,
      });
    } catch (err) {
      if (!(err instanceof TmuxClaudeError) || err.code !== 'MERGE_CONFLICT') throw err;
      throw await this.explainConflict(run.id, source, into, err);
    }
    await this.coordinator.markMerged(caller?.id ?? 'user', tasks);
    await this.emit({
      kind: 'git.merged',
      actor: caller?.id ?? 'user',
      instanceId: req.instanceId ?? null,
      data: { source, into, commit: result.commit, commits: result.commits },
    });
    await this.publishSystem(run.id, 'system.merged', {
      instance: req.instanceId ?? null,
      source,
      into,
      commit: result.commit,
      commits: result.commits,
    });
    return {
      merged: true,
      source,
      into,
      commit: result.commit,
      commits: result.commits,
      alreadyMerged: result.alreadyMerged,
    };
  }

  /** A merge conflict with the owners of the conflicting files named: the manager decides who rebases. */
  private async explainConflict(
    runId: string,
    source: string,
    into: string,
    err: TmuxClaudeError,
  ): Promise<TmuxClaudeError> {
    const files = Array.isArray(err.details?.files) ? (err.details.files as string[]) : [];
    const owners = await this.work.ownersOf(runId, files);
    const lines = files.map((f) => `${f}${owners[f]?.length ? ` (also: ${owners[f].join(', ')})` : ''}`);
    await this.emit({
      kind: 'git.merge_refused',
      actor: 'supervisor',
      instanceId: null,
      data: { source, into, files, owners },
    });
    return new TmuxClaudeError(
      'MERGE_CONFLICT',
      `merging ${source} into ${into} would conflict in ${lines.join('; ') || 'unknown files'}; nothing was merged`,
      {
        hint: 'have one owner rebase onto the other’s merged work (or redo the task from the merged branch)',
        details: { ...err.details, owners },
      },
    );
  }

  async recordToolCall(caller: Caller, tool: string, ok: boolean, error?: string): Promise<void> {
    await this.emit({
      kind: 'tool.called',
      actor: caller.id,
      instanceId: caller.id,
      data: error === undefined ? { tool, ok } : { tool, ok, error },
    });
  }

  /**
   * Resolves a bearer token to its live instance. An MCP request also counts towards readiness: CLIs that
   * connect their MCP servers after start are ready only once the supervisor has heard from theirs.
   */
  async authenticate(token: string, via: 'mcp' | 'hook' = 'hook'): Promise<Caller | null> {
    const inst = await this.store.instances.findByTokenHash(hashToken(token));
    if (!inst || inst.state === 'terminated') return null;
    if (via === 'mcp' && inst.state === 'starting') await this.noteReadiness(inst.id, 'mcp');
    this.renewForActivity(inst.id);
    return { id: inst.id, role: inst.role, runId: inst.runId, parentId: inst.parentId, branch: inst.branch };
  }

  // ---- hooks ------------------------------------------------------------------------------------

  /**
   * Agent hook events (Claude Code's names; other adapters map theirs onto them). Returns the JSON the hook
   * answers: for Stop, pending messages are handed over as `{"decision":"block","reason":…}` so a busy agent
   * gets them at the end of its turn without typing.
   */
  async onHook(caller: Caller, event: string, payload: HookPayload): Promise<Record<string, unknown>> {
    const id = caller.id;
    this.renewForActivity(id);
    switch (event) {
      case 'SessionStart': {
        if (typeof payload.pid === 'number') await this.store.instances.update(id, { pid: payload.pid });
        await this.noteReadiness(id, 'hook');
        return {};
      }
      case 'UserPromptSubmit': {
        // Busy first: a delivery confirmed while the state still said idle would look quiescent.
        await this.transition(id, ['idle', 'starting', 'blocked', 'stuck'], 'busy', 'prompt received');
        // Confirmed by the message ids in the prompt: CLIs may wrap pasted text (Claude Code adds
        // <pasted_content>) or expand tabs, so the exact bytes are not a reliable witness.
        const landed = new Set(messageIdsIn(payload.prompt ?? ''));
        const flight = this.inFlight.get(id);
        if (flight && flight.ids.every((m) => landed.has(m))) {
          flight.confirmed = true;
          this.signals.notify(`prompt:${id}`);
        } else if (landed.size > 0) {
          // A late confirmation of an earlier paste that was given up on.
          const late = (await this.store.messages.inbox(id, ['pending'])).filter((e) =>
            landed.has(e.message.id),
          );
          await this.bus.confirmDelivered(id, late, 'paste', Date.now());
        }
        return {};
      }
      case 'Stop':
      case 'StopFailure': {
        // Usage first: a subtree that is now over its budget gets no handover below.
        await this.recordUsage(id, payload);
        const limit = event === 'StopFailure' ? limitReport(payload as Record<string, unknown>) : null;
        if (limit) {
          const why = `${limit.kind}: ${limit.reason}`.slice(0, 500);
          const blocked = await this.transition(id, ['busy', 'starting', 'stuck', 'idle'], 'blocked', why, {
            error: why,
          });
          if (blocked) await this.rateLimits.block(id, limit);
          return {};
        }
        if (event === 'Stop' && !payload.stop_hook_active && !this.delivering.has(id)) {
          const handover = await this.handOverAtStop(id);
          if (handover) return handover;
        }
        const failed = event === 'StopFailure';
        const error = failed ? (payload.error ?? 'unknown error') : null;
        await this.transition(
          id,
          ['busy', 'starting', 'blocked', 'stuck'],
          'idle',
          failed ? `turn failed: ${error}` : 'turn over',
          { error },
        );
        this.kickDelivery(id);
        return {};
      }
      case 'Notification': {
        if (payload.notification_type === 'permission_prompt') {
          const why = `blocked on a dialog: ${payload.message ?? 'permission prompt'}`;
          const blocked = await this.transition(id, ['busy', 'idle', 'stuck'], 'blocked', why, {
            error: why,
          });
          if (blocked && caller.parentId) {
            await this.notifyFromSupervisor(
              caller.parentId,
              `${id} is ${why}. Attach with \`tmux-claude attach ${id}\` to answer it, or restart it.`,
              'blocked',
            );
          }
        }
        return {};
      }
      case 'PostToolUse': {
        await this.transition(id, ['blocked', 'stuck'], 'busy', 'dialog answered');
        const progress = progressFromTool(payload.tool_name, payload.tool_input);
        if (progress) await this.recordProgress(id, progress, String(payload.tool_name));
        return {};
      }
      case 'SessionEnd':
        // The pane-died hook and the sweep settle the state; nothing to do before the process is gone.
        return {};
      default:
        throw new TmuxClaudeError('INVALID_ARGUMENT', `unknown hook event ${event}`);
    }
  }

  /** Counts what a Stop hook reports: the light runtime's `usage`, else Claude Code's transcript (best effort). */
  private async recordUsage(id: string, payload: HookPayload): Promise<void> {
    try {
      if (payload.usage && typeof payload.usage === 'object') {
        await this.budgets.recordUsage(id, payload.usage);
      } else if (typeof payload.transcript_path === 'string' && payload.transcript_path !== '') {
        await this.budgets.recordTranscript(id, payload.transcript_path);
      }
    } catch (err) {
      this.deps.log.warn({ err, instance: id }, 'counting usage failed');
    }
  }

  /** Stores an instance's progress and records it in the audit trail. */
  async recordProgress(
    id: string,
    progress: { percent: number | null; note: string | null },
    source: string,
  ): Promise<void> {
    await this.store.instances.update(id, { progress: { ...progress, updatedAt: Date.now() } });
    await this.emit({ kind: 'instance.progress', actor: id, instanceId: id, data: { ...progress, source } });
  }

  // ---- supervision ------------------------------------------------------------------------------

  /** Compares live instances with tmux; marks the ones whose pane is gone or dead. */
  async sweep(reason: string): Promise<void> {
    // Instances first, then tmux: an instance spawned in between is not judged against an older session list.
    const live = await this.ownInstances(LIVE_STATES);
    const sessions = await this.deps.tmux.listSessions();
    const byName = new Map(sessions.map((s) => [s.name, s]));
    for (const inst of live) {
      const s = byName.get(inst.tmuxSession);
      if (s && !s.dead) continue;
      // Being (re)launched: its session may not exist yet, or still be the old dead one that a restart is
      // replacing; the pid is recorded once the new pane runs, and from then on it is judged.
      if (inst.state === 'starting' && inst.pid === null) continue;
      const why = s?.dead
        ? `agent process exited (status ${s.deadStatus ?? 'unknown'}${s.deadSignal ? `, signal ${s.deadSignal}` : ''})`
        : `tmux session ${inst.tmuxSession} is gone (${reason})`;
      await this.transition(inst.id, LIVE_STATES, 'dead', why, { error: why });
    }
    await this.checkStuck(live, byName);
  }

  /** After a supervisor (re)start: adopt live sessions, mark lost ones dead, report orphans. */
  async reconcile(): Promise<{ adopted: string[]; lost: string[] }> {
    const sessions = await this.deps.tmux.listSessions();
    const byName = new Map(sessions.map((s) => [s.name, s]));
    const adopted: string[] = [];
    const lost: string[] = [];
    const known = new Set<string>();
    for (const inst of await this.ownInstances(LIVE_STATES)) {
      known.add(inst.tmuxSession);
      const s = byName.get(inst.tmuxSession);
      if (s && !s.dead) {
        adopted.push(inst.id);
        // A tool answer or a paste confirmed by the previous supervisor may not have reached the agent.
        await this.bus.requeueUnacked(inst.id, 'supervisor restarted');
        continue;
      }
      lost.push(inst.id);
      const why = s
        ? 'agent process exited while the supervisor was down'
        : 'tmux session vanished while the supervisor was down';
      await this.transition(inst.id, LIVE_STATES, 'dead', why, { error: why });
    }
    for (const s of sessions) {
      if (s.name.startsWith('tc-') && !known.has(s.name)) {
        const inst = await this.store.instances.get(s.name.slice(3));
        if (inst && !this.owns(inst)) {
          // Re-homed while this host was lost: the instance runs elsewhere now; this copy must not go on.
          await this.deps.tmux.killSession(s.name);
          continue;
        }
        if (!inst || inst.state === 'terminated') {
          await this.emit({
            kind: 'tmux.orphan',
            actor: 'supervisor',
            instanceId: null,
            data: { session: s.name },
          });
        }
      }
    }
    // Rate-limited instances wait on (their leases held); budgets' time checks run again.
    const blocked = (await this.ownInstances(['blocked'])).map((i) => i.id);
    await this.rateLimits.restore(blocked);
    await this.budgets.start();
    return { adopted, lost };
  }

  /** Delivery retries: recipients whose pending mail is due (backoff passed). */
  async retryDeliveries(): Promise<void> {
    for (const id of await this.bus.dueRecipients()) this.kickDelivery(id);
  }

  /** Stops every live instance (used by `down`). */
  async stopAll(reason: string): Promise<void> {
    const live = await this.ownInstances(LIVE_STATES);
    for (const inst of live.reverse()) await this.stopInstance(inst, 'supervisor', false, reason);
  }

  // ---- internals --------------------------------------------------------------------------------

  private async launch(opts: LaunchRequest): Promise<SpawnResult> {
    const agent = opts.agent ?? opts.run.agent;
    adapterFor(agent);
    const id = opts.id ?? newInstanceId(opts.role);
    return this.hosts.placed(opts.host, async (host) => {
      if (host === this.hosts.id) return this.launchHere({ ...opts, agent, id });
      return this.hosts.request<SpawnResult>(
        host,
        'spawn',
        launchToWire({ ...opts, agent, id }),
        this.spawnWaitMs(),
      );
    });
  }

  /** Starts an instance on this host, once the budgets over its parent admit it. */
  private async launchHere(opts: LaunchRequest & { agent: AgentKind; id: string }): Promise<SpawnResult> {
    const { run, parent, role, agent, id } = opts;
    // Counted from here (before the slow worktree setup), so concurrent spawns cannot both take the last slot.
    const admission = await this.budgets.admit(
      parent,
      run.id,
      { id, role, name: opts.name },
      opts.budget,
      parent?.id ?? 'user',
    );
    let created = false;
    try {
      return await this.launchAdmitted({ ...opts, agent, id }, () => {
        created = true;
        return admission.release();
      });
    } finally {
      if (!created) await admission.release({ failed: true });
    }
  }

  private async launchAdmitted(
    opts: {
      run: Run;
      parent: Instance | null;
      role: Role;
      name: string;
      prompt?: string | undefined;
      agent: AgentKind;
      taskId?: string | undefined;
      id: string;
      predecessor?: Instance | undefined;
    },
    onCreated: () => Promise<void>,
  ): Promise<SpawnResult> {
    const { run, parent, role, agent, id } = opts;
    const { git, paths } = this.deps;
    const token = newToken();
    const dir = instanceDir(paths, id);
    await mkdir(dir, { recursive: true });
    let branch: string | null = null;
    let worktree: string | null = null;
    let taskId: string | null = null;
    let cwd = dir;
    // A successor on the same task starts from what its predecessor committed (its branch's last commit).
    const base =
      role === 'specialist' &&
      opts.predecessor?.branch &&
      opts.predecessor.taskId === opts.taskId &&
      (await git.branchExists(run.repo, opts.predecessor.branch))
        ? opts.predecessor.branch
        : (parent?.branch ?? run.targetBranch);
    if (role === 'executive') {
      branch = run.targetBranch;
    } else if (role === 'manager') {
      branch = managerBranch(id, opts.name);
      await git.createBranch(run.repo, branch, base);
    } else {
      taskId = opts.taskId ?? newTaskId();
      branch = specialistBranch(id, taskId, opts.name);
      worktree = join(paths.worktrees, id);
      await mkdir(paths.worktrees, { recursive: true });
      await git.addWorktree(run.repo, worktree, branch, base);
      cwd = worktree;
    }
    const now = Date.now();
    const inst: Instance = {
      id,
      runId: run.id,
      role,
      parentId: parent?.id ?? null,
      name: opts.name,
      agent,
      state: 'starting',
      branch,
      worktree,
      cwd,
      tmuxSession: `tc-${id}`,
      host: this.hosts.id,
      pid: null,
      tokenHash: hashToken(token),
      task: opts.prompt ?? null,
      taskId,
      createdAt: now,
      updatedAt: now,
      endedAt: null,
      error: null,
      progress: null,
    };
    await this.store.instances.create(inst);
    await onCreated();
    await this.emit({
      kind: 'instance.spawned',
      actor: parent?.id ?? 'user',
      instanceId: id,
      data: { role, parentId: inst.parentId, branch, agent },
    });
    try {
      await this.startSession(inst, run, token, false, opts.predecessor);
      if (opts.prompt) {
        await this.bus.send(this.senderOf(parent, run.id), { to: id, body: opts.prompt, subject: 'task' });
      }
      await this.waitReady(inst);
      await this.publishSystem(run.id, 'system.spawned', {
        instance: id,
        role,
        parent: inst.parentId,
        branch,
        name: opts.name,
      });
      // A cascade that ran while this child was starting did not see it: leave no orphan behind.
      if (parent && (await this.store.instances.get(parent.id))?.state === 'terminated') {
        throw new TmuxClaudeError('CONFLICT', `${parent.id} was terminated while ${id} was starting`);
      }
    } catch (err) {
      await this.stopInstance(await this.mustGet(id), 'supervisor', false, 'spawn failed').catch(
        () => undefined,
      );
      throw err;
    }
    return this.spawnResult(await this.mustGet(id));
  }

  private async startSession(
    inst: Instance,
    run: Run,
    token: string,
    resume = false,
    predecessor?: Instance,
  ): Promise<number | null> {
    this.readiness.set(inst.id, { hook: false, mcp: false });
    const dir = instanceDir(this.deps.paths, inst.id);
    const parent = inst.parentId ? await this.store.instances.get(inst.parentId) : null;
    const systemPromptFile = join(dir, 'system-prompt.md');
    await writeFile(
      systemPromptFile,
      rolePrompt({
        instanceId: inst.id,
        role: inst.role,
        parentId: parent?.id ?? null,
        branch: inst.branch,
        worktree: inst.worktree,
        runGoal: run.goal,
        briefing: await this.briefingFor(inst, parent, run, resume, predecessor),
      }),
    );
    const spec = await adapterFor(inst.agent).prepare({
      instanceId: inst.id,
      role: inst.role,
      cwd: inst.cwd,
      instanceDir: dir,
      systemPromptFile,
      supervisorUrl: this.deps.supervisorUrl,
      token,
      env: run.agentEnv,
      resume,
    });
    const info = await this.deps.tmux.newSession({
      name: inst.tmuxSession,
      cwd: inst.cwd,
      command: spec.command,
      env: { ...spec.env, TMUX_CLAUDE_RUN: run.id },
    });
    await this.store.instances.update(inst.id, { pid: info.pid });
    return info.pid;
  }

  /**
   * What the organisation already knows and did that bears on an instance's work (see KnowledgeBase.briefing).
   * A failure leaves the briefing out rather than failing the spawn.
   */
  private async briefingFor(
    inst: Instance,
    parent: Instance | null,
    run: Run,
    resume: boolean,
    predecessor?: Instance,
  ): Promise<string | undefined> {
    try {
      const area = parent
        ? [parent, ...(await descendants(this.store, parent.id))]
        : await this.store.instances.list({ runId: run.id });
      const task = inst.taskId ? await this.store.tasks.get(inst.taskId) : null;
      const takingOver =
        task !== null && (resume || task.attempts > 0 || predecessor !== undefined) && task.state !== 'done';
      const errors = [
        task?.error,
        predecessor && `${predecessor.id} died on it: ${predecessor.error ?? 'unknown reason'}`,
      ].filter((e): e is string => Boolean(e));
      const text = await this.knowledge.briefing({
        runId: run.id,
        parentGoal: parent?.task ?? run.goal,
        creators: area.map((i) => i.id),
        taskText: [task?.title, inst.task].filter(Boolean).join('\n'),
        files: task?.files ?? [],
        reservations: (await this.coordinator.listReservations({ runId: run.id })).filter(
          (r) => r.holder !== inst.id,
        ),
        previous: takingOver ? { task, errors } : undefined,
      });
      return text || undefined;
    } catch (err) {
      this.deps.log.warn({ err, instance: inst.id }, 'briefing failed; starting without one');
      return undefined;
    }
  }

  /** Waits for the ready hook; on failure the error carries the pane's last lines. */
  private async waitReady(inst: Instance): Promise<void> {
    const deadline = Date.now() + this.deps.config.spawnTimeoutMs;
    for (;;) {
      const current = await this.mustGet(inst.id);
      if (current.state === 'idle' || current.state === 'busy') return;
      if (!isLive(current.state)) {
        throw new TmuxClaudeError(
          'UNAVAILABLE',
          `${inst.id} died while starting: ${current.error ?? 'unknown'}`,
          {
            details: { screen: await this.screenTail(inst) },
            hint: 'see its screen in details.screen; check `tmux-claude doctor`',
          },
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TmuxClaudeError(
          'TIMEOUT',
          `${inst.id} did not report ready within ${Math.round(this.deps.config.spawnTimeoutMs / 1000)} s`,
          {
            details: { screen: await this.screenTail(inst) },
            hint: 'the agent never connected to the supervisor; its last screen lines are in details.screen',
          },
        );
      }
      await this.signals.wait(`state:${inst.id}`, Math.min(left, 1_000));
    }
  }

  private async screenTail(inst: Instance, count = 30): Promise<string> {
    try {
      const lines = this.owns(inst)
        ? (await this.deps.tmux.capture(inst.tmuxSession)).lines
        : (await this.read(null, inst.id)).text.split('\n');
      return lines
        .filter((l) => l.trim() !== '')
        .slice(-count)
        .join('\n');
    } catch {
      return '(no screen: the tmux session is gone)';
    }
  }

  /** Kills the session and settles the worktree; returns the kept worktree path, if any. */
  private async stopInstance(
    inst: Instance,
    actor: string,
    cascade: boolean,
    reason: string,
  ): Promise<string | null> {
    const { tmux, git } = this.deps;
    if (!this.owns(inst) && !(await this.hosts.isLost(inst.host))) {
      return this.hosts.request(inst.host, 'stop', { id: inst.id, actor, cascade, reason });
    }
    await tmux.killSession(inst.tmuxSession);
    const updated = await this.transition(inst.id, [...LIVE_STATES, 'dead'], 'terminated', reason, {
      endedAt: Date.now(),
    });
    if (!updated) return null;
    await this.rateLimits.clear(inst.id);
    // A slot under a budget may have come free: wake the run's schedulers.
    this.signals.notify(tasksChanged(inst.runId));
    await this.bus.recipientGone(inst.id, `recipient ${reason}`);
    await this.coordinator.releaseHolder(inst.id, `holder ${reason}`);
    let kept: string | null = null;
    if (inst.worktree) {
      const run = await this.mustGetRun(inst.runId);
      const parent = inst.parentId ? await this.store.instances.get(inst.parentId) : null;
      const mergedInto = parent?.branch ?? run.targetBranch;
      try {
        await git.removeWorktree(run.repo, inst.worktree, { branch: inst.branch ?? 'HEAD', mergedInto });
      } catch (err) {
        if (!(err instanceof TmuxClaudeError) || err.code !== 'UNMERGED_WORK') throw err;
        kept = inst.worktree;
        this.deps.log.info({ instance: inst.id, worktree: kept }, 'worktree kept: unmerged work');
      }
    }
    await this.emit({
      kind: 'instance.terminated',
      actor,
      instanceId: inst.id,
      data: { cascade, worktreeKept: kept !== null, reason },
    });
    await this.publishSystem(inst.runId, 'system.completed', {
      instance: inst.id,
      role: inst.role,
      reason,
      worktreeKept: kept,
    });
    return kept;
  }

  /** Compare-and-set state change with an audit event and a wake-up. Returns null if `from` did not match. */
  private async transition(
    id: string,
    from: readonly InstanceState[],
    to: InstanceState,
    reason: string,
    extra: { pid?: number; error?: string | null; endedAt?: number } = {},
  ): Promise<Instance | null> {
    const before = await this.store.instances.get(id);
    if (!before) return null;
    const updated = await this.store.instances.update(id, { state: to, ...extra }, from);
    if (updated && before.state !== to) {
      await this.emit({
        kind: 'instance.state',
        actor: 'supervisor',
        instanceId: id,
        data: { from: before.state, to, reason },
      });
      if (to === 'dead') {
        await this.publishSystem(updated.runId, 'system.failed', {
          instance: id,
          role: updated.role,
          reason,
        });
        // Its task goes back to the pool at once, not when the lease would have lapsed.
        const released = await this.coordinator.releaseHolder(id, `holder died: ${reason}`);
        this.signals.notify(tasksChanged(updated.runId));
        const next = await this.planRecovery(updated);
        if (updated.parentId) await this.reportDeath(updated, reason, released, next);
      }
    }
    this.signals.notify(`state:${id}`);
    return updated;
  }

  /**
   * The recovery policy for a dead instance (per role, see {@link recoveryPolicy}): a specialist of an
   * execute_parallel batch is replaced by its scheduler; a role whose policy is `replace` gets a successor
   * that takes over its task, its open mail and a briefing on this attempt; any other instance is restarted
   * in place — resuming its conversation. Either after the role's backoff (1 s, 2 s, 4 s, …), up to its
   * restart limit (counted in the store, so a supervisor restart does not reset it), then left dead for its
   * parent to decide. Returns what happens next, in a sentence for the parent.
   */
  private async planRecovery(inst: Instance): Promise<string> {
    const manual = `Restart it in place with restart(id: "${inst.id}") (it resumes its conversation), or terminate it.`;
    if (this.closing) return manual;
    if (await this.hosts.isLost(inst.host)) return this.rehome(inst);
    if (await this.inBatch(inst)) {
      await this.recoveryEvent(inst.id, 'replace', 0);
      return 'execute_parallel hands its task to a new specialist.';
    }
    const policy = recoveryPolicy(this.deps.config, inst.role);
    const counts = await this.recoveryCounts(inst.id);
    const done = counts.restarts;
    if (policy.restartLimit === 0) return manual;
    if (done >= policy.restartLimit) {
      await this.recoveryEvent(inst.id, 'gave-up', done);
      return `The supervisor gave up after ${done} ${policy.onDeath === 'replace' ? 'successors' : 'restarts'}. ${manual}`;
    }
    const delayMs = policy.restartBackoffMs * 2 ** done;
    await this.saveRecoveryCounts(inst.id, { ...counts, restarts: done + 1 });
    const replace = policy.onDeath === 'replace';
    const timer = setTimeout(() => {
      this.recoveryTimers.delete(timer);
      void (replace ? this.replaceDead(inst.id, done + 1) : this.recover(inst.id, done + 1));
    }, delayMs);
    timer.unref();
    this.recoveryTimers.add(timer);
    const attempt = `(attempt ${done + 1} of ${policy.restartLimit})`;
    return replace
      ? `The supervisor starts a successor in ${delayMs / 1000} s ${attempt}; it takes over the task, the unread mail and a briefing on this attempt.`
      : `The supervisor restarts it in place in ${delayMs / 1000} s ${attempt}; it resumes its conversation.`;
  }

  /** A specialist started by execute_parallel for one of its parent's batch tasks (its scheduler replaces it). */
  private async inBatch(inst: Instance): Promise<boolean> {
    if (inst.role !== 'specialist' || !inst.parentId || !inst.taskId) return false;
    return (await this.scheduler.nameOf(inst.parentId, inst.taskId)) !== null;
  }

  /** Whether a death of this instance is answered with a successor (its scheduler's, or its role's policy). */
  private async replacedOnDeath(inst: Instance): Promise<boolean> {
    return (await this.inBatch(inst)) || recoveryPolicy(this.deps.config, inst.role).onDeath === 'replace';
  }

  private async recoveryCounts(id: string): Promise<RecoveryCounts> {
    const raw = await this.store.meta.get(RECOVERY_META + id);
    return { restarts: 0, stuckSpells: 0, ...(raw ? (JSON.parse(raw) as Partial<RecoveryCounts>) : {}) };
  }

  private async saveRecoveryCounts(id: string, counts: RecoveryCounts): Promise<void> {
    await this.store.meta.set(RECOVERY_META + id, JSON.stringify(counts));
  }

  /** One scheduled restart, unless someone restarted or terminated the instance meanwhile. */
  private async recover(id: string, attempt: number): Promise<void> {
    const inst = await this.store.instances.get(id);
    if (this.closing || !inst || inst.state !== 'dead') return;
    await this.recoveryEvent(id, 'restart', attempt);
    // A restart that fails leaves the instance dead again, which plans the next attempt (or gives up).
    await this.restartInstance(inst, 'supervisor').catch((err: unknown) =>
      this.deps.log.warn({ err, instance: id, attempt }, 'automatic restart failed'),
    );
  }

  /**
   * One scheduled replacement (policy `replace`), unless someone restarted or terminated the instance
   * meanwhile: a successor with the same role, parent, name and task starts, briefed on this attempt, and
   * takes over its open mail. A successor that fails to start is reported to
   * the parent and the dead instance is left as it is.
   */
  private async replaceDead(id: string, attempt: number): Promise<void> {
    const inst = await this.store.instances.get(id);
    if (this.closing || !inst || inst.state !== 'dead') return;
    const successor = newInstanceId(inst.role);
    try {
      const task = inst.taskId ? await this.store.tasks.get(inst.taskId) : null;
      // Reserved for the successor, so nobody else claims it in between.
      if (task?.state === 'ready') await this.coordinator.assign(task.id, successor);
      await this.saveRecoveryCounts(successor, { restarts: attempt, stuckSpells: 0 });
      await this.recoveryEvent(id, 'replace', attempt, { successor });
      await this.launch({
        run: await this.mustGetRun(inst.runId),
        parent: inst.parentId ? await this.mustGet(inst.parentId) : null,
        role: inst.role,
        name: inst.name,
        agent: inst.agent,
        taskId: inst.taskId ?? undefined,
        id: successor,
        predecessor: inst,
      });
      await this.succeed(inst, successor, []);
    } catch (err) {
      this.deps.log.warn({ err, instance: id, successor }, 'could not start a successor');
      if (inst.parentId) {
        const why = err instanceof Error ? err.message : String(err);
        await this.notifyFromSupervisor(
          inst.parentId,
          `No successor could be started for ${inst.id}: ${why}. Restart it with restart(id: "${inst.id}"), or terminate it.`,
          'instance.failed',
        );
      }
    }
  }

  /**
   * A successor is running: the predecessor's open mail (but `except`) moves to it. The dead predecessor is
   * left for its parent to restart or terminate (its branch may hold work worth keeping).
   */
  private async succeed(predecessor: Instance, successor: string, except: readonly string[]): Promise<void> {
    // The supervisor's nudges were about the predecessor's silence; they mean nothing to the successor.
    const nudges = (await this.store.messages.inbox(predecessor.id, ['pending', 'delivered']))
      .filter((e) => e.message.from === 'supervisor' && e.message.subject === 'nudge')
      .map((e) => e.message.id);
    await this.bus.handOver(predecessor.id, successor, [...except, ...nudges]);
  }

  /**
   * Takes an instance's work back while it lives on (blocked or hung for good): its task leases and
   * reservations are released — fenced, so its late completion is refused — and tasks reserved for it are
   * opened to anyone, so its parent's scheduler or another instance takes them. Its parent is told.
   */
  private async releaseWork(inst: Instance, why: string, subject: string): Promise<void> {
    if (this.workReleased.has(inst.id)) return;
    this.workReleased.add(inst.id);
    const reason = `${inst.state === 'blocked' ? 'holder blocked' : 'holder unresponsive'}: ${why}`;
    const released = await this.coordinator.releaseHolder(inst.id, reason);
    const reserved = await this.store.tasks.list({ assignee: inst.id, states: ['ready'] });
    for (const t of reserved) await this.coordinator.assign(t.id, null);
    this.signals.notify(tasksChanged(inst.runId));
    await this.recoveryEvent(inst.id, 'release', 0, { reason });
    if (!inst.parentId) return;
    const tasks = [...released, ...reserved];
    await this.notifyFromSupervisor(
      inst.parentId,
      `${inst.id} (${inst.role}) is ${why}. ` +
        (tasks.length
          ? `Its task(s) went back to the pool for someone else: ${tasks.map((t) => `${t.id} (${t.state})`).join(', ')}; a late completion by ${inst.id} would be refused. `
          : 'It held no task. ') +
        `It is left as it is: attach with \`tmux-claude attach ${inst.id}\`, restart or terminate it. Its last output:\n` +
        (await this.screenTail(inst, 15)),
      subject,
    );
  }

  /** Stops planned recoveries (the supervisor is shutting down). */
  close(): void {
    this.closing = true;
    this.budgets.close();
    this.rateLimits.close();
    for (const t of this.recoveryTimers) clearTimeout(t);
    this.recoveryTimers.clear();
  }

  /** Tells a dead instance's parent why it died, what it showed last, what became of its tasks, what is next. */
  private async reportDeath(
    inst: Instance,
    reason: string,
    released: readonly Task[],
    next: string,
  ): Promise<void> {
    const screen = await this.screenTail(inst, 15);
    const tasks = released.length
      ? `Its task(s) went back to the pool: ${released.map((t) => `${t.id} (${t.state})`).join(', ')}.`
      : 'It held no task.';
    const body = `${inst.id} (${inst.role}) died: ${reason}. ${tasks}\n${next}\nIts last output:\n${screen}`;
    await this.notifyFromSupervisor(inst.parentId!, body, 'instance.failed').catch((err: unknown) =>
      this.deps.log.warn({ err, instance: inst.id }, 'could not tell the parent about a death'),
    );
  }

  /** Marks a starting instance ready once it has shown every sign its adapter needs. */
  private async noteReadiness(id: string, sign: 'hook' | 'mcp'): Promise<void> {
    const seen = this.readiness.get(id) ?? { hook: false, mcp: false };
    seen[sign] = true;
    this.readiness.set(id, seen);
    const inst = await this.store.instances.get(id);
    if (!inst || inst.state !== 'starting') return;
    const adapter = adapterFor(inst.agent);
    if ((adapter.readyNeedsHook && !seen.hook) || (adapter.readyNeedsMcp && !seen.mcp)) return;
    this.readiness.delete(id);
    await this.transition(id, ['starting'], 'idle', 'agent ready');
    this.kickDelivery(id);
  }

  /** The next batch of pending mail as one prompt text, oldest first; null when there is none. */
  private async pendingPrompt(id: string): Promise<{ text: string; envelopes: Envelope[] } | null> {
    const envelopes = await this.bus.nextPush(id);
    if (envelopes.length === 0) return null;
    const roles = new Map<string, string>();
    for (const { message: m } of envelopes) {
      if (!roles.has(m.from)) roles.set(m.from, (await this.store.instances.get(m.from))?.role ?? m.from);
    }
    const text = formatMessages(
      envelopes.map(({ message: m, delivery: d }) => ({
        messageId: m.id,
        senderId: m.from,
        senderRole: roles.get(m.from)!,
        body: m.body,
        subject: m.subject,
        replyTo: m.replyTo,
        topic: m.topic,
        topicSeq: m.topicSeq,
        requiresAck: m.requiresAck,
        redelivered: d.attempts > 0 || d.deliveredAt !== null,
      })),
    );
    return { text, envelopes };
  }

  /** At the end of a busy agent's turn: hand its pending messages over in the Stop hook's answer. */
  private async handOverAtStop(id: string): Promise<Record<string, unknown> | null> {
    // A paused subtree's messages wait in the store until its budget is raised.
    if (await this.budgets.pausedOver(id)) return null;
    this.delivering.add(id);
    try {
      const pending = await this.pendingPrompt(id);
      if (!pending) return null;
      await this.bus.confirmDelivered(id, pending.envelopes, 'stop-hook', Date.now());
      return { decision: 'block', reason: pending.text };
    } finally {
      this.delivering.delete(id);
    }
  }

  /**
   * A sign of life (a hook, an MCP request): renews the instance's leases and ends a `stuck` spell. Never
   * delays the request that showed it.
   */
  private renewForActivity(id: string): void {
    this.activity.set(id, Date.now());
    this.workReleased.delete(id);
    this.coordinator
      .touch(id)
      .catch((err: unknown) => this.deps.log.warn({ err, instance: id }, 'lease renewal failed'));
    if (this.stuckStage.delete(id)) {
      this.transition(id, ['stuck'], 'busy', 'active again').catch((err: unknown) =>
        this.deps.log.warn({ err, instance: id }, 'stuck → busy failed'),
      );
    }
  }

  /**
   * The stuck-agent ladder, run by the sweep: a busy instance with no output, hook or tool call for its
   * role's `stuckAfterMs` is marked stuck and nudged (a message it gets at the end of its turn); after half as
   * long again its turn is interrupted (the CLI's interrupt key); after twice the time it is restarted in place
   * (or, when its death would be answered with a successor, its session is killed so that one takes over).
   * From the fourth spell on it is ended the same way when a successor would follow, else its parent is told
   * and its work is released to others. An instance
   * blocked on a dialog for `stuckAfterMs` loses its work the same way (its parent was told at once).
   */
  private async checkStuck(live: readonly Instance[], sessions: Map<string, SessionInfo>): Promise<void> {
    const now = Date.now();
    for (const inst of live) {
      const after = recoveryPolicy(this.deps.config, inst.role).stuckAfterMs;
      if (after <= 0) continue;
      if (!this.activity.has(inst.id)) this.activity.set(inst.id, inst.updatedAt);
      if (inst.state === 'blocked') {
        // Waiting out a rate limit: the supervisor holds its leases and resumes it at the reset time.
        if (this.rateLimits.isWaiting(inst.id)) continue;
        const blockedFor = now - this.activity.get(inst.id)!;
        if (blockedFor >= after) {
          await this.releaseWork(
            inst,
            `still blocked on a dialog after ${Math.round(blockedFor / 1000)} s`,
            'blocked',
          );
        }
        continue;
      }
      if (inst.state !== 'busy' && inst.state !== 'stuck') {
        this.stuckStage.delete(inst.id);
        continue;
      }
      const last = Math.max(this.activity.get(inst.id)!, sessions.get(inst.tmuxSession)?.outputAt ?? 0);
      const quiet = now - last;
      const stage = this.stuckStage.get(inst.id) ?? 0;
      const seconds = Math.round(quiet / 1000);
      if (stage === 0 && quiet >= after) {
        const counts = await this.recoveryCounts(inst.id);
        const spells = counts.stuckSpells + 1;
        await this.saveRecoveryCounts(inst.id, { ...counts, stuckSpells: spells });
        await this.transition(inst.id, ['busy'], 'stuck', `no output, hook or tool call for ${seconds} s`);
        if (spells > MAX_STUCK_SPELLS) {
          // The ladder did not help (e.g. its model keeps hanging). Where a death is answered with a
          // successor, end it so one takes over task and mail; otherwise its parent decides, once.
          this.stuckStage.set(inst.id, 3);
          if (await this.replacedOnDeath(inst)) {
            await this.recoveryEvent(inst.id, 'replace', spells);
            await this.deps.tmux.killSession(inst.tmuxSession);
            continue;
          }
          await this.recoveryEvent(inst.id, 'gave-up', spells);
          await this.releaseWork(
            { ...inst, state: 'stuck' },
            `stuck again (${spells} times): no output, hook or tool call for ${seconds} s; interrupting and restarting did not help`,
            'instance.stuck',
          );
          continue;
        }
        this.stuckStage.set(inst.id, 1);
        await this.recoveryEvent(inst.id, 'nudge', 1);
        await this.notifyFromSupervisor(
          inst.id,
          `You have shown no sign of activity for ${seconds} s. If you are waiting for someone, end your turn ` +
            'or call wait_for_messages; for long work without tool calls, call heartbeat now and then.',
          'nudge',
        );
      } else if (stage === 1 && quiet >= after * 1.5) {
        this.stuckStage.set(inst.id, 2);
        await this.recoveryEvent(inst.id, 'interrupt', 2);
        await this.deps.tmux
          .sendKeys(inst.tmuxSession, [...adapterFor(inst.agent).interruptKeys])
          .catch((err: unknown) => this.deps.log.warn({ err, instance: inst.id }, 'interrupt failed'));
      } else if (stage === 2 && quiet >= after * 2) {
        this.stuckStage.delete(inst.id);
        this.activity.set(inst.id, now);
        if (await this.replacedOnDeath(inst)) {
          // Its death is answered with a successor (the scheduler's, or the role's policy).
          await this.recoveryEvent(inst.id, 'replace', 3);
          await this.deps.tmux.killSession(inst.tmuxSession);
          continue;
        }
        await this.recoveryEvent(inst.id, 'restart', 3);
        void this.restartInstance(inst, 'supervisor').catch((err: unknown) =>
          this.deps.log.warn({ err, instance: inst.id }, 'restart of a stuck instance failed'),
        );
      }
    }
  }

  private recoveryEvent(
    id: string,
    action: EventDataByKind['instance.recovery']['action'],
    attempt: number,
    extra: { successor?: string; reason?: string } = {},
  ): Promise<void> {
    return this.emit({
      kind: 'instance.recovery',
      actor: 'supervisor',
      instanceId: id,
      data: { action, attempt, ...extra },
    });
  }

  /** Tells a task's creator (when it is a live instance) that the task finished or was lost. */
  private async tellTaskOutcome(notice: TaskNotice): Promise<void> {
    const msg = await this.work.noticeBody(notice);
    if (msg) await this.notifyFromSupervisor(msg.to, msg.body, msg.subject);
  }

  /** A message from the supervisor itself (e.g. "your child is blocked"), delivered like any other. */
  private async notifyFromSupervisor(to: string, body: string, subject: string): Promise<void> {
    const inst = await this.store.instances.get(to);
    if (!inst || !isLive(inst.state)) return;
    await this.bus.send(this.senderOf(null, inst.runId, 'supervisor'), { to, body, subject });
  }

  /** Publishes on a built-in topic; a failure is logged, never thrown (the fact is in the audit trail). */
  private async publishSystem(
    runId: string,
    topic: SystemTopic,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.bus
      .publishSystem(runId, topic, data)
      .catch((err: unknown) => this.deps.log.warn({ err, topic }, 'system topic publish failed'));
  }

  /** The bus's view of who sends: an instance, or the user / the supervisor within a run. */
  private senderOf(
    who: Pick<Caller, 'id' | 'role' | 'parentId'> | null,
    runId: string,
    anonymous: 'user' | 'supervisor' = 'user',
  ): Sender {
    return who
      ? { id: who.id, role: who.role, runId, parentId: who.parentId }
      : { id: anonymous, role: null, runId, parentId: null };
  }

  /** Waits until a message has left pending for every recipient (delivered, acked or dead). */
  private async waitDelivered(messageId: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const deliveries = await this.store.messages.deliveriesOf(messageId);
      if (deliveries.every((d) => d.state === 'delivered' || d.state === 'acked')) return true;
      if (deliveries.some((d) => d.state === 'dead')) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.signals.wait(`delivered:${messageId}`, Math.min(left, 1_000));
    }
  }

  private kickDelivery(id: string): void {
    this.deliverPending(id).catch((err: unknown) =>
      this.deps.log.warn({ err, instance: id }, 'delivery failed'),
    );
  }

  /**
   * Pastes the next batch of pending mail for an idle recipient as one prompt and waits for its
   * UserPromptSubmit hook; Enter is re-sent once if the hook has not come. An unconfirmed paste counts as a
   * failed attempt (the bus backs off and dead-letters). One delivery per recipient at a time.
   */
  private async deliverPending(id: string): Promise<void> {
    if (this.delivering.has(id)) return;
    this.delivering.add(id);
    try {
      const inst = await this.store.instances.get(id);
      // Another host's supervisor delivers to its own instances (woken by the store's change hints).
      if (!inst || inst.state !== 'idle' || !this.owns(inst)) return;
      if (await this.budgets.pausedOver(id)) return;
      const pending = await this.pendingPrompt(id);
      if (!pending) return;
      const ids = pending.envelopes.map((e) => e.message.id);
      const flight = { ids, confirmed: false };
      this.inFlight.set(id, flight);
      const started = Date.now();
      let landed = this.signals.wait(`prompt:${id}`, DELIVERY_CONFIRM_MS);
      await this.deps.tmux.paste(inst.tmuxSession, pending.text, {
        enterDelayMs: adapterFor(inst.agent).enterDelayMs,
      });
      if (!(await landed) && !flight.confirmed) {
        landed = this.signals.wait(`prompt:${id}`, DELIVERY_CONFIRM_MS);
        await this.deps.tmux.sendEnter(inst.tmuxSession);
        await landed;
      }
      if (!flight.confirmed) {
        this.deps.log.warn({ instance: id, messages: ids.length }, 'delivery not confirmed');
        await this.bus.pushFailed(id, pending.envelopes, 'the prompt was not confirmed by the agent');
        return;
      }
      await this.bus.confirmDelivered(id, pending.envelopes, 'paste', started);
    } finally {
      this.inFlight.delete(id);
      this.delivering.delete(id);
    }
    // More may have arrived meanwhile, or the batch was capped.
    if ((await this.store.messages.pendingCounts([id])).size > 0) this.kickDelivery(id);
  }

  private async views(instances: readonly Instance[]): Promise<InstanceView[]> {
    const pending = await this.store.messages.pendingCounts(
      instances.filter((i) => isLive(i.state)).map((i) => i.id),
    );
    return instances.map((i) => ({
      id: i.id,
      runId: i.runId,
      role: i.role,
      parentId: i.parentId,
      name: i.name,
      state: i.state,
      branch: i.branch,
      agent: i.agent,
      tmuxSession: i.tmuxSession,
      host: i.host,
      pid: i.pid,
      taskId: i.taskId,
      error: i.error,
      pendingMessages: pending.get(i.id) ?? 0,
      progress: i.progress,
      blockedUntil: i.state === 'blocked' ? this.rateLimits.blockedUntil(i.id) : null,
    }));
  }

  private spawnResult(i: Instance): SpawnResult {
    return {
      id: i.id,
      role: i.role,
      branch: i.branch,
      worktree: i.worktree,
      tmuxSession: i.tmuxSession,
      host: i.host,
    };
  }

  private async mustGet(id: string): Promise<Instance> {
    const inst = await this.store.instances.get(id);
    if (!inst) throw new TmuxClaudeError('NOT_FOUND', `instance ${JSON.stringify(id)} not found`);
    return inst;
  }

  private async mustGetRun(id: string): Promise<Run> {
    const run = await this.store.runs.get(id);
    if (!run) throw new TmuxClaudeError('NOT_FOUND', `run ${id} not found`);
    return run;
  }
}

/** Progress from an agent's own task tools (Claude Code's TodoWrite): share of todos completed. */
function progressFromTool(
  tool: unknown,
  input: unknown,
): { percent: number | null; note: string | null } | null {
  if (tool !== 'TodoWrite') return null;
  const todos = (input as { todos?: Array<{ content?: string; status?: string }> } | null)?.todos;
  if (!Array.isArray(todos) || todos.length === 0) return null;
  const done = todos.filter((t) => t.status === 'completed').length;
  const current = todos.find((t) => t.status === 'in_progress')?.content ?? null;
  return { percent: Math.round((done / todos.length) * 100), note: current };
}
