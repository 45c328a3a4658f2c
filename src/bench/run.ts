/** The whole benchmark: every figure in one process tree, in an order that reuses live instances. */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Spawned } from './bench-org.js';
import { BenchOrg } from './bench-org.js';
import { TmuxBaseline } from './baseline.js';
import type { Cleanup } from './cleanup.js';
import type { ProfileSummary } from './cpu-profile.js';
import { describeMachine } from './environment.js';
import {
  concurrentSpawnFigure,
  spawnAtOnce,
  topUp,
  type ConcurrentSpawn,
} from './figures/concurrent-spawn.js';
import type { BenchContext } from './figures/context.js';
import { demoFigure } from './figures/demo.js';
import { busFigure, type BusPlan } from './figures/bus.js';
import { coordinatorFigure, type CoordinatorPlan } from './figures/coordinator.js';
import { dashboardFigure, type DashboardPlan } from './figures/dashboard.js';
import { bareNodeRss, idleFigure, measureIdle, type IdleSample } from './figures/idle-footprint.js';
import { knowledgeFigure, type KnowledgePlan } from './figures/knowledge.js';
import { messageLoad, type LoadResult } from './figures/message-load.js';
import { perInstance } from './figures/per-instance.js';
import { benchRedisUrl, redisFigure, type RedisPlan } from './figures/redis.js';
import { redisUnreachable } from '../store/index.js';
import { spawnLatency } from './figures/spawn-latency.js';
import { SupervisorProfiler } from './profiling.js';
import { median, quantile } from './stats.js';
import { MB, type BenchResults, type Figure, type TargetCheck } from './types.js';

export interface BenchOptions {
  quick: boolean;
  command: string;
  /** Profile the supervisor during the message load and keep the .cpuprofile. */
  profile: boolean;
  progress: (line: string) => void;
}

interface Plan {
  sequentialSpawns: number;
  batches: number[];
  idleWindowMs: number;
  rounds: number;
  /** Figure 4's paced phase. */
  paced: { periodMs: number; windowMs: number };
  demoRuns: number;
  bus: BusPlan;
  coordinator: CoordinatorPlan;
  knowledge: KnowledgePlan;
  dashboard: DashboardPlan;
  redis: RedisPlan;
}

const FULL: Plan = {
  sequentialSpawns: 20,
  batches: [10, 25, 50],
  idleWindowMs: 8_000,
  rounds: 8,
  paced: { periodMs: 2_000, windowMs: 20_000 },
  demoRuns: 3,
  bus: { visibleSamples: 300, deliverySamples: 100, senders: 8, loadSeconds: 10, insertLoopMs: 2_000 },
  coordinator: {
    workers: 8,
    tasks: 1_000,
    storeClients: 50,
    storeTasks: 1_000,
    storeRounds: 10,
    handOvers: 20,
  },
  knowledge: { entries: 100_000, timedRecords: 5_000, queries: 500 },
  dashboard: { messages: 10_000, pageLoads: 10, updates: 20 },
  redis: { visibleSamples: 300, senders: 8, loadSeconds: 10, tasks: 1_000 },
};
const QUICK: Plan = {
  sequentialSpawns: 5,
  batches: [10],
  idleWindowMs: 3_000,
  rounds: 10,
  paced: { periodMs: 2_000, windowMs: 6_000 },
  demoRuns: 1,
  bus: { visibleSamples: 50, deliverySamples: 10, senders: 8, loadSeconds: 3, insertLoopMs: 1_000 },
  coordinator: { workers: 8, tasks: 200, storeClients: 50, storeTasks: 1_000, storeRounds: 3, handOvers: 5 },
  knowledge: { entries: 10_000, timedRecords: 2_000, queries: 100 },
  dashboard: { messages: 2_000, pageLoads: 3, updates: 5 },
  redis: { visibleSamples: 50, senders: 8, loadSeconds: 3, tasks: 200 },
};

/** The instance count issue #10's supervisor targets are stated for. */
const TARGET_INSTANCES = 50;

