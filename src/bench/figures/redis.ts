/**
 * Figure 11: the message bus and the work coordinator on the Redis store, beside the same procedure on the
 * SQLite store and beside Redis' own limit, all in one run.
 *
 * A second private supervisor home is started with TMUX_CLAUDE_STORE=redis://…?prefix=<random>: (its keys are
 * deleted afterwards). On each store (the run's SQLite organisation and the Redis one) the same compact
 * procedure: light-runtime specialists spawned without a prompt; the benchmark holds an MCP SDK client with
 * each one's token. Send → visible (a sink's client parked in wait_for_messages, a sender's send_message),
 * messages stored per second with several senders at once, and claim → complete cycles per second with the
 * same clients draining tasks the Executive created. Baselines (redis-baseline.ts): a raw XADD → XREADGROUP
 * hand-off and load, and a raw two-script claim loop, on the same Redis.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { BenchOrg, callTool as call, type Spawned } from '../bench-org.js';
import type { Cleanup } from '../cleanup.js';
import { deleteKeysUnder } from '../../store/index.js';
import { benchPrefix, redisClaimLoop, streamHandOff, streamThroughput } from '../redis-baseline.js';
import { median, quantile } from '../stats.js';
import { row, type Figure, type Row } from '../types.js';
import { sleep, type BenchContext } from './context.js';
import { createTasks, drain } from './coordinator.js';

export interface RedisPlan {
  /** Sequential send → wait_for_messages samples per store (and raw hand-offs). */
  visibleSamples: number;
  /** Concurrent senders (MCP clients) for the sustained load and claim workers; raw producers/workers too. */
  senders: number;
  loadSeconds: number;
  /** Tasks drained per store (and by the raw claim loop). */
  tasks: number;
}

export interface RedisFigureResult {
  figure: Figure;
}

const HEAD_START_MS = 25;
const SINK_BUSY_MS = 240_000;
const EXECUTIVE_BUSY_MS = 600_000;
const BODY_BYTES = 200;

interface SendView {
  message_id: string;
}
interface WaitView {
  messages: Array<{ id: string }>;
  timed_out: boolean;
}

/** What one store's supervisor did under the procedure. */
interface StoreRun {
  visibleMs: number[];
  sendCallMs: number[];
  perSecond: number;
  loadCallMs: number[];
  loadErrors: number;
  cyclesPerSecond: number;
  claimMs: number[];
  completeMs: number[];
  reclaimed: number;
}

function body(kind: string, i: number): string {
  return `${kind} ${i}: `.padEnd(BODY_BYTES, 'lorem ipsum dolor sit amet ');
}

/** Puts an instance's agent into one long turn unless it is in one already (e.g. after figure 8). */
async function keepBusy(org: BenchOrg, id: string, ms: number): Promise<void> {
  if ((await org.stateOf(id)) === 'busy') return;
  await org.keepBusy(id, ms);
}

