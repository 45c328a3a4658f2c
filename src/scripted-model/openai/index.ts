export type {
  DecideTurn,
  ScriptedResponsesServer,
  ScriptedResponsesServerOptions,
} from './responses-server.js';
export { createScriptedResponsesServer, responseEvents } from './responses-server.js';
export type { OfferedTool, OutputItem, ResponsesConversation } from './responses-wire.js';
export { toConversation, toOutputItems, offeredTools, isHarnessContext } from './responses-wire.js';
