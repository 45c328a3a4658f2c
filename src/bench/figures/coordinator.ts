/**
 * Figure 8: the work coordinator. Two questions, each beside a baseline measured in the same run:
 *
 * - **Claims under contention.** How many claim → complete cycles per second the coordinator sustains when
 *   many claimants drain one run's tasks at once: through the real supervisor (light-runtime specialists
 *   spawned without a prompt, so their agents idle, while the benchmark holds an MCP SDK client with each
 *   one's token and loops `claim_task` → `complete_task`), and on the store alone (many async clients on one
 *   in-process {@link SqliteStore}). Baseline: {@link bareSqliteClaims}, the least a claim can cost on SQLite.
 * - **Lease hand-over after the holder dies.** A fresh specialist claims a fresh task; another instance's
 *   client is parked in `claim_task {wait_s}`; the holder's agent is killed with SIGKILL. Timed from the kill
 *   until the waiting call returns that task, under the next fencing epoch (checked; a wrong epoch or task
 *   fails the benchmark). The moment tmux reaped the agent (its /proc entry gone) and the supervisor's audit
 *   events split the time into stages. Baseline:
 *   `TmuxBaseline.paneDied` (baseline.ts), the same kill and the same pane-died hook on a bare tmux server,
 *   one trial after each hand-over.
 *
 * The Executive creates the tasks, so every completion and every lost task sends it a notice. So that these
 * land in the store instead of being pasted into its pane (which would start agent turns that compete for
 * the CPU), its agent is first put into one long turn ({@link BenchOrg.keepBusy}), and stays that slow for the
 * rest of the run: run this figure last.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newTaskId, type AuditEvent } from '../../core/index.js';
import type { TaskView } from '../../mcp/index.js';
import { SqliteStore } from '../../store/index.js';
import { callTool, type BenchOrg, type Spawned } from '../bench-org.js';
import { bareSqliteClaims } from '../coordinator-baseline.js';
import { ProcessSampler, whenReaped } from '../proc.js';
import { median, quantile } from '../stats.js';
import { cpuRow, row, type Figure, type Row } from '../types.js';
import { sleep, type BenchContext } from './context.js';

export interface CoordinatorPlan {
  /** Specialists claiming through the supervisor at once, each with its own MCP client. */
  workers: number;
  /** Tasks the Executive creates up front for them. */
  tasks: number;
  /** Async clients claiming at once on one in-process SqliteStore. */
  storeClients: number;
  /** Tasks per store-level round, and per bare-baseline round. */
  storeTasks: number;
  /** Store-level rounds and as many bare-baseline rounds, interleaved, each on a fresh file. */
  storeRounds: number;
  /** Hand-over trials, each with a fresh holder (and as many bare pane-died trials). */
  handOvers: number;
}

export interface CoordinatorOptions extends CoordinatorPlan {
  /** Called just before and just after the claim load through the supervisor (e.g. to profile it). */
  around?: { before: () => Promise<void>; after: () => Promise<void> } | undefined;
}

export interface CoordinatorResult {
  figure: Figure;
}

/** How long the waiter's claim_task is parked before the holder is killed (and the bare sleep before its kill). */
const HEAD_START_MS = 50;
/** The waiter's claim_task wait_s: far beyond any plausible hand-over. */
const WAIT_S = 60;
/** The Executive's turn length while this figure runs (the scripted model's maximum). */
const EXECUTIVE_BUSY_MS = 600_000;
/** A reap later than this after the kill is a late one (tmux reaps a killed child within a few ms). */
const LATE_REAP_MS = 100;
/** Tool calls made at once when the Executive creates the tasks. */
const CREATE_CONCURRENCY = 8;
/** Tasks per worker drained (not measured) before the measured load: JIT, connections, prepared statements. */
const WARM_UP_PER_WORKER = 4;

/** What claim_task answers. */
interface ClaimView {
  task: TaskView | null;
  epoch?: number;
  reason?: string;
}

