export type { GeminiAdapterOptions } from './gemini-adapter.js';
export { geminiAdapter, createGeminiAdapter, defaultGeminiCommand } from './gemini-adapter.js';
export type { GeminiSettingsOptions } from './gemini-settings.js';
export { geminiSettings, geminiArgs, excludedTools } from './gemini-settings.js';
export { mapGeminiHook, unescapePastedAt } from './hook-events.js';
