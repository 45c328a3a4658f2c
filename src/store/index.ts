import type { Config } from '../core/index.js';
import { TmuxClaudeError, pathsFor } from '../core/index.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

export type {
  Store,
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

/** The backend factory: picks the store from config. */
export function openStore(config: Pick<Config, 'store' | 'home'>): Store {
  if (config.store === 'sqlite') return new SqliteStore(pathsFor(config.home).storeFile);
  throw new TmuxClaudeError('INVALID_ARGUMENT', `store ${config.store} is not supported yet`, {
    hint: 'use TMUX_CLAUDE_STORE=sqlite (the default); the Redis backend arrives with the multi-host release',
  });
}