// ---- claims through the supervisor ------------------------------------------------------------------

/** Creates `n` tasks as the Executive with create_task, a few calls at once; their ids and call times. */
export async function createTasks(
  org: BenchOrg,
  n: number,
  label: string,
): Promise<{ ids: string[]; callMs: number[] }> {
  const ids: string[] = [];
  const callMs: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = performance.now();
        const { task } = await org.asExecutive<{ task: TaskView }>('create_task', { title: `${label} ${i}` });
        callMs.push(performance.now() - t0);
        ids.push(task.id);
      }
    }),
  );
  return { ids, callMs };
}

export interface Drain {
  /** claim_task calls that were granted a task. */
  claimMs: number[];
  completeMs: number[];
  /** Task ids in the order they were granted. */
  granted: string[];
  /** Granted epochs other than 1 (every task was fresh: a claim must be its first). */
  reclaimed: number;
  /** From the start until the last completion. */
  wallMs: number;
}

/** Every client loops claim_task (no id) → complete_task until no task is left for it. */
export async function drain(clients: readonly Client[]): Promise<Drain> {
  const d: Drain = { claimMs: [], completeMs: [], granted: [], reclaimed: 0, wallMs: 0 };
  const t0 = performance.now();
  let lastDone = t0;
  await Promise.all(
    clients.map(async (client) => {
      for (;;) {
        const start = performance.now();
        const claim = await callTool<ClaimView>(client, 'claim_task');
        const claimed = performance.now();
        if (claim.task === null) return;
        d.claimMs.push(claimed - start);
        d.granted.push(claim.task.id);
        if (claim.epoch !== 1) d.reclaimed++;
        await callTool(client, 'complete_task', { task_id: claim.task.id, epoch: claim.epoch });
        lastDone = performance.now();
        d.completeMs.push(lastDone - claimed);
      }
    }),
  );
  d.wallMs = lastDone - t0;
  return d;
}

/** Fails loudly unless every id was granted exactly once and the supervisor lists every one of them done. */
async function checkDrained(org: BenchOrg, ids: readonly string[], d: Drain): Promise<void> {
  const granted = new Set(d.granted);
  const missing = ids.filter((id) => !granted.has(id));
  if (d.granted.length !== ids.length || granted.size !== ids.length || missing.length > 0 || d.reclaimed) {
    throw new Error(
      `fig 8: ${ids.length} tasks, ${d.granted.length} grants of ${granted.size} distinct tasks, ` +
        `${missing.length} never granted, ${d.reclaimed} granted under an epoch other than 1`,
    );
  }
  const { tasks } = await org.api.request<{ tasks: TaskView[] }>('GET', `/tasks?run=${org.runId}`);
  const want = new Set(ids);
  const done = tasks.filter((t) => want.has(t.id) && t.state === 'done').length;
  if (done !== ids.length) throw new Error(`fig 8: ${done} of ${ids.length} tasks are done after the load`);
}

// ---- claims on the store alone ----------------------------------------------------------------------

/**
 * One store-level round: `tasks` ready tasks in a fresh store file (under `parent`, which the benchmark's
 * cleanup removes even when interrupted), then `clients` async clients each loop
 * claim (no id, with the creators the coordinator passes) → complete until none is left. better-sqlite3 is
 * synchronous, so the clients interleave at their awaits on one connection, as the supervisor's requests do.
 */
