import type { Redis } from 'ioredis';
import {
  TmuxClaudeError,
  type Delivery,
  type DeliveryState,
  type Envelope,
  type Message,
} from '../../core/index.js';
import type { AckOutcome, DeliveryFilter, MessageStore } from '../types.js';
import {
  defineScript,
  fieldPairs,
  hgetallMany,
  num,
  numOrNull,
  pair,
  strOrNull,
  toMap,
} from './redis-common.js';
import type { Changed } from './redis-wake.js';

/*
 * Messages, deliveries and topics on Redis.
 *
 * Keys (after the prefix): `msg:ID` a hash per message; `msg-client:SENDER` a hash clientId → message id (the
 * idempotency record); `msg-dlv:ID` a hash recipient → delivery seq; `dlv:SEQ` a hash per delivery (the
 * interface's Delivery plus the message's sender and requiresAck); `dlv-seq` the delivery counter (INCR);
 * `inbox:STATE:RECIPIENT` sorted sets of seqs per state; `due:RECIPIENT` a recipient's pending deliveries by
 * next attempt; `due` recipients by their earliest due pending delivery; `dlv-all`, `dlv-run:RUN`,
 * `dlv-from:SENDER` seq indexes for listing with a cursor. Topics: `topic:[RUN,TOPIC]` a Stream whose entry
 * ids are the topic sequence numbers (`N-0`, replayed with XRANGE), `topic-head:[RUN,TOPIC]` its counter,
 * `sub:[RUN,TOPIC]` subscribers by subscription time.
 *
 * Why deliveries are hashes and sorted sets, not a consumer group: the interface's delivery is a state
 * machine the bus drives explicitly (delivered only when the recipient's turn confirmed it, acked by id,
 * retried at a scheduled time, dead-lettered, requeued to a successor, listed across recipients by a global
 * seq cursor). A consumer group's pending list records "read by a consumer", not those states, and cannot move
 * an entry to another stream. Topics, which are append-only logs read from a position, are Streams.
 * Every mutation is one Lua script.
 */

const MSG_LUA = `
local function refreshDue(r)
  local first = redis.call('ZRANGE', P .. 'due:' .. r, 0, 0, 'WITHSCORES')
  if #first == 0 then redis.call('ZREM', P .. 'due', r) else redis.call('ZADD', P .. 'due', first[2], r) end
end
local function dkey(seq) return P .. 'dlv:' .. seq end
-- Moves a delivery between state indexes (its hash's state is the caller's to set).
local function move(seq, r, from, to)
  redis.call('ZREM', P .. 'inbox:' .. from .. ':' .. r, seq)
  redis.call('ZADD', P .. 'inbox:' .. to .. ':' .. r, seq, seq)
  if from == 'pending' and to ~= 'pending' then
    redis.call('ZREM', P .. 'due:' .. r, seq)
    refreshDue(r)
  end
end
local function seqOf(mid, r) return redis.call('HGET', P .. 'msg-dlv:' .. mid, r) end
`;

/**
 * ARGV: P, id, from, clientId|'', hasClientId, runId, createdAt, topicHeadKey|'', topicStreamKey|'', nFields,
 * fields…, recipients…
 */
const POST = `${MSG_LUA}
local id, from, clientId, hasClient, runId, createdAt = ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6], ARGV[7]
local headKey, streamKey = ARGV[8], ARGV[9]
if hasClient then
  local existing = redis.call('HGET', P .. 'msg-client:' .. from, clientId)
  if existing then return {'duplicate', existing} end
end
local key = P .. 'msg:' .. id
if redis.call('EXISTS', key) == 1 then return {'conflict'} end
local nf = tonumber(ARGV[10])
redis.call('HSET', key, unpack(ARGV, 11, 10 + nf))
if headKey ~= '' then
  local n = redis.call('INCR', headKey)
  redis.call('XADD', streamKey, n .. '-0', 'id', id)
  redis.call('HSET', key, 'topicSeq', n)
end
if hasClient then redis.call('HSET', P .. 'msg-client:' .. from, clientId, id) end
local requiresAck = redis.call('HGET', key, 'requiresAck')
for i = 11 + nf, #ARGV do
  local r = ARGV[i]
  local seq = redis.call('INCR', P .. 'dlv-seq')
  redis.call('HSET', dkey(seq), 'messageId', id, 'recipient', r, 'runId', runId, 'seq', seq, 'state', 'pending',
    'attempts', 0, 'nextAttemptAt', createdAt, 'createdAt', createdAt, 'from', from, 'requiresAck', requiresAck)
  redis.call('HSET', P .. 'msg-dlv:' .. id, r, seq)
  redis.call('ZADD', P .. 'inbox:pending:' .. r, seq, seq)
  redis.call('ZADD', P .. 'due:' .. r, createdAt, seq)
  refreshDue(r)
  redis.call('ZADD', P .. 'dlv-all', seq, seq)
  redis.call('ZADD', P .. 'dlv-run:' .. runId, seq, seq)
  redis.call('ZADD', P .. 'dlv-from:' .. from, seq, seq)
end
return {'ok'}
`;