function targets(spawnMs: number[], live: number, load: LoadResult, maxExtra: number): TargetCheck[] {
  const atScale = live >= TARGET_INSTANCES;
  const cpu = load.supervisor.meanCpuPercent;
  const cpuP95 = quantile(load.supervisor.cpuPercent, 0.95);
  const paced = load.paced.supervisor.meanCpuPercent;
  const pacedP95 = quantile(load.paced.supervisor.cpuPercent, 0.95);
  const rss = Math.max(...load.supervisor.rssBytes, ...load.paced.supervisor.rssBytes) / MB;
  const scale = atScale ? '' : ` (with ${live} instances: a quick run does not load 50)`;
  const p50 = median(spawnMs);
  return [
    {
      target:
        `supervisor < 10 % of one core with ${TARGET_INSTANCES} live instances exchanging messages, ` +
        `each a message every ${load.paced.periodMs / 1000} s`,
      measured:
        `${paced.toFixed(1)} % mean over ${load.paced.supervisor.seconds.toFixed(0)} s ` +
        `(${load.paced.messagesPerSecond.toFixed(0)} msg/s), p95 of 1 s windows ${pacedP95.toFixed(1)} %${scale}`,
      met: atScale ? paced < 10 : null,
    },
    {
      target: `supervisor < 10 % of one core with ${TARGET_INSTANCES} live instances exchanging messages as fast as the machine allows`,
      measured:
        `${cpu.toFixed(1)} % mean over the load window (${load.messagesPerSecond.toFixed(0)} msg/s), p95 of 1 s ` +
        `windows ${cpuP95.toFixed(1)} %; plus ${load.childCpuPercent.toFixed(1)} % in the tmux/git client ` +
        `processes it ran${scale}`,
      met: atScale ? cpu < 10 : null,
    },
    {
      target: `supervisor < 200 MB RSS with ${TARGET_INSTANCES} live instances exchanging messages`,
      measured: `${rss.toFixed(0)} MB peak during the load${scale}`,
      met: atScale ? rss < 200 : null,
    },
    {
      target: 'spawn-to-ready p50 < 1 s',
      measured: `${p50.toFixed(0)} ms (p95 ${quantile(spawnMs, 0.95).toFixed(0)} ms, ${spawnMs.length} spawns)`,
      met: p50 < 1_000,
    },
    {
      target: 'no extra process per instance',
      measured: `at most ${maxExtra} process(es) beside the agent in any of ${live} panes`,
      met: maxExtra === 0,
    },
  ];
}