async function storeRound(parent: string, clients: number, tasks: number): Promise<number> {
  const dir = mkdtempSync(join(parent, 'store-'));
  const store = new SqliteStore(join(dir, 'store.db'));
  try {
    const runId = 'bench-run';
    const creator = 'bench-executive';
    const createdAt = Date.now();
    await store.tasks.create(
      Array.from({ length: tasks }, (_, i) => ({
        id: newTaskId(),
        runId,
        title: `task ${i}`,
        description: '',
        dependsOn: [],
        files: [],
        priority: 0,
        createdBy: creator,
        assignee: null,
        maxAttempts: 3,
        createdAt: createdAt + i,
      })),
    );
    let granted = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, k) => {
        const me = `client-${k}`;
        for (;;) {
          const claim = await store.tasks.claim({
            runId,
            claimant: me,
            creators: [creator, me],
            ttlMs: 120_000,
            now: Date.now(),
          });
          if (!claim.granted) {
            if (claim.reason === 'none_ready') return;
            throw new Error(`fig 8: store claim refused: ${claim.reason}`);
          }
          const done = await store.tasks.complete(
            claim.task.id,
            me,
            claim.task.epoch,
            { result: null, branch: null },
            Date.now(),
          );
          if (!done.ok) throw new Error(`fig 8: store completion refused: ${done.reason}`);
          granted++;
        }
      }),
    );
    const wallMs = performance.now() - t0;
    if (granted !== tasks) throw new Error(`fig 8: the store granted ${granted} of ${tasks} tasks`);
    return tasks / (wallMs / 1000);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- hand-over after the holder dies ----------------------------------------------------------------

interface HandOver {
  /** From kill -9 of the holder's agent until the waiter's claim_task returned the task. */
  ms: number[];
  /** The same span cut where tmux reaped the agent (its /proc entry gone) and at the supervisor's audit events. */
  killToReaped: number[];
  reapedToDead: number[];
  deadToReleased: number[];
  releasedToClaimed: number[];
  claimedToAnswer: number[];
  /** Trials whose instance record named another pid than the pane's process (the pane's was killed). */
  pidMismatches: number;
  /** The bare pane-died trials, one after each hand-over (so both see the same machine load). */
  bare: { ms: number[]; reapedMs: number[]; nudged: number };
}

/** The holder's agent: the process in its pane (the light runtime runs there directly; see figure 5). */
async function agentPid(org: BenchOrg, holder: Spawned): Promise<{ pid: number; recorded: number | null }> {
  const pid = org.panePids().get(holder.tmuxSession);
  if (pid === undefined) throw new Error(`fig 8: no pane for ${holder.id} (${holder.tmuxSession})`);
  const recorded = (await org.instances()).find((i) => i.id === holder.id)?.pid ?? null;
  return { pid, recorded };
}

/** The audit timestamps of one hand-over, or an error naming the one that is missing. */
function stages(events: readonly AuditEvent[], holder: string, waiter: string, taskId: string) {
  const dead = events.find(
    (e) => e.kind === 'instance.state' && e.instanceId === holder && e.data.to === 'dead',
  );
  const released = events.find((e) => e.kind === 'task.released' && e.data.taskId === taskId);
  const claimed = events.find(
    (e) => e.kind === 'task.claimed' && e.data.taskId === taskId && e.actor === waiter,
  );
  if (!dead || !released || !claimed) {
    throw new Error(
      `fig 8: audit events of the hand-over of ${taskId} missing: ` +
        `${[!dead && 'instance dead', !released && 'task.released', !claimed && 'task.claimed'].filter(Boolean).join(', ')}`,
    );
  }
  return { dead: dead.ts, released: released.ts, claimed: claimed.ts };
}

/**
 * `trials` hand-overs (after one discarded warm-up), each to the same waiter, each followed by a bare
 * pane-died trial in the lab. Spawning the holder, creating and claiming its task happen before the clock
 * starts; terminating the dead holder after it stops.
 */
