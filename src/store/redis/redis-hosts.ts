import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { TmuxClaudeError, type ErrorCode, type Host } from '../../core/index.js';
import type { HostLink, HostRequest, HostStore } from '../types.js';
import { connect, defineScript, fieldPairs, storeError, toMap, type RedisTarget } from './redis-common.js';

/*
 * Hosts (keys after the prefix): `host:ID` a hash per host, `host-all` a set of ids. Requests between
 * supervisors: `host-req:ID` a list (LPUSH by the requester, BRPOP by the host's supervisor), answers on
 * `host-ans:REQUEST` (a list of one, expiring), which the requester BRPOPs.
 */

/** ARGV: P, id, incarnation, at, staleMs, nFields, fields… → 'ok' | the current holder's hash. */
const REGISTER = `
local key = P .. 'host:' .. ARGV[2]
local cur = toMap(redis.call('HGETALL', key))
if cur.state == 'up' and cur.incarnation ~= ARGV[3] and tonumber(cur.lastSeen) > tonumber(ARGV[4]) - tonumber(ARGV[5]) then
  return redis.call('HGETALL', key)
end
redis.call('DEL', key)
redis.call('HSET', key, 'state', 'up', 'lastSeen', ARGV[4], unpack(ARGV, 7, 6 + tonumber(ARGV[6])))
redis.call('SADD', P .. 'host-all', ARGV[2])
return 'ok'
`;

/** ARGV: P, id, incarnation, at → 1 when the incarnation holds the id and is up. */
const HEARTBEAT = `
local key = P .. 'host:' .. ARGV[2]
if redis.call('HGET', key, 'incarnation') ~= ARGV[3] or redis.call('HGET', key, 'state') ~= 'up' then return 0 end
redis.call('HSET', key, 'lastSeen', ARGV[4])
return 1
`;

/** ARGV: P, id, silentSince, by, at → 1 when this call declared the host lost. */
const MARK_LOST = `
local key = P .. 'host:' .. ARGV[2]
if redis.call('HGET', key, 'state') ~= 'up' then return 0 end
if tonumber(redis.call('HGET', key, 'lastSeen')) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', key, 'state', 'lost', 'lostBy', ARGV[4], 'lostAt', ARGV[5])
return 1
`;

/** ARGV: P, id, incarnation */
const MARK_DOWN = `
local key = P .. 'host:' .. ARGV[2]
if redis.call('HGET', key, 'incarnation') == ARGV[3] and redis.call('HGET', key, 'state') == 'up' then
  redis.call('HSET', key, 'state', 'down')
end
return 1
`;

function toHost(h: Record<string, string>): Host {
  return {
    id: h.id!,
    state: h.state as Host['state'],
    incarnation: h.incarnation!,
    pid: Number(h.pid),
    url: h.url!,
    capacity: Number(h.capacity),
    startedAt: Number(h.startedAt),
    lastSeen: Number(h.lastSeen),
    lostAt: h.lostAt === undefined ? null : Number(h.lostAt),
    lostBy: h.lostBy ?? null,
  };
}

export function makeRedisHostStore(redis: Redis, P: string): HostStore {
  const register = defineScript(redis, REGISTER);
  const heartbeat = defineScript(redis, HEARTBEAT);
  const markLost = defineScript(redis, MARK_LOST);
  const markDown = defineScript(redis, MARK_DOWN);
  const get = async (id: string): Promise<Host | null> => {
    const h = await redis.hgetall(`${P}host:${id}`);
    return h.id === undefined ? null : toHost(h);
  };
  return {
    register: async (host, at, staleMs) => {
      const fields = fieldPairs({ ...host });
      const out = (await register(P, host.id, host.incarnation, at, staleMs, fields.length, ...fields)) as
        string | string[];
      if (out !== 'ok') {
        const holder = toHost(toMap(out as string[]));
        throw new TmuxClaudeError(
          'CONFLICT',
          `host id ${host.id} is in use by a live supervisor (pid ${holder.pid}, ${holder.url})`,
          { hint: 'give each supervisor sharing a store its own TMUX_CLAUDE_HOST' },
        );
      }
      return (await get(host.id))!;
    },
    heartbeat: async (id, incarnation, at) =>
      (await heartbeat(P, id, incarnation, at)) === 1 ? get(id) : null,
    get,
    list: async () => {
      const ids = (await redis.smembers(`${P}host-all`)).sort();
      return (await Promise.all(ids.map(get))).filter((h): h is Host => h !== null);
    },
    markLost: async (id, silentSince, by, at) => (await markLost(P, id, silentSince, by, at)) === 1,
    markDown: async (id, incarnation) => {
      await markDown(P, id, incarnation);
    },
  };
}

