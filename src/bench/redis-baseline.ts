/**
 * The in-run baselines of the Redis figure: what Redis itself does for the same jobs with nothing of
 * tmux-claude in between, from the benchmark process over ioredis (the client the store uses):
 *
 * - a Streams hand-off: a consumer blocked in `XREADGROUP … BLOCK` and a producer's `XADD` (then `XACK`),
 *   the engine's own send → visible and messages-per-second limit;
 * - a claim loop: one Lua script pops the next ready task and marks it claimed with a new epoch, a second one
 *   marks it done fenced by owner and epoch (no leases, reservations, dependencies, audit events or notices),
 *   the least a claim → complete cycle can cost on Redis.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { deleteKeysUnder } from '../store/index.js';
import { sleep } from './figures/context.js';

function client(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  return r;
}

/** A fresh key prefix for one benchmark run. */
export function benchPrefix(): string {
  return `tc-bench-${randomBytes(5).toString('hex')}:`;
}

export interface StreamHandOff {
  /** From the start of XADD until the blocked XREADGROUP returned that entry, in ms. */
  visibleMs: number[];
  /** XADD round trips, in ms. */
  xaddMs: number[];
}

/**
 * `n` hand-offs measured like the bus figure: the consumer's `XREADGROUP GROUP … BLOCK 0` is parked
 * `headStartMs` before the producer's `XADD` starts; the consumer acks each entry (not timed).
 */
export async function streamHandOff(
  url: string,
  prefix: string,
  n: number,
  headStartMs: number,
  bodyBytes: number,
): Promise<StreamHandOff> {
  const producer = client(url);
  const consumer = client(url);
  const key = `${prefix}raw-handoff`;
  try {
    await producer.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
    const body = 'x'.repeat(bodyBytes);
    const visibleMs: number[] = [];
    const xaddMs: number[] = [];
    for (let i = -10; i < n; i++) {
      const got = (
        consumer.xreadgroup('GROUP', 'g', 'c', 'COUNT', 1, 'BLOCK', 0, 'STREAMS', key, '>') as Promise<
          Array<[string, Array<[string, string[]]>]>
        >
      ).then((r) => ({ id: r[0]![1][0]![0], at: performance.now() }));
      await sleep(headStartMs);
      const t0 = performance.now();
      const id = await producer.xadd(key, '*', 'body', body);
      const added = performance.now();
      const { id: seen, at } = await got;
      if (seen !== id) throw new Error(`stream baseline: expected entry ${id}, got ${seen}`);
      await consumer.xack(key, 'g', seen);
      if (i < 0) continue; // warm-up
      xaddMs.push(added - t0);
      visibleMs.push(at - t0);
    }
    return { visibleMs, xaddMs };
  } finally {
    await producer.unlink(key).catch(() => undefined);
    producer.disconnect();
    consumer.disconnect();
  }
}

export interface StreamThroughput {
  /** Entries added, read and acked per second. */
  perSecond: number;
  /** XADD round trips under that load, in ms. */
  xaddMs: number[];
}

/**
 * `producers` connections `XADD` back to back for `durationMs` while one consumer reads with `XREADGROUP`
 * (up to 500 at a time) and `XACK`s what it read; counts the entries acked.
 */