async function handOvers(ctx: BenchContext, waiter: Spawned, waiterClient: Client, trials: number) {
  const { org } = ctx;
  const h: HandOver = {
    ms: [],
    killToReaped: [],
    reapedToDead: [],
    deadToReleased: [],
    releasedToClaimed: [],
    claimedToAnswer: [],
    pidMismatches: 0,
    bare: { ms: [], reapedMs: [], nudged: 0 },
  };
  for (let i = -1; i < trials; i++) {
    const holder = await org.spawnSpecialist(`coord-holder-${i + 1}`);
    try {
      const { task } = await org.asExecutive<{ task: TaskView }>('create_task', { title: `hand-over ${i}` });
      const holderClient = await org.connectAs(holder.tmuxSession);
      const held = await callTool<ClaimView>(holderClient, 'claim_task', { task_id: task.id }).finally(() =>
        holderClient.close().catch(() => undefined),
      );
      if (held.task?.id !== task.id || held.epoch === undefined) {
        throw new Error(`fig 8: the holder's claim of ${task.id} answered ${JSON.stringify(held)}`);
      }
      const { pid, recorded } = await agentPid(org, holder);
      const { seq } = await org.api.request<{ seq: number }>('GET', '/events/head');

      const waited = callTool<ClaimView>(
        waiterClient,
        'claim_task',
        { wait_s: WAIT_S },
        (WAIT_S + 30) * 1000,
      ).then((r) => ({ r, at: performance.now() }));
      waited.catch(() => undefined); // awaited below; a failure before then must not go unhandled
      await sleep(HEAD_START_MS);
      const killedAt = Date.now();
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      const reaped = whenReaped(pid);
      const { r, at } = await waited;
      const reapedAt = await reaped;

      if (r.task?.id !== task.id) {
        throw new Error(
          `fig 8: the waiter got ${r.task ? `task ${r.task.id}` : `no task (${r.reason})`}, not ${task.id}`,
        );
      }
      if (r.epoch !== held.epoch + 1) {
        throw new Error(
          `fig 8: the waiter got ${task.id} at epoch ${r.epoch}; the dead holder had epoch ${held.epoch}`,
        );
      }
      await callTool(waiterClient, 'complete_task', { task_id: task.id, epoch: r.epoch });
      if (reapedAt === null) throw new Error(`fig 8: the holder's agent ${pid} was never reaped`);
      if (i >= 0) {
        const ms = at - t0;
        const events = await org.api.request<AuditEvent[]>('GET', `/events?after=${seq}`);
        const s = stages(events, holder.id, waiter.id, task.id);
        h.ms.push(ms);
        h.killToReaped.push(reapedAt - t0);
        h.reapedToDead.push(s.dead - killedAt - (reapedAt - t0));
        h.deadToReleased.push(s.released - s.dead);
        h.releasedToClaimed.push(s.claimed - s.released);
        h.claimedToAnswer.push(killedAt + ms - s.claimed);
        if (recorded !== pid) h.pidMismatches++;
      }
    } finally {
      await org.terminate([holder.id]);
    }
    const bare = await ctx.lab.paneDied(HEAD_START_MS);
    if (i < 0) continue; // warm-up
    h.bare.ms.push(bare.ms);
    h.bare.reapedMs.push(bare.reapedMs);
    if (bare.nudged) h.bare.nudged++;
  }
  return h;
}

// ---- the figure -------------------------------------------------------------------------------------