/** ARGV: P, recipient, at, ids… Returns the seqs moved. */
const MARK_DELIVERED = `${MSG_LUA}
local r, at, out = ARGV[2], ARGV[3], {}
for i = 4, #ARGV do
  local seq = seqOf(ARGV[i], r)
  if seq and redis.call('HGET', dkey(seq), 'state') == 'pending' then
    redis.call('HSET', dkey(seq), 'state', 'delivered', 'deliveredAt', at)
    move(seq, r, 'pending', 'delivered')
    table.insert(out, seq)
  end
end
return out
`;

/** ARGV: P, recipient, at, ids… (unique). Returns {'unknown', ids…} or {'ok', acked, alreadyAcked}. */
const ACK = `${MSG_LUA}
local r, at = ARGV[2], ARGV[3]
local unknown, seqs = {}, {}
for i = 4, #ARGV do
  local seq = seqOf(ARGV[i], r)
  local state = seq and redis.call('HGET', dkey(seq), 'state')
  if not state or state == 'dead' then table.insert(unknown, ARGV[i]) end
  seqs[i] = seq
end
if #unknown > 0 then return {'unknown', unknown} end
local acked, already = {}, {}
for i = 4, #ARGV do
  local d = toMap(redis.call('HGETALL', dkey(seqs[i])))
  if d.state == 'acked' then
    table.insert(already, ARGV[i])
  else
    redis.call('HSET', dkey(seqs[i]), 'state', 'acked', 'ackedAt', at, 'deliveredAt', d.deliveredAt or at)
    move(seqs[i], r, d.state, 'acked')
    table.insert(acked, ARGV[i])
  end
end
return {'ok', acked, already}
`;

/** ARGV: P, recipient, nextAttemptAt, error, ids… Returns the deliveries changed. */
const FAILED_ATTEMPT = `${MSG_LUA}
local r, nextAt, err, out = ARGV[2], ARGV[3], ARGV[4], {}
for i = 5, #ARGV do
  local seq = seqOf(ARGV[i], r)
  if seq and redis.call('HGET', dkey(seq), 'state') == 'pending' then
    redis.call('HINCRBY', dkey(seq), 'attempts', 1)
    redis.call('HSET', dkey(seq), 'nextAttemptAt', nextAt, 'error', err)
    redis.call('ZADD', P .. 'due:' .. r, nextAt, seq)
    table.insert(out, redis.call('HGETALL', dkey(seq)))
  end
end
refreshDue(r)
return out
`;

/** ARGV: P, recipient, error, ids… Returns the deliveries that died. */
const MARK_DEAD = `${MSG_LUA}
local r, err, out = ARGV[2], ARGV[3], {}
for i = 4, #ARGV do
  local seq = seqOf(ARGV[i], r)
  local state = seq and redis.call('HGET', dkey(seq), 'state')
  if state == 'pending' or state == 'delivered' then
    redis.call('HSET', dkey(seq), 'state', 'dead', 'error', err)
    move(seq, r, state, 'dead')
    table.insert(out, redis.call('HGETALL', dkey(seq)))
  end
end
return out
`;

/**
 * ARGV: P, recipient, target, everyUnacked ('1': every delivered-unacked one, '0': those requiring an ack),
 * ids to leave… Returns the message ids moved, in seq order.
 */
