import type { Redis } from 'ioredis';
import { TmuxClaudeError, type AuditEvent, type EventInput } from '../../core/index.js';
import { GENESIS_HASH, eventHash, verifyChain, type ChainHead, type StoredEvent } from '../event-chain.js';
import type { EventLog } from '../types.js';
import { defineScript, toMap } from './redis-common.js';
import type { Changed } from './redis-wake.js';

/*
 * The audit trail on Redis: `ev-log` a Stream whose entry ids are the sequence numbers (`SEQ-0`), `ev-head` the
 * head record (a hash: seq, hash), `ev-inst:INSTANCE` the seqs of one instance's events (a sorted set).
 *
 * The chain's hash is SHA-256 (event-chain.ts, shared with SQLite), which Redis' Lua cannot compute (it has
 * SHA-1 only), and a SHA-256 written in Lua would be a second implementation to keep identical. So JS hashes
 * and a script appends only if the head is still the one the hashes were computed from (compare-and-set), else
 * returns the current head and JS recomputes. Appends of one process are queued and sent as one batch per
 * round trip (the head stays cached between batches), so only other processes' appends cause a retry.
 */

/** ARGV: P, expected seq, expected hash, then per event: seq, ts, kind, actor, hasInstance, instanceId, data, prevHash, hash. */
const APPEND = `
local headKey, logKey = P .. 'ev-head', P .. 'ev-log'
local head = redis.call('HMGET', headKey, 'seq', 'hash')
local seq, hash = head[1], head[2]
if not seq then
  local last = redis.call('XREVRANGE', logKey, '+', '-', 'COUNT', 1)
  if #last > 0 then
    seq = string.match(last[1][1], '^(%d+)-')
    hash = toMap(last[1][2]).hash or ''
  else
    seq, hash = '0', '${GENESIS_HASH}'
  end
end
if seq ~= ARGV[2] or hash ~= ARGV[3] then return {seq, hash} end
local lastSeq, lastHash
for i = 4, #ARGV, 9 do
  local s = ARGV[i]
  local fields = {'ts', ARGV[i + 1], 'kind', ARGV[i + 2], 'actor', ARGV[i + 3], 'data', ARGV[i + 6],
    'prevHash', ARGV[i + 7], 'hash', ARGV[i + 8]}
  if ARGV[i + 4] == '1' then
    table.insert(fields, 'instanceId')
    table.insert(fields, ARGV[i + 5])
    redis.call('ZADD', P .. 'ev-inst:' .. ARGV[i + 5], s, s)
  end
  redis.call('XADD', logKey, s .. '-0', unpack(fields))
  lastSeq, lastHash = s, ARGV[i + 8]
end
redis.call('HSET', headKey, 'seq', lastSeq, 'hash', lastHash)
return {'ok'}
`;

function toStored(id: string, fields: string[]): StoredEvent {
  const h = toMap(fields);
  return {
    seq: Number(id.split('-')[0]),
    ts: Number(h.ts),
    kind: h.kind ?? '',
    actor: h.actor ?? '',
    instanceId: h.instanceId ?? null,
    data: h.data ?? 'null',
    prevHash: h.prevHash ?? null,
    hash: h.hash ?? null,
  };
}

function toEvent(e: StoredEvent): AuditEvent {
  return {
    ...e,
    data: JSON.parse(e.data) as unknown,
    prevHash: e.prevHash ?? '',
    hash: e.hash ?? '',
  } as AuditEvent;
}

interface Queued {
  input: EventInput;
  ts: number;
  resolve: (e: AuditEvent) => void;
  reject: (err: unknown) => void;
}

/** Appends per batch; a batch is retried this often when other processes keep appending first. */
const BATCH = 200;
const MAX_ROUNDS = 1_000;