export async function coordinatorFigure(
  ctx: BenchContext,
  plan: CoordinatorOptions,
): Promise<CoordinatorResult> {
  const { org, progress } = ctx;
  const notes: string[] = [];
  const byName = await org.spawnSpecialists(
    Array.from({ length: plan.workers }, (_, i) => `coord-worker-${i}`),
    'fig 8',
  );
  const workers = [...byName.values()];
  const clients: Client[] = [];
  try {
    if (workers.length === 0) throw new Error('fig 8: no worker came up');
    clients.push(...(await Promise.all(workers.map((w) => org.connectAs(w.tmuxSession)))));
    await org.keepBusy(org.executive.id, EXECUTIVE_BUSY_MS);

    // ---- 1a. claims through the supervisor ----
    const warm = await createTasks(org, WARM_UP_PER_WORKER * clients.length, 'warm-up');
    await checkDrained(org, warm.ids, await drain(clients));
    const created = await createTasks(org, plan.tasks, 'claim load');
    await plan.around?.before();
    const supervisor = new ProcessSampler([org.supervisorPid]).start();
    const load = await drain(clients);
    const supCpu = supervisor.stop();
    await plan.around?.after();
    await checkDrained(org, created.ids, load);
    const perSecond = load.granted.length / (load.wallMs / 1000);
    progress(
      `fig 8: ${clients.length} specialists claimed and completed ${load.granted.length} tasks in ` +
        `${(load.wallMs / 1000).toFixed(1)} s (${perSecond.toFixed(0)}/s), claim_task p50 ` +
        `${median(load.claimMs).toFixed(1)} ms, supervisor ${supCpu.meanCpuPercent.toFixed(0)} % CPU`,
    );

    // ---- 1b. claims on the store alone, interleaved with the bare baseline ----
    const storeRates: number[] = [];
    const bareRates: number[] = [];
    const bareClaimMs: number[] = [];
    const bareDoneMs: number[] = [];
    for (let r = -1; r < plan.storeRounds; r++) {
      const bare = bareSqliteClaims(plan.storeTasks);
      const store = await storeRound(org.root, plan.storeClients, plan.storeTasks);
      if (r < 0) continue; // warm-up
      bareRates.push(bare.cyclesPerSecond);
      bareClaimMs.push(...bare.claimMs);
      bareDoneMs.push(...bare.doneMs);
      storeRates.push(store);
    }
    progress(
      `fig 8: store ${median(storeRates).toFixed(0)} claims/s with ${plan.storeClients} clients; ` +
        `baseline bare SQLite ${median(bareRates).toFixed(0)} claims/s`,
    );

    // ---- 2. hand-over after the holder dies ----
    const h = await handOvers(ctx, workers[0]!, clients[0]!, plan.handOvers);
    progress(`fig 8: hand-over p50 ${median(h.ms).toFixed(0)} ms, p95 ${quantile(h.ms, 0.95).toFixed(0)} ms`);
    const died = h.bare;
    progress(`fig 8: baseline bare pane-died hook p50 ${median(died.ms).toFixed(0)} ms`);

    // ---- the figure ----
    const bareRate = { label: 'bare SQLite claim → done cycles/s', value: median(bareRates) };
    const bareClaim = { label: 'bare SQLite claim transaction', value: median(bareClaimMs) };
    const paneDied = { label: 'bare tmux pane-died hook', value: median(died.ms) };
    const bareReapedToHook = died.ms.map((ms, i) => ms - died.reapedMs[i]!);
    const late = (reapedMs: readonly number[]): number => reapedMs.filter((ms) => ms > LATE_REAP_MS).length;
    const onTime = h.ms.filter((_, i) => h.killToReaped[i]! <= LATE_REAP_MS);
    const cpuPerCycleMs =
      ((supCpu.meanCpuPercent / 100) * supCpu.seconds * 1000) / Math.max(load.granted.length, 1);
    const rows: Row[] = [
      row(
        `claim → complete cycles/s, ${clients.length} specialists through the supervisor (MCP)`,
        'claims/s',
        [perSecond],
        bareRate,
      ),
      row('claim_task call (no id) during that load', 'ms', load.claimMs, bareClaim),
      row('complete_task call during that load', 'ms', load.completeMs, {
        label: 'bare SQLite done transaction',
        value: median(bareDoneMs),
      }),
      cpuRow('supervisor CPU during that load', supCpu),
      row('supervisor CPU time per claim → complete cycle', 'ms', [cpuPerCycleMs], {
        label: 'bare SQLite claim → done cycle',
        value: 1000 / bareRate.value,
      }),
      row('context: create_task call (Executive, before the load)', 'ms', created.callMs),
      row(
        `claim → complete cycles/s, ${plan.storeClients} async clients on one SqliteStore`,
        'claims/s',
        storeRates,
        bareRate,
      ),
      row(
        'hand-over: kill -9 of the holder’s agent → waiting claim_task returns the task',
        'ms',
        h.ms,
        paneDied,
      ),
      row(
        'detection: kill -9 of the holder’s agent → instance marked dead (audit event)',
        'ms',
        h.killToReaped.map((reaped, i) => reaped + h.reapedToDead[i]!),
        paneDied,
      ),
      row(
        'hand-over from tmux’s reap of the agent → waiting claim_task returns the task',
        'ms',
        h.ms.map((ms, i) => ms - h.killToReaped[i]!),
        { label: 'bare reaped → hook POST', value: median(bareReapedToHook) },
      ),
      row('  of which kill → agent reaped by tmux (its /proc entry gone)', 'ms', h.killToReaped, {
        label: 'bare kill → sleep reaped',
        value: median(died.reapedMs),
      }),
      row(
        '  of which reaped → instance marked dead (pane-died hook, sweep; audit event)',
        'ms',
        h.reapedToDead,
        {
          label: 'bare reaped → hook POST',
          value: median(bareReapedToHook),
        },
      ),
      row('  of which dead → task released (audit event)', 'ms', h.deadToReleased),
      row('  of which released → claimed by the waiter (audit event)', 'ms', h.releasedToClaimed),
      row('  of which claimed → claim_task answered at the waiter', 'ms', h.claimedToAnswer),
      row('baseline: bare SQLite claim → done cycles/s (one client)', 'claims/s', bareRates),
      row('baseline: bare SQLite claim transaction (select first ready, update)', 'ms', bareClaimMs),
      row('baseline: bare SQLite done transaction', 'ms', bareDoneMs),
      row('baseline: bare tmux kill -9 → pane-died hook POST', 'ms', died.ms),
      row('baseline: bare tmux kill -9 → sleep reaped by tmux', 'ms', died.reapedMs),
      row('baseline: bare tmux sleep reaped → pane-died hook POST', 'ms', bareReapedToHook),
    ];
    notes.push(
      `Through the supervisor: ${load.granted.length} tasks, each granted exactly once under epoch 1 and listed ` +
        `done afterwards (checked), in ${(load.wallMs / 1000).toFixed(1)} s: ` +
        `${((perSecond / bareRate.value) * 100).toFixed(1)} % of the bare SQLite rate; the store alone reaches ` +
        `${((median(storeRates) / bareRate.value) * 100).toFixed(1)} % of it.`,
      `Hand-over: in all ${h.ms.length} trials (and the warm-up) the waiter got the dead holder’s task under ` +
        `the holder’s epoch + 1 (checked). Medians: kill → reaped ${median(h.killToReaped).toFixed(0)} ms, ` +
        `reaped → dead ${median(h.reapedToDead).toFixed(0)} ms (bare reaped → hook POST ` +
        `${median(bareReapedToHook).toFixed(0)} ms: mostly the hook’s \`node -e\` starting), dead → released ` +
        `${median(h.deadToReleased).toFixed(0)} ms, released → claimed ${median(h.releasedToClaimed).toFixed(0)} ms, ` +
        `claimed → answered ${median(h.claimedToAnswer).toFixed(0)} ms; max hand-over ${Math.max(...h.ms).toFixed(0)} ms.` +
        (h.pidMismatches
          ? ` In ${h.pidMismatches} trial(s) the instance record named another pid than the pane’s process.`
          : ''),
      `tmux reaped the killed agent more than ${LATE_REAP_MS} ms after the kill in ${late(h.killToReaped)} of ` +
        `${h.ms.length} trials (max ${Math.max(...h.killToReaped).toFixed(0)} ms), the bare sleep in ` +
        `${late(died.reapedMs)} of ${died.reapedMs.length}. pane-died fires only once tmux has reaped the ` +
        'process; a late reap matches the lost SIGCHLD the tmux driver describes (libutempter), which the ' +
        'supervisor’s periodic sweep (every 3 s) nudges. Such a reap dominates whichever sample it hits, so ' +
        'the hand-over is also compared from the reap on, where tmux-claude’s own work starts.' +
        (onTime.length > 0 && onTime.length < h.ms.length
          ? ` Hand-over over the ${onTime.length} trials reaped on time: median ${median(onTime).toFixed(0)} ms.`
          : ''),
    );
    if (died.nudged > 0) {
      notes.push(
        `Bare pane-died: in ${died.nudged} trial(s) tmux had not reaped the sleep after 2 s and was nudged ` +
          '(list-sessions; see the tmux driver); those samples include the 2 s.',
      );
    }
    progress('fig 8: done');
    return {
      figure: {
        id: 'coordinator',
        title: '8. Work coordinator: claims under contention, lease hand-over after the holder dies',
        method:
          `${workers.length} light-runtime specialists spawned by the Executive without a prompt (their agents ` +
          'idle); the benchmark holds a real MCP SDK client with each one’s token. The Executive’s agent is ' +
          'first put into one long turn (a slow-model knob), so the notice every completion sends it is stored, ' +
          `not pasted into its pane. **Claims:** the Executive creates ${plan.tasks} tasks with \`create_task\` ` +
          `(${CREATE_CONCURRENCY} calls at once; ${WARM_UP_PER_WORKER} per specialist are drained first as a ` +
          'warm-up), then every specialist’s client loops `claim_task {}` → `complete_task {task_id, epoch}` ' +
          'until no task is left; cycles/s is tasks over the time to the last completion. **Store alone:** ' +
          `${plan.storeRounds} rounds (after a warm-up) of ${plan.storeClients} async clients on one ` +
          `SqliteStore in the benchmark process draining ${plan.storeTasks} tasks the same way (\`tasks.claim\` ` +
          'with the creators the coordinator passes, then `tasks.complete`); better-sqlite3 is synchronous, so ' +
          'they interleave on one connection as the supervisor’s requests do. **Hand-over:** ' +
          `${plan.handOvers} trials (after a warm-up), each with a freshly spawned specialist (spawn not timed) ` +
          'that claims a fresh task by id; the first specialist’s client calls `claim_task ' +
          `{wait_s: ${WAIT_S}}\`, ${HEAD_START_MS} ms later the holder’s agent (the process in its pane) gets ` +
          'SIGKILL; timed until that call returns the task. Stages: tmux reaping the agent (its /proc entry ' +
          'polled every 2 ms), then the supervisor’s audit events `instance.state` → dead (pane-died hook → ' +
          'sweep), `task.released`, `task.claimed` (1 ms timestamps).',
        baseline:
          `Claims: better-sqlite3 on a fresh file with the store’s settings (WAL, synchronous = NORMAL), ` +
          `${plan.storeTasks} ready rows with a partial index on ready ones, one client claiming each with one ` +
          'IMMEDIATE transaction (select the first ready row, update it to claimed) and finishing it with a ' +
          `second (update it to done, fenced by owner and epoch); ${plan.storeRounds} rounds interleaved with ` +
          'the store-level ones. Hand-over: the baseline lab’s private tmux server with the supervisor’s ' +
          'pane-died hook (`run-shell -b` of a `node -e` that POSTs once) pointed at a local HTTP server; a pane ' +
          `runs \`sleep 1000\`, ${HEAD_START_MS} ms later the sleep gets SIGKILL; timed until the hook’s POST ` +
          `arrives, with the reap recorded the same way; one trial after each hand-over trial (warm-up included).`,
        rows,
        notes,
      },
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    const live = new Set((await org.instances()).filter((i) => i.state !== 'terminated').map((i) => i.id));
    await org.terminate(workers.map((w) => w.id).filter((id) => live.has(id)));
  }
}