export async function runBenchmarks(opts: BenchOptions, cleanup: Cleanup): Promise<BenchResults> {
  const { progress } = opts;
  const plan = opts.quick ? QUICK : FULL;
  const startedAt = new Date();
  const t0 = performance.now();
  const machine = describeMachine();
  progress(
    `machine: ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.tmux}`,
  );

  let profileDir: string | undefined;
  if (opts.profile) {
    const dir = mkdtempSync(join(tmpdir(), 'tc-bench-profile-'));
    profileDir = dir;
    cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  }
  const profiles: ProfileSummary[] = [];
  const results = (figures: Figure[], targetChecks: TargetCheck[]): BenchResults => ({
    quick: opts.quick,
    command: opts.command,
    startedAt: startedAt.toISOString(),
    durationS: (performance.now() - t0) / 1000,
    machine,
    figures,
    targets: targetChecks,
    profiles,
  });
  const only = process.env.TMUX_CLAUDE_BENCH_ONLY;
  // In process and before the org starts, so that nothing else competes for the CPU. Undocumented, for work on
  // one figure: TMUX_CLAUDE_BENCH_ONLY=knowledge runs figure 9 alone.
  const fig9 =
    only === 'coordinator' || only === 'redis'
      ? undefined
      : await knowledgeFigure(plan.knowledge, progress, cleanup);
  if (fig9 && only === 'knowledge') return results([fig9.figure], []);
  const org = await BenchOrg.start({ cleanup, progress, profileDir });
  const lab = await TmuxBaseline.start(cleanup);
  const ctx: BenchContext = { org, lab, progress };
  const profiler = profileDir ? new SupervisorProfiler(org.supervisorPid, profileDir) : undefined;
  /** Profiles a window of the supervisor's work (with --profile), keeping the raw .cpuprofile. */
  const profiled = (
    window: string,
  ): { around?: { before: () => Promise<void>; after: () => Promise<void> } } =>
    profiler
      ? {
          around: {
            before: () => profiler.start(),
            after: async () => {
              const { file, summary } = await profiler.stop(window);
              const kept = join(tmpdir(), `tmux-claude-bench-supervisor-${Date.now()}.cpuprofile`);
              copyFileSync(file, kept);
              progress(`supervisor profile of ${window} kept at ${kept}`);
              profiles.push(summary);
            },
          },
        }
      : {};
  const coordinator = (): ReturnType<typeof coordinatorFigure> =>
    coordinatorFigure(ctx, {
      ...plan.coordinator,
      ...profiled(`the claim load (${plan.coordinator.workers} MCP clients)`),
    });
  // Undocumented, for work on one figure: TMUX_CLAUDE_BENCH_ONLY=coordinator runs figure 8 alone.
  if (only === 'coordinator') return results([(await coordinator()).figure], []);
  /** Figure 11, when Redis answers (else a progress line says why it is left out). */
  const redis = async (): Promise<Figure[]> => {
    const reason = await redisUnreachable(benchRedisUrl());
    if (reason === null) return [(await redisFigure(ctx, plan.redis, cleanup)).figure];
    progress(`fig 11 left out: Redis at ${benchRedisUrl()} is not reachable (${reason}); set REDIS_URL`);
    return [];
  };
  // Likewise TMUX_CLAUDE_BENCH_ONLY=redis: figure 11 alone (the bus and claims on Redis and on SQLite).
  if (only === 'redis') return results(await redis(), []);
  // Likewise TMUX_CLAUDE_BENCH_ONLY=dashboard: figure 10 alone, with the last batch size of idle instances.
  if (only === 'dashboard') {
    const batch = await spawnAtOnce(ctx, plan.batches.at(-1)!);
    await topUp(ctx, batch);
    return results([(await dashboardFigure(ctx, { ...plan.dashboard, live: batch.spawned })).figure], []);
  }

  // Likewise TMUX_CLAUDE_BENCH_ONLY=load: figure 4 alone, on the last batch size (with --profile, profiled).
  if (only === 'load') {
    const batch = await spawnAtOnce(ctx, plan.batches.at(-1)!);
    await topUp(ctx, batch);
    const load = await messageLoad(ctx, {
      ids: batch.spawned.map((s) => s.id),
      rounds: plan.rounds,
      paced: plan.paced,
      readers: await lab.startReaders(batch.spawned.length),
      idle: await measureIdle(ctx, batch.spawned.length, plan.idleWindowMs),
      tmuxServerPid: org.tmuxServerPid(),
      agentPids: [],
      ...profiled(`the message load with ${batch.spawned.length} instances`),
    });
    return results([load.figure], []);
  }

  const idle: IdleSample[] = [await measureIdle(ctx, 0, plan.idleWindowMs)];
  const bareRss = await bareNodeRss();

  const fig1 = await spawnLatency(ctx, plan.sequentialSpawns);

  const batches: ConcurrentSpawn[] = [];
  let live: Spawned[] = [];
  for (const [i, n] of plan.batches.entries()) {
    const batch = await spawnAtOnce(ctx, n);
    batches.push(batch);
    await topUp(ctx, batch);
    idle.push(await measureIdle(ctx, batch.spawned.length, plan.idleWindowMs));
    if (i < plan.batches.length - 1) await org.terminate(batch.spawned.map((s) => s.id));
    else live = batch.spawned;
  }
  if (live.length === 0)
    throw new Error('no instance of the last batch came up; see the progress lines above');

  const readers = await lab.startReaders(live.length);
  const fig5 = await perInstance(ctx, live, readers);

  const load = await messageLoad(ctx, {
    ids: live.map((s) => s.id),
    rounds: plan.rounds,
    paced: plan.paced,
    readers,
    idle: idle.at(-1),
    tmuxServerPid: org.tmuxServerPid(),
    agentPids: fig5.agentPids,
    ...profiled(`the message load with ${live.length} instances`),
  });
  const fig10 = await dashboardFigure(ctx, { ...plan.dashboard, live });
  await org.terminate(live.map((s) => s.id));

  const bus = await busFigure(ctx, {
    ...plan.bus,
    reader: readers[0]!,
    ...profiled(`the sustained send_message load (${plan.bus.senders} MCP clients)`),
  });

  const demo = await demoFigure(ctx, plan.demoRuns, median(fig1.baselineMs));

  // Late: it leaves the Executive's agent in a long turn (see figures/coordinator.ts).
  const fig8 = await coordinator();
  const fig11 = await redis();

  return results(
    [
      fig1.figure,
      concurrentSpawnFigure(batches),
      idleFigure(idle, bareRss),
      load.figure,
      fig5.figure,
      demo.figure,
      bus.figure,
      fig8.figure,
      ...(fig9 ? [fig9.figure] : []),
      fig10.figure,
      ...fig11,
    ],
    targets(fig1.samplesMs, live.length, load, fig5.maxExtraProcesses),
  );
}