/** An answer as it travels back: the value, or the error's code, message and hint. */
type Answer = { ok: true; value: unknown } | { ok: false; code: ErrorCode; message: string; hint?: string };

/** At most this many idle blocking connections are kept for requests. */
const IDLE_WAITERS = 4;

/**
 * Requests between supervisors over Redis lists. Blocking pops need connections of their own: one per host
 * served, and one per request in flight, kept for the next request once it is answered.
 */
export class RedisHostLink implements HostLink {
  private readonly serving = new Set<() => void>();
  /** Blocking connections free for the next request's wait (a dashboard terminal asks several times a second). */
  private readonly idle: Redis[] = [];
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly target: RedisTarget,
  ) {}

  async request(
    host: string,
    kind: string,
    args: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<unknown> {
    const P = this.target.prefix;
    const req: HostRequest = { id: randomUUID(), kind, args, deadline: Date.now() + timeoutMs };
    const waiter = this.idle.pop() ?? connect(this.target);
    let reusable = false;
    try {
      await this.redis.lpush(`${P}host-req:${host}`, JSON.stringify(req)).catch((err: unknown) => {
        throw storeError(this.target, err);
      });
      const popped = await waiter
        .brpop(`${P}host-ans:${req.id}`, Math.max(1, Math.ceil(timeoutMs / 1000)))
        .catch((err: unknown) => {
          throw storeError(this.target, err);
        });
      reusable = true;
      if (!popped) {
        throw new TmuxClaudeError(
          'UNAVAILABLE',
          `host ${host} did not answer ${kind} within ${timeoutMs / 1000} s`,
          {
            hint: `check that the supervisor on ${host} runs (tmux-claude hosts)`,
          },
        );
      }
      const answer = JSON.parse(popped[1]) as Answer;
      if (answer.ok) return answer.value;
      throw new TmuxClaudeError(answer.code, answer.message, { hint: answer.hint });
    } finally {
      // A wait cut short (an error) may still hold the server's BRPOP: that connection is not reused.
      if (reusable && !this.closed && this.idle.length < IDLE_WAITERS) this.idle.push(waiter);
      else waiter.disconnect();
    }
  }

  serve(host: string, handler: (req: HostRequest) => Promise<unknown>): () => void {
    const P = this.target.prefix;
    const conn = connect(this.target);
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      this.serving.delete(stop);
      conn.disconnect();
    };
    this.serving.add(stop);
    const answer = async (req: HostRequest): Promise<void> => {
      let out: Answer;
      try {
        out = { ok: true, value: (await handler(req)) ?? null };
      } catch (err) {
        const e =
          err instanceof TmuxClaudeError
            ? err
            : new TmuxClaudeError('INTERNAL', err instanceof Error ? err.message : String(err));
        out = { ok: false, code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
      }
      const key = `${P}host-ans:${req.id}`;
      await this.redis.multi().lpush(key, JSON.stringify(out)).expire(key, 60).exec();
    };
    void (async () => {
      while (!stopped) {
        let popped: [string, string] | null = null;
        try {
          popped = await conn.brpop(`${P}host-req:${host}`, 1);
        } catch {
          // Redis is down: the connection retries in the background; look again shortly.
          if (!stopped) await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        if (!popped) continue;
        const req = JSON.parse(popped[1]) as HostRequest;
        // The requester gave up: running it now would surprise everyone (e.g. a spawn nobody waits for).
        if (req.deadline < Date.now()) continue;
        void answer(req).catch(() => undefined);
      }
    })();
    return stop;
  }

  /** Stops serving every host (the store is closing). */
  close(): void {
    this.closed = true;
    for (const stop of [...this.serving]) stop();
    for (const conn of this.idle.splice(0)) conn.disconnect();
  }
}