async function measure(
  org: BenchOrg,
  label: string,
  plan: RedisPlan,
  progress: (l: string) => void,
): Promise<StoreRun> {
  const names = [`${label}-sink`, ...Array.from({ length: plan.senders }, (_, i) => `${label}-sender-${i}`)];
  const byName = await org.spawnSpecialists(names, `fig 11 ${label}`);
  const spawned: Spawned[] = [...byName.values()];
  const clients: Client[] = [];
  try {
    const sink = byName.get(names[0]!);
    const senders = spawned.filter((s) => s !== sink);
    if (!sink || senders.length === 0) throw new Error(`fig 11 ${label}: the sink or every sender failed`);
    const [sinkClient, ...senderClients] = await Promise.all(
      [sink, ...senders].map((s) => org.connectAs(s.tmuxSession)),
    );
    clients.push(sinkClient!, ...senderClients);
    const a = senderClients[0]!;
    const aId = senders[0]!.id;
    // Mail to the sink stays in the store for its client: its agent is busy, nothing is pasted.
    await keepBusy(org, sink.id, SINK_BUSY_MS);
    // Completions notify the Executive (the tasks' creator); keep those notices in the store too.
    await keepBusy(org, org.executive.id, EXECUTIVE_BUSY_MS);

    const visibleMs: number[] = [];
    const sendCallMs: number[] = [];
    for (let i = -5; i < plan.visibleSamples; i++) {
      const waited = call<WaitView>(sinkClient!, 'wait_for_messages', { timeout_s: 30, from: aId }).then(
        (w) => ({ w, at: performance.now() }),
      );
      await sleep(HEAD_START_MS);
      const t0 = performance.now();
      const sent = await call<SendView>(a, 'send_message', { to: sink.id, body: body('probe', i) });
      const sentAt = performance.now();
      const { w, at } = await waited;
      if (w.timed_out || !w.messages.some((m) => m.id === sent.message_id)) continue;
      if (i < 0) continue;
      sendCallMs.push(sentAt - t0);
      visibleMs.push(at - t0);
    }
    progress(`fig 11 ${label}: send → visible p50 ${median(visibleMs).toFixed(2)} ms`);

    const loadCallMs: number[] = [];
    let stored = 0;
    let loadErrors = 0;
    const t0 = performance.now();
    const end = t0 + plan.loadSeconds * 1000;
    await Promise.all(
      senderClients.map(async (c, k) => {
        for (let i = 0; performance.now() < end; i++) {
          const start = performance.now();
          try {
            await call<SendView>(c, 'send_message', { to: sink.id, body: body(`load ${k}`, i) });
            loadCallMs.push(performance.now() - start);
            stored++;
          } catch {
            loadErrors++;
          }
        }
      }),
    );
    const perSecond = stored / ((performance.now() - t0) / 1000);
    progress(`fig 11 ${label}: ${perSecond.toFixed(0)} messages stored per second`);

    // A few tasks per worker first (connections, JIT, scripts), then the measured drain.
    await createTasks(org, senderClients.length * 4, `${label} warm-up`);
    await drain(senderClients);
    await createTasks(org, plan.tasks, `${label} claim`);
    const d = await drain(senderClients);
    if (d.granted.length !== plan.tasks || new Set(d.granted).size !== plan.tasks) {
      throw new Error(`fig 11 ${label}: ${d.granted.length} grants for ${plan.tasks} tasks`);
    }
    const cyclesPerSecond = plan.tasks / (d.wallMs / 1000);
    progress(`fig 11 ${label}: ${cyclesPerSecond.toFixed(0)} claim → complete cycles per second`);
    return {
      visibleMs,
      sendCallMs,
      perSecond,
      loadCallMs,
      loadErrors,
      cyclesPerSecond,
      claimMs: d.claimMs,
      completeMs: d.completeMs,
      reclaimed: d.reclaimed,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    const live = new Set((await org.instances()).filter((i) => i.state !== 'terminated').map((i) => i.id));
    await org.terminate(spawned.map((s) => s.id).filter((id) => live.has(id)));
  }
}

/** The Redis the figure uses: REDIS_URL, else the machine's own. */
export function benchRedisUrl(): string {
  return process.env.REDIS_URL || 'redis://127.0.0.1:6379';
}

export async function redisFigure(
  ctx: BenchContext,
  plan: RedisPlan,
  cleanup: Cleanup,
): Promise<RedisFigureResult> {
  const { progress } = ctx;
  const url = benchRedisUrl();
  const prefix = benchPrefix();
  // Registered before the org: cleanup runs last-in first-out, so the keys go after its supervisor stopped.
  cleanup.add(`delete the Redis keys under ${prefix}`, async () => {
    const n = await deleteKeysUnder(url, prefix);
    progress(`cleanup: deleted ${n} Redis keys under ${prefix}`);
  });
  const store = new URL(url);
  store.searchParams.set('prefix', prefix);
  // BenchOrg.start points this process's environment at its home; the run's own org keeps using its own.
  const saved = { home: process.env.TMUX_CLAUDE_HOME, store: process.env.TMUX_CLAUDE_STORE };
  let redisOrg: BenchOrg;
  try {
    redisOrg = await BenchOrg.start({ cleanup, progress, store: store.href });
  } finally {
    process.env.TMUX_CLAUDE_HOME = saved.home;
    process.env.TMUX_CLAUDE_STORE = saved.store;
  }
  progress(`fig 11: Redis organisation on ${url} (prefix ${prefix})`);

  const onRedis = await measure(redisOrg, 'redis', plan, progress);
  const onSqlite = await measure(ctx.org, 'sqlite', plan, progress);
  const handOff = await streamHandOff(url, prefix, plan.visibleSamples, HEAD_START_MS, BODY_BYTES);
  progress(`fig 11: raw XADD → XREADGROUP p50 ${median(handOff.visibleMs).toFixed(2)} ms`);
  const raw = await streamThroughput(url, prefix, plan.senders, plan.loadSeconds * 1000, BODY_BYTES);
  progress(`fig 11: raw XADD/XREADGROUP/XACK ${raw.perSecond.toFixed(0)} entries/s`);
  const claims = await redisClaimLoop(url, prefix, plan.senders, plan.tasks);
  progress(`fig 11: raw Lua claim loop ${claims.cyclesPerSecond.toFixed(0)} cycles/s`);

  const rawVisible = { label: 'raw XADD → blocked XREADGROUP', value: median(handOff.visibleMs) };
  const rawXadd = { label: 'raw XADD round trip', value: median(handOff.xaddMs) };
  const rawRate = { label: 'raw XADD + XREADGROUP + XACK per second', value: raw.perSecond };
  const rawClaims = { label: 'raw Lua claim → done cycles per second', value: claims.cyclesPerSecond };
  const sqlite = (label: string, value: number) => ({ label: `SQLite store: ${label}`, value });
  const n = plan.senders;
  const rows: Row[] = [
    row(
      'Redis: send → visible to a recipient blocked in wait_for_messages',
      'ms',
      onRedis.visibleMs,
      rawVisible,
    ),
    row('Redis: send_message call at the sender (stored, answered)', 'ms', onRedis.sendCallMs, rawXadd),
    row(`Redis: messages stored per second, ${n} senders at once`, 'msg/s', [onRedis.perSecond], rawRate),
    row('Redis: send_message call during that load', 'ms', onRedis.loadCallMs, rawXadd),
    row(
      `Redis: claim → complete cycles per second, ${n} MCP clients`,
      'claims/s',
      [onRedis.cyclesPerSecond],
      rawClaims,
    ),
    row('Redis: claim_task call (granted)', 'ms', onRedis.claimMs, {
      label: 'raw Lua claim script',
      value: median(claims.claimMs),
    }),
    row('Redis: complete_task call', 'ms', onRedis.completeMs, {
      label: 'raw Lua done script',
      value: median(claims.doneMs),
    }),
    row(
      'Redis vs SQLite: send → visible',
      'ms',
      onRedis.visibleMs,
      sqlite('send → visible p50', median(onSqlite.visibleMs)),
    ),
    row(
      'Redis vs SQLite: messages stored per second',
      'msg/s',
      [onRedis.perSecond],
      sqlite('messages per second', onSqlite.perSecond),
    ),
    row(
      'Redis vs SQLite: claim → complete cycles per second',
      'claims/s',
      [onRedis.cyclesPerSecond],
      sqlite('cycles per second', onSqlite.cyclesPerSecond),
    ),
    row('SQLite: send → visible (same procedure)', 'ms', onSqlite.visibleMs),
    row(`SQLite: messages stored per second, ${n} senders at once`, 'msg/s', [onSqlite.perSecond]),
    row(`SQLite: claim → complete cycles per second, ${n} MCP clients`, 'claims/s', [
      onSqlite.cyclesPerSecond,
    ]),
    row('baseline: raw XADD → blocked XREADGROUP', 'ms', handOff.visibleMs),
    row(`baseline: raw XADD + XREADGROUP + XACK per second, ${n} producers`, 'msg/s', [raw.perSecond]),
    row('baseline: raw XADD under that load', 'ms', raw.xaddMs),
    row(`baseline: raw Lua claim → done cycles per second, ${n} connections`, 'claims/s', [
      claims.cyclesPerSecond,
    ]),
  ];
  const notes = [
    `Redis p99 send → visible ${quantile(onRedis.visibleMs, 0.99).toFixed(2)} ms against the raw hand-off's ` +
      `${quantile(handOff.visibleMs, 0.99).toFixed(2)} ms; SQLite ${quantile(onSqlite.visibleMs, 0.99).toFixed(2)} ms.`,
    `Failed send_message calls during the loads: Redis ${onRedis.loadErrors}, SQLite ${onSqlite.loadErrors}. ` +
      `Grants at an epoch other than 1 (a task granted twice): Redis ${onRedis.reclaimed}, SQLite ${onSqlite.reclaimed}.`,
    'Every Redis store write also publishes a wake-up hint on `<prefix>wake` (Pub/Sub) for other processes; ' +
      'those are in the Redis figures.',
  ];
  progress('fig 11: done');
  return {
    figure: {
      id: 'redis',
      title: '11. Message bus and claims on the Redis store',
      method:
        `A second private supervisor home on Redis (${url}, a random key prefix, deleted afterwards) beside ` +
        `the run’s SQLite one; on each, the same procedure: a sink and ${n} senders (light-runtime ` +
        'specialists spawned without a prompt, each with a real MCP SDK client holding its token); the sink’s ' +
        'and the Executive’s agents are put into one long turn so that nothing is pasted into their panes. ' +
        `**Visible:** ${plan.visibleSamples} times (after 5 warm-ups) the sink’s client parks in ` +
        `\`wait_for_messages\`, ${HEAD_START_MS} ms later a sender’s \`send_message\` starts; timed until the ` +
        `wait returned it. **Stored per second:** the ${n} senders call \`send_message\` back to back for ` +
        `${plan.loadSeconds} s (~${BODY_BYTES}-byte bodies). **Claims:** the Executive creates ${plan.tasks} ` +
        `tasks; the ${n} clients loop \`claim_task\` → \`complete_task\` until none is left (after a warm-up ` +
        'drain of 4 tasks each).',
      baseline:
        'Redis’ own limit on the same server, from the benchmark process over ioredis: a consumer parked in ' +
        `\`XREADGROUP … BLOCK 0\` ${HEAD_START_MS} ms before a producer’s \`XADD\` (then \`XACK\`); ${n} ` +
        'producers `XADD`ing back to back while one consumer reads (up to 500) and acks; and a claim loop of ' +
        `two Lua scripts (pop the next ready task and mark it claimed with a new epoch; mark it done fenced by ` +
        `owner and epoch) on ${n} connections. The SQLite store’s figures from the same procedure in the same ` +
        'run are the other comparison.',
      rows,
      notes,
    },
  };
}