const REQUEUE = `${MSG_LUA}
local r, target, every = ARGV[2], ARGV[3], ARGV[4] == '1'
local except = {}
for i = 5, #ARGV do except[ARGV[i]] = true end
local seqs = {}
for _, seq in ipairs(redis.call('ZRANGE', P .. 'inbox:pending:' .. r, 0, -1)) do table.insert(seqs, seq) end
for _, seq in ipairs(redis.call('ZRANGE', P .. 'inbox:delivered:' .. r, 0, -1)) do
  if every or redis.call('HGET', dkey(seq), 'requiresAck') == '1' then table.insert(seqs, seq) end
end
table.sort(seqs, function(a, b) return tonumber(a) < tonumber(b) end)
local moved = {}
for _, seq in ipairs(seqs) do
  local d = toMap(redis.call('HGETALL', dkey(seq)))
  -- A successor that already holds a copy keeps its own; this one stays where it is.
  if not except[d.messageId] and (target == r or redis.call('HEXISTS', P .. 'msg-dlv:' .. d.messageId, target) == 0) then
    redis.call('ZREM', P .. 'inbox:' .. d.state .. ':' .. r, seq)
    redis.call('ZREM', P .. 'due:' .. r, seq)
    redis.call('HSET', dkey(seq), 'state', 'pending', 'nextAttemptAt', 0, 'recipient', target)
    redis.call('HDEL', dkey(seq), 'deliveredAt')
    if target ~= r then
      redis.call('HDEL', P .. 'msg-dlv:' .. d.messageId, r)
      redis.call('HSET', P .. 'msg-dlv:' .. d.messageId, target, seq)
    end
    redis.call('ZADD', P .. 'inbox:pending:' .. target, seq, seq)
    redis.call('ZADD', P .. 'due:' .. target, 0, seq)
    table.insert(moved, d.messageId)
  end
end
refreshDue(r)
if target ~= r then refreshDue(target) end
return moved
`;

const STATES: readonly DeliveryState[] = ['pending', 'delivered', 'acked', 'dead'];

function toMessage(h: Record<string, string>): Message {
  return {
    id: h.id!,
    runId: h.runId!,
    from: h.from!,
    to: h.to!,
    subject: strOrNull(h.subject),
    body: h.body!,
    requiresAck: h.requiresAck === '1',
    replyTo: strOrNull(h.replyTo),
    clientId: strOrNull(h.clientId),
    topic: strOrNull(h.topic),
    topicSeq: numOrNull(h.topicSeq),
    createdAt: num(h.createdAt),
  };
}

function toDelivery(h: Record<string, string>): Delivery {
  return {
    messageId: h.messageId!,
    recipient: h.recipient!,
    runId: h.runId!,
    seq: num(h.seq),
    state: h.state as DeliveryState,
    attempts: num(h.attempts),
    nextAttemptAt: num(h.nextAttemptAt),
    createdAt: num(h.createdAt),
    deliveredAt: numOrNull(h.deliveredAt),
    ackedAt: numOrNull(h.ackedAt),
    error: strOrNull(h.error),
  };
}

const bySeq = (a: Delivery, b: Delivery): number => a.seq - b.seq;

