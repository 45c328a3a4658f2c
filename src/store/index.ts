import type { Config } from '../core/index.js';
import { TmuxClaudeError, pathsFor } from '../core/index.js';
import { RedisStore } from './redis/redis-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

export type {
  Store,
  StoreChange,
  InstanceStore,
  InstancePatch,
  InstanceFilter,
  RunStore,
  MessageStore,
  DeliveryFilter,
  NewMessage,
  AckOutcome,
  EventLog,
  MetaStore,
  HostStore,
  HostRegistration,
  HostRequest,
  HostLink,
  NewTask,
  TaskFilter,
  TaskStore,
  ClaimRequest,
  ClaimOutcome,
  ClaimRefusal,
  FenceOutcome,
  FenceRefusal,
  Released,
  ReservationStore,
  ReserveRequest,
  NewKnowledge,
  KnowledgeQuery,
  KnowledgeHit,
  KnowledgeStore,
} from './types.js';
export { SqliteStore } from './sqlite/sqlite-store.js';
export { RedisStore } from './redis/redis-store.js';
export { deleteKeysUnder, redisUnreachable } from './redis/redis-admin.js';

/**
 * The backend factory: picks the store from config. `sqlite` is the embedded store at <home>/store.db; a
 * `redis://` or `rediss://` URL (optionally `?prefix=NAME`, default `tmux-claude:`) is the shared Redis store.
 * Opening a Redis store does not wait for the connection: call `ping()` to find out whether it is reachable.
 */
export function openStore(config: Pick<Config, 'store' | 'home'>): Store {
  if (config.store === 'sqlite') return new SqliteStore(pathsFor(config.home).storeFile);
  if (/^rediss?:\/\//.test(config.store)) return new RedisStore(config.store);
  throw new TmuxClaudeError('INVALID_ARGUMENT', `store ${config.store} is not supported`, {
    hint: 'use TMUX_CLAUDE_STORE=sqlite (the default) or a redis:// URL',
  });
}
