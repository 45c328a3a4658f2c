export type { CodexAdapterOptions } from './codex-adapter.js';
export { codexAdapter, createCodexAdapter, defaultCodexCommand } from './codex-adapter.js';
export type { CodexConfigOptions } from './codex-config.js';
export { codexConfigToml, codexArgs, sandboxMode } from './codex-config.js';
export type { ClaudeHook, ClaudeHookEvent, HookMapper } from './hook-relay-core.js';
export { mapCodexHook } from './hook-events.js';
