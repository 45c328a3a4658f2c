import { Redis, ReplyError } from 'ioredis';
import { TmuxClaudeError } from '../../core/index.js';

/** The key prefix when the store URL names none: `?prefix=NAME` lets several organisations share one Redis. */
export const DEFAULT_PREFIX = 'tmux-claude:';

/** Where the Redis store lives: what ioredis connects to, how messages name it, and the key prefix. */
export interface RedisTarget {
  /** The URL ioredis connects to (our own query parameters removed). */
  url: string;
  /** The URL for messages and logs: the password masked. */
  display: string;
  /** Every key of this store starts with it. */
  prefix: string;
}

/**
 * Parses `redis://[user:password@]host[:port][/db][?prefix=NAME]` (or `rediss://` for TLS). The prefix travels
 * in the URL so that every process given the same TMUX_CLAUDE_STORE (supervisors on several hosts, worker
 * threads, the CLI) reads and writes the same keys without a second setting to keep in step.
 */
export function parseRedisTarget(store: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `invalid TMUX_CLAUDE_STORE ${JSON.stringify(store)}`, {
      hint: 'use sqlite, or redis://host:port/db?prefix=NAME',
    });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `TMUX_CLAUDE_STORE ${store} is not a redis:// URL`, {
      hint: 'use sqlite, or redis://host:port/db?prefix=NAME',
    });
  }
  const prefix = url.searchParams.get('prefix') ?? DEFAULT_PREFIX;
  if (prefix === '') {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `TMUX_CLAUDE_STORE ${store} has an empty prefix`, {
      hint: 'name a prefix (e.g. ?prefix=my-org:) or leave it out for the default tmux-claude:',
    });
  }
  url.searchParams.delete('prefix');
  const display = new URL(url.href);
  if (display.password) display.password = '***';
  return { url: url.href, display: display.href, prefix };
}

/**
 * One ioredis connection. Calls made while Redis is unreachable wait in the offline queue through at most two
 * reconnection attempts and then fail (MaxRetriesPerRequestError), which the store reports as UNAVAILABLE: an
 * agent gets a clear error within about two seconds instead of a call that hangs, and a short blip (a
 * restart) is ridden out. Reconnection goes on in the background with an exponential backoff capped at one
 * second, so the store works again as soon as Redis is back.
 * Auto-pipelining batches the commands concurrent callers issue in one tick into one round trip.
 */
export function connect(target: RedisTarget): Redis {
  const redis = new Redis(target.url, {
    connectTimeout: 3_000,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
  });
  // Without a listener ioredis prints every failed reconnection; the calls themselves report the outage.
  redis.on('error', () => {});
  return redis;
}

/** A Redis (or connection) failure as the store's error: UNAVAILABLE naming the store, or INTERNAL for a bug. */
export function storeError(target: RedisTarget, err: unknown): unknown {
  if (err instanceof TmuxClaudeError) return err;
  if (err instanceof ReplyError) {
    const message = (err as Error).message;
    // Replies that mean "not now" rather than "wrong": loading a dataset, a read-only replica, no quorum,
    // out of memory under maxmemory (noeviction).
    if (/^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF|OOM)/.test(message)) {
      return new TmuxClaudeError('UNAVAILABLE', `the Redis store at ${target.display} refused: ${message}`, {
        cause: err,
        hint: 'wait until Redis is ready and writable, then retry',
      });
    }
    return new TmuxClaudeError('INTERNAL', `the Redis store at ${target.display} failed: ${message}`, {
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TmuxClaudeError('UNAVAILABLE', `cannot reach the Redis store at ${target.display}: ${message}`, {
    cause: err,
    hint: 'check that Redis is running and TMUX_CLAUDE_STORE points at it; calls succeed again once it is back',
  });
}

/** The same object with every method's failures turned into the store's errors. */
export function guarded<T extends object>(target: RedisTarget, api: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(api)) {
    out[name] =
      typeof value === 'function'
        ? async (...args: unknown[]) => {
            try {
              return await (value as (...a: unknown[]) => Promise<unknown>)(...args);
            } catch (err) {
              throw storeError(target, err);
            }
          }
        : value;
  }
  return out as T;
}

/** A Lua script registered with defineCommand (EVALSHA, loaded on first use); every argument is ARGV. */
export type Script = (...args: Array<string | number>) => Promise<unknown>;

/**
 * Lua shared by every script. ARGV[1] is always the key prefix: keys are built inside the scripts from the
 * records they read (a task's owner, a reservation's run), which a standalone Redis allows; Redis Cluster
 * would need every key of a script in one hash slot, which this store does not attempt.
 */
export const LUA_PRELUDE = `
local P = ARGV[1]
local function toMap(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
`;

let scriptCounter = 0;

/** Registers the script on this connection and returns a typed caller. */
export function defineScript(redis: Redis, body: string): Script {
  scriptCounter += 1;
  const name = `tmuxClaude${scriptCounter}`;
  redis.defineCommand(name, { numberOfKeys: 0, lua: `${LUA_PRELUDE}\n${body}` });
  const commands = redis as unknown as Record<string, Script>;
  return (...args) => commands[name]!(...args);
}

/** A Redis hash reply (field, value, field, value …) as an object. */
export function toMap(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Field/value pairs for HSET from an object, leaving out nulls (an absent field is null). */
export function fieldPairs(record: Record<string, string | number | null | undefined>): string[] {
  const out: string[] = [];
  for (const [field, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue;
    out.push(field, String(value));
  }
  return out;
}

export const num = (v: string | undefined): number => Number(v ?? 0);
export const numOrNull = (v: string | undefined): number | null => (v === undefined ? null : Number(v));
export const strOrNull = (v: string | undefined): string | null => v ?? null;

/** Runs of HGETALL in one round trip. */
export async function hgetallMany(
  redis: Redis,
  keys: readonly string[],
): Promise<Array<Record<string, string>>> {
  if (keys.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hgetall(key);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([err, value]) => {
    if (err) throw err;
    return value as Record<string, string>;
  });
}

/** Lexicographically sortable fixed-width decimal of a non-negative integer (lex order = numeric order). */
export function sortable(n: number): string {
  const clamped = Math.min(Math.max(Math.round(n), 0), Number.MAX_SAFE_INTEGER);
  return String(clamped).padStart(16, '0');
}

/** A key of two free-text parts (e.g. run and topic), unambiguous whatever the parts hold. */
export const pair = (a: string, b: string): string => JSON.stringify([a, b]);
