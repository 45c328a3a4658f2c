export type { ScriptedGeminiServer, ScriptedGeminiServerOptions } from './gemini-server.js';
export { createScriptedGeminiServer } from './gemini-server.js';
export type { GeminiConversation, GeminiPart } from './gemini-wire.js';
export { toConversation, toParts, scenarioToolName, offeredFunctions } from './gemini-wire.js';
