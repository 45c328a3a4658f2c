import type { Redis } from 'ioredis';
import { TmuxClaudeError, notFound, type Instance, type InstanceState, type Run } from '../../core/index.js';
import type {
  EventLog,
  HostStore,
  InstanceFilter,
  InstancePatch,
  InstanceStore,
  KnowledgeStore,
  MessageStore,
  MetaStore,
  ReservationStore,
  RunStore,
  Store,
  StoreChange,
  TaskStore,
} from '../types.js';
import {
  connect,
  defineScript,
  fieldPairs,
  guarded,
  hgetallMany,
  num,
  numOrNull,
  parseRedisTarget,
  storeError,
  strOrNull,
  toMap,
  type RedisTarget,
} from './redis-common.js';
import { makeRedisEventLog } from './redis-events.js';
import { makeRedisHostStore, RedisHostLink } from './redis-hosts.js';
import { makeRedisKnowledgeStore } from './redis-knowledge.js';
import { makeRedisMessageStore } from './redis-messages.js';
import { makeRedisTaskStores } from './redis-tasks.js';
import { WakeChannel } from './redis-wake.js';

/*
 * Instances, runs and meta (the rest lives in the sibling modules). Keys (after the prefix): `inst:ID` a hash
 * per instance (null fields absent, progress as JSON), `inst-seq` the creation counter, `inst-all`,
 * `inst-run:RUN`, `inst-parent:PARENT` sorted sets by creation, `inst-token` a hash token hash → id;
 * `run:ID` a hash per run, `run-all` a sorted set by creation time; `meta` a hash.
 */

/** ARGV: P, id, runId, parentId|'', tokenHash, nFields, fields… */
const CREATE_INSTANCE = `
local id, runId, parentId, token = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = P .. 'inst:' .. id
if redis.call('EXISTS', key) == 1 then return 0 end
local seq = redis.call('INCR', P .. 'inst-seq')
redis.call('HSET', key, unpack(ARGV, 7, 6 + tonumber(ARGV[6])))
redis.call('HSET', key, 'seq', seq)
redis.call('ZADD', P .. 'inst-all', seq, id)
redis.call('ZADD', P .. 'inst-run:' .. runId, seq, id)
if parentId ~= '' then redis.call('ZADD', P .. 'inst-parent:' .. parentId, seq, id) end
redis.call('HSET', P .. 'inst-token', token, id)
return 1
`;

/** ARGV: P, id, updatedAt, nExpect (-1: no expectation), expected states…, nSet, set pairs…, fields to clear… */
const UPDATE_INSTANCE = `
local id, now = ARGV[2], ARGV[3]
local key = P .. 'inst:' .. id
local current = toMap(redis.call('HGETALL', key))
if not current.id then return {'not_found'} end
local nExpect = tonumber(ARGV[4])
local i = 5
if nExpect >= 0 then
  local ok = false
  for j = i, i + nExpect - 1 do if ARGV[j] == current.state then ok = true end end
  if not ok then return {'mismatch'} end
  i = i + nExpect
end
local nSet = tonumber(ARGV[i])
local sets = {unpack(ARGV, i + 1, i + nSet)}
for j = 1, #sets, 2 do
  if sets[j] == 'tokenHash' and sets[j + 1] ~= current.tokenHash then
    if redis.call('HGET', P .. 'inst-token', current.tokenHash) == id then redis.call('HDEL', P .. 'inst-token', current.tokenHash) end
    redis.call('HSET', P .. 'inst-token', sets[j + 1], id)
  end
end
redis.call('HSET', key, 'updatedAt', now, unpack(sets))
for j = i + nSet + 1, #ARGV do redis.call('HDEL', key, ARGV[j]) end
return {'ok', redis.call('HGETALL', key)}
`;

/** ARGV: P, id, createdAt, nFields, fields… */
const CREATE_RUN = `
local key = P .. 'run:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, unpack(ARGV, 5, 4 + tonumber(ARGV[4])))
redis.call('ZADD', P .. 'run-all', ARGV[3], ARGV[2])
return 1
`;