/** `changed` hears what each commit did that a waiter may care about (see WakeChannel). */
export function makeRedisMessageStore(
  redis: Redis,
  prefix: string,
  changed: Changed = () => {},
): MessageStore {
  const P = prefix;
  const mail = (recipient: string) => changed({ kind: 'mail', recipient });
  const left = (ids: readonly string[]) =>
    changed(...ids.map((messageId) => ({ kind: 'delivery' as const, messageId })));
  const post = defineScript(redis, POST);
  const markDelivered = defineScript(redis, MARK_DELIVERED);
  const ack = defineScript(redis, ACK);
  const failedAttempt = defineScript(redis, FAILED_ATTEMPT);
  const markDead = defineScript(redis, MARK_DEAD);
  const requeue = defineScript(redis, REQUEUE);

  const getMessage = async (id: string): Promise<Message | null> => {
    const h = await redis.hgetall(`${P}msg:${id}`);
    return h.id === undefined ? null : toMessage(h);
  };
  const deliveriesOf = async (id: string): Promise<Delivery[]> => {
    const seqs = Object.values(await redis.hgetall(`${P}msg-dlv:${id}`));
    return (
      await hgetallMany(
        redis,
        seqs.map((s) => `${P}dlv:${s}`),
      )
    )
      .filter((h) => h.seq !== undefined)
      .map(toDelivery)
      .sort(bySeq);
  };
  /** Deliveries with their messages (each message read once). */
  const envelopes = async (deliveries: readonly Delivery[]): Promise<Envelope[]> => {
    const ids = [...new Set(deliveries.map((d) => d.messageId))];
    const messages = new Map(
      (
        await hgetallMany(
          redis,
          ids.map((id) => `${P}msg:${id}`),
        )
      )
        .filter((h) => h.id !== undefined)
        .map((h) => [h.id!, toMessage(h)]),
    );
    return deliveries.flatMap((delivery) => {
      const message = messages.get(delivery.messageId);
      return message ? [{ message, delivery }] : [];
    });
  };
  const deliveriesAt = async (seqs: readonly string[]): Promise<Delivery[]> =>
    (
      await hgetallMany(
        redis,
        seqs.map((s) => `${P}dlv:${s}`),
      )
    )
      .filter((h) => h.seq !== undefined)
      .map(toDelivery);

  /**
   * The seqs a filter can match, newest first, from the narrowest index: a recipient's state indexes, the
   * sender's, the run's, or all deliveries. The rest of the filter is checked on the deliveries themselves.
   */
  const indexOf = (filter: DeliveryFilter): { keys: string[]; min: string } => {
    const min = filter.afterSeq === undefined ? '-inf' : `(${filter.afterSeq}`;
    if (filter.recipient !== undefined) {
      return {
        keys: [...new Set(filter.states ?? STATES)].map((st) => `${P}inbox:${st}:${filter.recipient}`),
        min,
      };
    }
    if (filter.from !== undefined) return { keys: [`${P}dlv-from:${filter.from}`], min };
    if (filter.runId !== undefined) return { keys: [`${P}dlv-run:${filter.runId}`], min };
    return { keys: [`${P}dlv-all`], min };
  };
  const candidateSeqs = async (filter: DeliveryFilter): Promise<number[]> => {
    const { keys, min } = indexOf(filter);
    const lists = await Promise.all(keys.map((k) => redis.zrangebyscore(k, min, '+inf')));
    return lists
      .flat()
      .map(Number)
      .sort((a, b) => b - a);
  };
  /** True when the index alone answers the filter (one of recipient, sender, run; states only with a recipient). */
  const indexOnly = (filter: DeliveryFilter): boolean =>
    [filter.recipient, filter.from, filter.runId].filter((v) => v !== undefined).length <= 1 &&
    (filter.states === undefined || filter.recipient !== undefined);
  const matches = (filter: DeliveryFilter, d: Delivery, from: string | undefined): boolean =>
    (filter.runId === undefined || d.runId === filter.runId) &&
    (filter.recipient === undefined || d.recipient === filter.recipient) &&
    (filter.from === undefined || from === filter.from) &&
    (filter.states === undefined || filter.states.includes(d.state)) &&
    (filter.afterSeq === undefined || d.seq > filter.afterSeq);

  /** Matching deliveries, newest first, at most `limit` (read in pages). */
  const select = async (filter: DeliveryFilter, limit: number): Promise<Delivery[]> => {
    if (filter.states?.length === 0 || limit <= 0) return [];
    const seqs = await candidateSeqs(filter);
    const out: Delivery[] = [];
    for (let i = 0; i < seqs.length && out.length < limit; i += 500) {
      const page = await hgetallMany(
        redis,
        seqs.slice(i, i + 500).map((s) => `${P}dlv:${s}`),
      );
      for (const h of page) {
        if (h.seq === undefined) continue;
        const d = toDelivery(h);
        if (matches(filter, d, h.from)) out.push(d);
        if (out.length >= limit) break;
      }
    }
    return out;
  };

  return {
    post: async (m, recipients) => {
      const topicKeys =
        m.topic === null
          ? ['', '']
          : [`${P}topic-head:${pair(m.runId, m.topic)}`, `${P}topic:${pair(m.runId, m.topic)}`];
      const fields = fieldPairs({
        id: m.id,
        runId: m.runId,
        from: m.from,
        to: m.to,
        subject: m.subject,
        body: m.body,
        requiresAck: m.requiresAck ? '1' : '0',
        replyTo: m.replyTo,
        clientId: m.clientId,
        topic: m.topic,
        createdAt: m.createdAt,
      });
      const out = (await post(
        P,
        m.id,
        m.from,
        m.clientId ?? '',
        m.clientId === null ? '0' : '1',
        m.runId,
        String(m.createdAt),
        ...topicKeys,
        fields.length,
        ...fields,
        ...new Set(recipients),
      )) as string[];
      if (out[0] === 'conflict') throw new TmuxClaudeError('CONFLICT', `message ${m.id} exists`);
      if (out[0] === 'ok') for (const r of new Set(recipients)) mail(r);
      const id = out[0] === 'duplicate' ? out[1]! : m.id;
      const message = await getMessage(id);
      if (!message) throw new TmuxClaudeError('INTERNAL', `message ${id} vanished while it was posted`);
      return { message, deliveries: await deliveriesOf(id), duplicate: out[0] === 'duplicate' };
    },
    get: getMessage,
    deliveriesOf,
    findByClientId: async (from, clientId) => {
      const id = await redis.hget(`${P}msg-client:${from}`, clientId);
      const message = id === null ? null : await getMessage(id);
      return message ? { message, deliveries: await deliveriesOf(message.id) } : null;
    },
    inbox: async (recipient, states, limit = 1000) => {
      if (states.length === 0 || limit <= 0) return [];
      const lists = await Promise.all(
        [...new Set(states)].map((st) => redis.zrange(`${P}inbox:${st}:${recipient}`, 0, limit - 1)),
      );
      const seqs = lists
        .flat()
        .map(Number)
        .sort((a, b) => a - b)
        .slice(0, limit);
      return envelopes((await deliveriesAt(seqs.map(String))).sort(bySeq));
    },
    dueRecipients: async (now) => redis.zrangebyscore(`${P}due`, '-inf', String(now)),
    pendingCounts: async (recipients) => {
      const who = recipients ? [...new Set(recipients)] : await redis.zrange(`${P}due`, 0, -1);
      if (who.length === 0) return new Map();
      const pipeline = redis.pipeline();
      for (const r of who) pipeline.zcard(`${P}inbox:pending:${r}`);
      const counts = ((await pipeline.exec()) ?? []).map(([err, n]) => {
        if (err) throw err;
        return n as number;
      });
      return new Map(who.map((r, i) => [r, counts[i]!] as const).filter(([, n]) => n > 0));
    },
    markDelivered: async (recipient, ids, at) => {
      if (ids.length === 0) return [];
      const seqs = (await markDelivered(P, recipient, String(at), ...new Set(ids))) as string[];
      const moved = (await deliveriesAt(seqs)).sort(bySeq).map((d) => d.messageId);
      left(moved);
      return moved;
    },
    ack: async (recipient, ids, at): Promise<AckOutcome> => {
      const unique = [...new Set(ids)];
      if (unique.length === 0) return { acked: [], alreadyAcked: [], unknown: [] };
      const out = (await ack(P, recipient, String(at), ...unique)) as [string, string[], string[]?];
      if (out[0] === 'unknown') return { acked: [], alreadyAcked: [], unknown: out[1] };
      left(out[1]);
      return { acked: out[1], alreadyAcked: out[2]!, unknown: [] };
    },
    recordFailedAttempt: async (recipient, ids, nextAttemptAt, error) => {
      if (ids.length === 0) return [];
      const flats = (await failedAttempt(
        P,
        recipient,
        String(nextAttemptAt),
        error,
        ...new Set(ids),
      )) as string[][];
      return flats.map((f) => toDelivery(toMap(f))).sort(bySeq);
    },
    markDead: async (recipient, ids, _at, error) => {
      if (ids.length === 0) return [];
      const flats = (await markDead(P, recipient, error, ...new Set(ids))) as string[][];
      const dead = flats.map((f) => toDelivery(toMap(f))).sort(bySeq);
      left(dead.map((d) => d.messageId));
      return envelopes(dead);
    },
    requeueUnacked: async (recipient, to) => {
      const moved = (await requeue(P, recipient, to ?? recipient, '0')) as string[];
      if (moved.length > 0) mail(to ?? recipient);
      return moved;
    },
    handOver: async (recipient, to, except = []) => {
      const moved = (await requeue(P, recipient, to, '1', ...except)) as string[];
      if (moved.length > 0) mail(to);
      return moved;
    },
    list: async (filter = {}, limit = 1000) => envelopes((await select(filter, limit)).reverse()),
    count: async (filter = {}) => {
      if (filter.states?.length === 0) return 0;
      if (!indexOnly(filter)) return (await select(filter, Number.MAX_SAFE_INTEGER)).length;
      const { keys, min } = indexOf(filter);
      const counts = await Promise.all(keys.map((k) => redis.zcount(k, min, '+inf')));
      return counts.reduce((a, b) => a + b, 0);
    },
    subscribe: async (runId, topic, instanceId, at) => {
      await redis.zadd(`${P}sub:${pair(runId, topic)}`, 'NX', at, instanceId);
    },
    subscribers: async (runId, topic) => redis.zrange(`${P}sub:${pair(runId, topic)}`, 0, -1),
    topicHead: async (runId, topic) => Number((await redis.get(`${P}topic-head:${pair(runId, topic)}`)) ?? 0),
    replay: async (runId, topic, afterSeq, limit) => {
      if (limit <= 0) return [];
      const entries = await redis.xrange(
        `${P}topic:${pair(runId, topic)}`,
        `(${Math.max(0, Math.floor(afterSeq))}-0`,
        '+',
        'COUNT',
        limit,
      );
      const ids = entries.map(([, fields]) => toMap(fields).id!);
      return (
        await hgetallMany(
          redis,
          ids.map((id) => `${P}msg:${id}`),
        )
      )
        .filter((h) => h.id !== undefined)
        .map(toMessage);
    },
  };
}
