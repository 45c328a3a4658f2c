export type { InputEvent } from './input-parser.js';
export { InputParser } from './input-parser.js';
export type { ToolDefinition, ToolCall, ToolOutcome, ToolExecutor } from './tool-types.js';
export type { LocalTools } from './local-tools.js';
export { createLocalTools, resolveInsideCwd, LOCAL_TOOL_DEFINITIONS } from './local-tools.js';
export type {
  ConversationMessage,
  ContentBlock,
  TextBlock,
  ToolUseBlock,
  ToolResultBlock,
  AssistantMessage,
  ModelRequest,
  ModelClient,
  TurnObserver,
  TurnOptions,
  TurnResult,
  ModelUsage,
} from './turn-loop.js';
export { runTurn, appendUserText, ModelLimitError } from './turn-loop.js';
export type { McpConnectionOptions } from './mcp-connection.js';
export { McpConnection, toToolDefinition } from './mcp-connection.js';
export type { ReconnectObserver } from './reconnect.js';
export {
  DEFAULT_RECONNECT_WINDOW_MS,
  failedBeforeSend,
  ReconnectBackoff,
  reconnectNotices,
} from './reconnect.js';
export type { HookEvent, HookPoster, HookPostOptions, HookClientOptions } from './hooks.js';
export { createHookClient, stopHookContinuation } from './hooks.js';
export type { Transcript, TranscriptEntry } from './transcript.js';
export { createTranscript } from './transcript.js';
export {
  conversationFromTranscript,
  parseTranscript,
  readTranscript,
  INTERRUPTED_TOOL_RESULT,
} from './resume.js';
export type { RuntimeUi, TerminalUiOptions } from './terminal-ui.js';
export { TerminalUi, fitLine } from './terminal-ui.js';
export type { LiteRuntimeOptions } from './runtime.js';
export { LiteRuntime } from './runtime.js';
export type { AnthropicModelOptions } from './anthropic-model.js';
export { createAnthropicModel, limitError, resetFromHeaders } from './anthropic-model.js';
export type { LiteConfig } from './config.js';
export { liteConfigFromEnv } from './config.js';