function toInstance(h: Record<string, string>): Instance {
  return {
    id: h.id!,
    runId: h.runId!,
    role: h.role as Instance['role'],
    parentId: strOrNull(h.parentId),
    name: h.name!,
    agent: h.agent as Instance['agent'],
    state: h.state as InstanceState,
    branch: strOrNull(h.branch),
    worktree: strOrNull(h.worktree),
    cwd: h.cwd!,
    tmuxSession: h.tmuxSession!,
    host: h.host ?? '',
    pid: numOrNull(h.pid),
    tokenHash: h.tokenHash!,
    task: strOrNull(h.task),
    taskId: strOrNull(h.taskId),
    createdAt: num(h.createdAt),
    updatedAt: num(h.updatedAt),
    endedAt: numOrNull(h.endedAt),
    error: strOrNull(h.error),
    progress: h.progress ? (JSON.parse(h.progress) as Instance['progress']) : null,
  };
}

function toRun(h: Record<string, string>): Run {
  return {
    id: h.id!,
    goal: h.goal!,
    repo: h.repo!,
    targetBranch: h.targetBranch!,
    agent: h.agent as Run['agent'],
    agentEnv: JSON.parse(h.agentEnv!) as Record<string, string>,
    createdAt: num(h.createdAt),
  };
}

/** Patch fields of an instance as stored (progress as JSON text, null to clear). */
function patchValue(key: keyof InstancePatch, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return key === 'progress' ? JSON.stringify(value) : String(value);
}

/**
 * The shared store: one Redis (7 or later, no modules) that every supervisor of an organisation points at,
 * its keys under one prefix. Each method is one Lua script or one read; see the sibling modules for the data
 * model of each part. For durability Redis needs AOF (`appendonly yes`, `appendfsync everysec` or `always`).
 */
export class RedisStore implements Store {
  readonly backend = 'redis' as const;
  readonly instances: InstanceStore;
  readonly runs: RunStore;
  readonly messages: MessageStore;
  readonly tasks: TaskStore;
  readonly reservations: ReservationStore;
  readonly knowledge: KnowledgeStore;
  readonly events: EventLog;
  readonly meta: MetaStore;
  readonly hosts: HostStore;
  readonly link: RedisHostLink;
  /** The key prefix of this store. */
  readonly prefix: string;
  private readonly redis: Redis;
  private readonly target: RedisTarget;
  private readonly wake: WakeChannel;

  /** `url`: redis:// or rediss://, optionally with `?prefix=NAME` (default `tmux-claude:`). */
  constructor(url: string) {
    this.target = parseRedisTarget(url);
    this.prefix = this.target.prefix;
    this.redis = connect(this.target);
    this.wake = new WakeChannel(this.redis, this.target);
    const changed = this.wake.changed;
    const g = <T extends object>(api: T): T => guarded(this.target, api);
    this.instances = g(this.makeInstances());
    this.runs = g(this.makeRuns());
    this.messages = g(makeRedisMessageStore(this.redis, this.prefix, changed));
    const taskStores = makeRedisTaskStores(this.redis, this.prefix, changed);
    this.tasks = g(taskStores.tasks);
    this.reservations = g(taskStores.reservations);
    this.knowledge = g(makeRedisKnowledgeStore(this.redis, this.prefix));
    this.events = g(makeRedisEventLog(this.redis, this.prefix, changed));
    this.meta = g(this.makeMeta());
    this.hosts = g(makeRedisHostStore(this.redis, this.prefix));
    this.link = new RedisHostLink(this.redis, this.target);
  }

  /** The id this store's wake-up hints carry (its subscriber connection is named after it): for diagnostics. */
  get wakeOrigin(): string {
    return this.wake.origin;
  }

