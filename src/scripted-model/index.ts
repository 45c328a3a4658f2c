export type {
  ScriptedModelServer,
  ScriptedModelServerOptions,
  ScriptedMessage,
  StreamEvent,
} from './server.js';
export { createScriptedModelServer, streamEvents, estimateTokens } from './server.js';
export type { NextTurnOptions } from './scenarios.js';
export { nextTurn } from './scenarios.js';
export type { FileSpec, SpecialistPlan, ManagerPlan, OrgPlan } from './demo-plan.js';
export { DEMO_PLAN } from './demo-plan.js';
export {
  parseDeliveredMessages,
  formatFencedBlock,
  extractFencedBlocks,
  extractJsonBlock,
  roleFromSystemPrompt,
} from './prompt-formats.js';
export type {
  WireMessage,
  WireBlock,
  WireTextBlock,
  WireToolUseBlock,
  WireToolResultBlock,
  ReplyBlock,
  ScriptedTurn,
  StopReason,
} from './wire.js';
