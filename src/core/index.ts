export type {
  Role,
  AgentKind,
  InstanceState,
  Instance,
  Host,
  Progress,
  Run,
  Message,
  Delivery,
  DeliveryState,
  Envelope,
  EventDataByKind,
  EventKind,
  EventInput,
  AuditEvent,
  VerifyReport,
  Task,
  TaskState,
  Reservation,
  ReservationMode,
  Knowledge,
  BudgetLimits,
  BudgetResource,
} from './types.js';
export { ROLES, AGENT_KINDS, LIVE_STATES, DELIVERY_STATES, TASK_STATES, isLive } from './types.js';
export { normaliseRepoGlob, globMatches, globsOverlap, overlappingPairs } from './globs.js';
export type { ErrorCode } from './errors.js';
export { TmuxClaudeError, CommandError, notFound, asError } from './errors.js';
export {
  newInstanceId,
  newRunId,
  newMessageId,
  newTaskId,
  newReservationId,
  newKnowledgeId,
  newToken,
  hashToken,
  slugify,
  specialistBranch,
  managerBranch,
} from './ids.js';
export type { Config, Paths, DeathPolicy, RecoveryPolicy, RoleRecovery } from './config.js';
export {
  ConfigSchema,
  loadConfig,
  pathsFor,
  instanceDir,
  parseRecoveryEnv,
  recoveryPolicy,
} from './config.js';
export type { Logger } from './logger.js';
export { createLogger, silentLogger } from './logger.js';
export type { RunResult } from './process.js';
export { runCommand } from './process.js';
export { isRecord, asRecord, parseJsonObject } from './json.js';
export { Signals } from './signals.js';
export type { ProcessStat } from './proc.js';
export {
  clockTicksPerSecond,
  cpuSeconds,
  childCpuSeconds,
  rssBytes,
  processTable,
  parentTable,
  childrenIndex,
  descendantsOf,
  hostCpuSeconds,
} from './proc.js';