  /** Where this store lives, password masked: for messages and `doctor`. */
  get location(): string {
    return `${this.target.display} (prefix ${this.prefix})`;
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.redis.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5_000);
        }),
      ]);
    } catch (err) {
      throw storeError(this.target, err);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Changes other processes on this prefix committed, from Pub/Sub channel `<prefix>wake` (see
   * {@link WakeChannel}): hints to look again, with `resync` after the hint connection was lost.
   */
  onExternalChange(listener: (changes: readonly StoreChange[]) => void): () => void {
    return this.wake.listen(listener);
  }

  async close(): Promise<void> {
    this.wake.close();
    this.link.close();
    if (this.redis.status === 'end') return;
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  private makeInstances(): InstanceStore {
    const redis = this.redis;
    const P = this.prefix;
    const create = defineScript(redis, CREATE_INSTANCE);
    const update = defineScript(redis, UPDATE_INSTANCE);
    const byIds = async (ids: readonly string[]) =>
      (
        await hgetallMany(
          redis,
          ids.map((id) => `${P}inst:${id}`),
        )
      )
        .filter((h) => h.id !== undefined)
        .map(toInstance);
    return {
      create: async (inst) => {
        const fields = fieldPairs({
          ...inst,
          progress: inst.progress ? JSON.stringify(inst.progress) : null,
        } as unknown as Record<string, string | number | null>);
        const created = await create(
          P,
          inst.id,
          inst.runId,
          inst.parentId ?? '',
          inst.tokenHash,
          fields.length,
          ...fields,
        );
        if (created !== 1) throw new TmuxClaudeError('CONFLICT', `instance ${inst.id} exists`);
      },
      get: async (id) => {
        const h = await redis.hgetall(`${P}inst:${id}`);
        return h.id === undefined ? null : toInstance(h);
      },
      findByTokenHash: async (hash) => {
        const id = await redis.hget(`${P}inst-token`, hash);
        if (id === null) return null;
        const h = await redis.hgetall(`${P}inst:${id}`);
        return h.id === undefined || h.tokenHash !== hash ? null : toInstance(h);
      },
      list: async (filter: InstanceFilter = {}) => {
        if (filter.states?.length === 0) return [];
        const index =
          filter.parentId !== undefined
            ? `${P}inst-parent:${filter.parentId}`
            : filter.runId !== undefined
              ? `${P}inst-run:${filter.runId}`
              : `${P}inst-all`;
        return (await byIds(await redis.zrange(index, 0, -1))).filter(
          (i) =>
            (filter.runId === undefined || i.runId === filter.runId) &&
            (filter.parentId === undefined || i.parentId === filter.parentId) &&
            (filter.host === undefined || i.host === filter.host) &&
            (filter.states === undefined || filter.states.includes(i.state)),
        );
      },
      update: async (id, patch: InstancePatch, expectState) => {
        const sets: string[] = [];
        const clears: string[] = [];
        for (const [key, value] of Object.entries(patch) as Array<[keyof InstancePatch, unknown]>) {
          const stored = patchValue(key, value);
          if (stored === null) clears.push(key);
          else sets.push(key, stored);
        }
        const expect = expectState ? [expectState.length, ...expectState] : [-1];
        const out = (await update(P, id, String(Date.now()), ...expect, sets.length, ...sets, ...clears)) as [
          string,
          string[]?,
        ];
        if (out[0] === 'not_found') throw notFound('instance', id);
        if (out[0] === 'mismatch') return null;
        if (patch.state !== undefined) this.wake.changed({ kind: 'instance', id });
        return toInstance(toMap(out[1]!));
      },
    };
  }

  private makeRuns(): RunStore {
    const redis = this.redis;
    const P = this.prefix;
    const create = defineScript(redis, CREATE_RUN);
    return {
      create: async (run) => {
        const fields = fieldPairs({ ...run, agentEnv: JSON.stringify(run.agentEnv) });
        if ((await create(P, run.id, String(run.createdAt), fields.length, ...fields)) !== 1) {
          throw new TmuxClaudeError('CONFLICT', `run ${run.id} exists`);
        }
      },
      get: async (id) => {
        const h = await redis.hgetall(`${P}run:${id}`);
        return h.id === undefined ? null : toRun(h);
      },
      list: async () => {
        const ids = await redis.zrange(`${P}run-all`, 0, -1);
        return (
          await hgetallMany(
            redis,
            ids.map((id) => `${P}run:${id}`),
          )
        )
          .filter((h) => h.id !== undefined)
          .map(toRun);
      },
    };
  }

  private makeMeta(): MetaStore {
    const key = `${this.prefix}meta`;
    return {
      get: async (k) => this.redis.hget(key, k),
      set: async (k, value) => {
        await this.redis.hset(key, k, value);
      },
    };
  }
}
