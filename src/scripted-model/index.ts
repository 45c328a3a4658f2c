export type {
  ScriptedModelServer,
  ScriptedModelServerOptions,
  RequestLogEntry,
  ScriptedMessage,
  StreamEvent,
} from './server.js';
export { createScriptedModelServer, streamEvents, estimateTokens } from './server.js';
export type { NextTurnOptions } from './scenarios.js';
export { nextTurn, knobsOf, commitCommand, appendCommand, readResultContent } from './scenarios.js';
export type { FileSpec, SpecialistPlan, ManagerPlan, OrgPlan, GeneratedProjectOptions } from './demo-plan.js';
export { DEMO_PLAN, generatedProject, overlappingTasks } from './demo-plan.js';
export {
  parseDeliveredMessages,
  formatFencedBlock,
  extractFencedBlocks,
  extractJsonBlock,
  roleFromSystemPrompt,
  scriptedKnobs,
  stripClientMarkup,
} from './prompt-formats.js';
export type { ScriptedKnobs } from './prompt-formats.js';
export type { ChatterConfig } from './chatter.js';
export { chatterConfig, formatChatterBlock, processedIdsIn, processedCountsInTranscript } from './chatter.js';
export type { SideRequest } from './side-requests.js';
export { sideRequest } from './side-requests.js';
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
