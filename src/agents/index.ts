import { TmuxClaudeError, type AgentKind } from '../core/index.js';
import type { AgentAdapter } from './adapter.js';
import { claudeAdapter } from './claude/index.js';
import { codexAdapter } from './codex/index.js';
import { geminiAdapter } from './gemini/index.js';
import { liteAdapter } from './lite-adapter.js';

export type { AgentAdapter, LaunchContext, LaunchSpec } from './adapter.js';
export { liteAdapter } from './lite-adapter.js';
export { claudeAdapter, claudeBinary } from './claude/index.js';
export { codexAdapter, createCodexAdapter } from './codex/index.js';
export { geminiAdapter, createGeminiAdapter } from './gemini/index.js';

/** The adapter for an agent kind; kinds without an adapter in this build get a clear error. */
export function adapterFor(kind: AgentKind): AgentAdapter {
  if (kind === 'lite') return liteAdapter;
  if (kind === 'claude') return claudeAdapter;
  if (kind === 'codex') return codexAdapter;
  if (kind === 'gemini') return geminiAdapter;
  throw new TmuxClaudeError('INVALID_ARGUMENT', `the ${kind} agent adapter is not available in this build`, {
    hint: 'use --agent lite or --agent claude',
  });
}