export async function streamThroughput(
  url: string,
  prefix: string,
  producers: number,
  durationMs: number,
  bodyBytes: number,
): Promise<StreamThroughput> {
  const key = `${prefix}raw-load`;
  const conns = Array.from({ length: producers }, () => client(url));
  const consumer = client(url);
  try {
    await consumer.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
    const body = 'x'.repeat(bodyBytes);
    const xaddMs: number[] = [];
    let added = 0;
    let acked = 0;
    let producing = true;
    const t0 = performance.now();
    const end = t0 + durationMs;
    const produce = Promise.all(
      conns.map(async (c) => {
        while (performance.now() < end) {
          const start = performance.now();
          await c.xadd(key, '*', 'body', body);
          xaddMs.push(performance.now() - start);
          added++;
        }
      }),
    ).finally(() => (producing = false));
    const consume = (async () => {
      while (producing || acked < added) {
        const r = (await consumer.xreadgroup(
          'GROUP',
          'g',
          'c',
          'COUNT',
          500,
          'BLOCK',
          100,
          'STREAMS',
          key,
          '>',
        )) as Array<[string, Array<[string, string[]]>]> | null;
        const ids = r?.[0]?.[1].map(([id]) => id) ?? [];
        if (ids.length > 0) acked += await consumer.xack(key, 'g', ...ids);
      }
    })();
    await Promise.all([produce, consume]);
    return { perSecond: acked / ((performance.now() - t0) / 1000), xaddMs };
  } finally {
    await consumer.unlink(key).catch(() => undefined);
    for (const c of [...conns, consumer]) c.disconnect();
  }
}

const CLAIM = `
local P, owner = ARGV[1], ARGV[2]
local next = redis.call('ZPOPMIN', P .. 'raw-ready')
if #next == 0 then return false end
local key = P .. 'raw-task:' .. next[1]
local epoch = redis.call('HINCRBY', key, 'epoch', 1)
redis.call('HSET', key, 'state', 'claimed', 'owner', owner)
return {next[1], epoch}
`;
const DONE = `
local P, id, owner, epoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'raw-task:' .. id
local t = redis.call('HMGET', key, 'state', 'owner', 'epoch')
if t[1] ~= 'claimed' or t[2] ~= owner or t[3] ~= epoch then return 0 end
redis.call('HSET', key, 'state', 'done')
return 1
`;

export interface RedisClaimLoop {
  cyclesPerSecond: number;
  claimMs: number[];
  doneMs: number[];
}

/** `tasks` ready tasks drained by `workers` connections at once, each looping claim → done (two scripts). */
export async function redisClaimLoop(
  url: string,
  prefix: string,
  workers: number,
  tasks: number,
): Promise<RedisClaimLoop> {
  const conns = Array.from({ length: workers }, () => client(url));
  // EVALSHA through defineCommand, as the store calls its scripts.
  for (const c of conns) {
    c.defineCommand('rawClaim', { numberOfKeys: 0, lua: CLAIM });
    c.defineCommand('rawDone', { numberOfKeys: 0, lua: DONE });
  }
  type Scripts = Record<'rawClaim' | 'rawDone', (...args: string[]) => Promise<unknown>>;
  try {
    const setup = conns[0]!.pipeline();
    for (let i = 0; i < tasks; i++) {
      const id = `t${String(i).padStart(6, '0')}`;
      setup.hset(`${prefix}raw-task:${id}`, 'state', 'ready', 'epoch', 0);
      setup.zadd(`${prefix}raw-ready`, i, id);
    }
    await setup.exec();
    const claimMs: number[] = [];
    const doneMs: number[] = [];
    let done = 0;
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (c, w) => {
        const owner = `w${w}`;
        for (;;) {
          const start = performance.now();
          const got = (await (c as unknown as Scripts).rawClaim(prefix, owner)) as [string, number] | null;
          const claimed = performance.now();
          if (!got) return;
          const ok = await (c as unknown as Scripts).rawDone(prefix, got[0], owner, String(got[1]));
          if (ok !== 1) throw new Error(`redis claim baseline: ${got[0]} was not held by ${owner}`);
          claimMs.push(claimed - start);
          doneMs.push(performance.now() - claimed);
          done++;
        }
      }),
    );
    const wallMs = performance.now() - t0;
    if (done !== tasks) throw new Error(`redis claim baseline: ${done} of ${tasks} tasks were done`);
    return { cyclesPerSecond: tasks / (wallMs / 1000), claimMs, doneMs };
  } finally {
    await deleteKeysUnder(url, `${prefix}raw-`).catch(() => undefined);
    for (const c of conns) c.disconnect();
  }
}