export function makeRedisEventLog(redis: Redis, prefix: string, changed: Changed = () => {}): EventLog {
  const P = prefix;
  const LOG = `${P}ev-log`;
  const append = defineScript(redis, APPEND);
  let head: ChainHead | null = null;
  const queue: Queued[] = [];
  let flushing = false;

  const flushBatch = async (batch: Queued[]): Promise<AuditEvent[]> => {
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const start = head ?? { seq: -1, hash: '' };
      let prev = start;
      const events: AuditEvent[] = [];
      const args: string[] = [];
      for (const q of batch) {
        const seq = prev.seq + 1;
        const data = JSON.stringify(q.input.data);
        const fields = {
          seq,
          ts: q.ts,
          kind: q.input.kind,
          actor: q.input.actor,
          instanceId: q.input.instanceId,
          data,
        };
        const hash = eventHash(prev.hash, fields);
        events.push({ ...q.input, seq, ts: q.ts, prevHash: prev.hash, hash });
        args.push(
          String(seq),
          String(q.ts),
          q.input.kind,
          q.input.actor,
          q.input.instanceId === null ? '0' : '1',
          q.input.instanceId ?? '',
          data,
          prev.hash,
          hash,
        );
        prev = { seq, hash };
      }
      const out = (await append(P, String(start.seq), start.hash, ...args)) as string[];
      if (out[0] === 'ok') {
        head = prev;
        return events;
      }
      head = { seq: Number(out[0]), hash: out[1] ?? '' };
    }
    throw new TmuxClaudeError(
      'UNAVAILABLE',
      'appending to the event log kept losing to other writers; try again',
    );
  };

  const flush = async (): Promise<void> => {
    if (flushing) return;
    flushing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, BATCH);
        try {
          const events = await flushBatch(batch);
          changed({ kind: 'events' });
          batch.forEach((q, i) => q.resolve(events[i]!));
        } catch (err) {
          head = null;
          for (const q of batch) q.reject(err);
        }
      }
    } finally {
      flushing = false;
    }
  };

  const readEvents = async (afterSeq: number, count: number): Promise<StoredEvent[]> =>
    (await redis.xrange(LOG, `(${afterSeq}-0`, '+', 'COUNT', count)).map(([id, f]) => toStored(id, f));

  return {
    append: (input) =>
      new Promise<AuditEvent>((resolve, reject) => {
        queue.push({ input, ts: Date.now(), resolve, reject });
        void flush();
      }),
    lastSeq: async () => {
      const last = await redis.xrevrange(LOG, '+', '-', 'COUNT', 1);
      return last[0] ? Number(last[0][0].split('-')[0]) : 0;
    },
    list: async (opts = {}) => {
      const limit = opts.limit ?? 10_000;
      let after = Math.max(0, Math.floor(opts.afterSeq ?? 0));
      const out: AuditEvent[] = [];
      const keep = (e: StoredEvent) =>
        (opts.instanceId === undefined || e.instanceId === opts.instanceId) &&
        (opts.sinceTs === undefined || e.ts >= opts.sinceTs);
      while (out.length < limit) {
        let page: StoredEvent[];
        if (opts.instanceId !== undefined) {
          const seqs = await redis.zrangebyscore(
            `${P}ev-inst:${opts.instanceId}`,
            `(${after}`,
            '+inf',
            'LIMIT',
            0,
            1000,
          );
          if (seqs.length === 0) break;
          const pipeline = redis.pipeline();
          for (const s of seqs) pipeline.xrange(LOG, `${s}-0`, `${s}-0`);
          page = ((await pipeline.exec()) ?? []).flatMap(([err, entries]) => {
            if (err) throw err;
            return (entries as Array<[string, string[]]>).map(([id, f]) => toStored(id, f));
          });
          after = Number(seqs[seqs.length - 1]);
        } else {
          page = await readEvents(after, 1000);
          if (page.length === 0) break;
          after = page[page.length - 1]!.seq;
        }
        for (const e of page) {
          if (keep(e)) out.push(toEvent(e));
          if (out.length >= limit) break;
        }
      }
      return out;
    },
    verify: () =>
      verifyChain(async (afterSeq, limit) => {
        // One MULTI: the page and the head record of the same moment.
        const replies = (await redis
          .multi()
          .xrange(LOG, `(${afterSeq}-0`, '+', 'COUNT', limit)
          .hmget(`${P}ev-head`, 'seq', 'hash')
          .xlen(LOG)
          .exec()) as [
          [Error | null, Array<[string, string[]]>],
          [Error | null, Array<string | null>],
          [Error | null, number],
        ];
        const [[e1, entries], [e2, h], [e3, length]] = replies;
        if (e1 ?? e2 ?? e3) throw e1 ?? e2 ?? e3;
        // A store that never had an event has no head record yet: its head is the genesis.
        const head =
          h[0] != null && h[1] != null
            ? { seq: Number(h[0]), hash: h[1] }
            : length === 0
              ? { seq: 0, hash: GENESIS_HASH }
              : null;
        return { events: entries.map(([id, f]) => toStored(id, f)), head };
      }),
  };
}
