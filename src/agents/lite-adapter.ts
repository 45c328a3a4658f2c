import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentAdapter, LaunchContext, LaunchSpec } from './adapter.js';

/** Where the light runtime's entry lives: dist/…/main.js when built, src/…/main.ts under tsx in tests. */
function liteEntry(): string[] {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const js = join(here, 'lite', 'main.js');
  if (existsSync(js)) return [process.execPath, js];
  return [process.execPath, '--import', 'tsx', join(here, 'lite', 'main.ts')];
}

/**
 * The built-in light runtime: a small agent loop in the pane, talking to the model API and to /mcp. A restart
 * (`ctx.resume`) continues the conversation recorded in the instance's transcript.
 */
export const liteAdapter: AgentAdapter = {
  kind: 'lite',
  enterDelayMs: 200,
  interruptKeys: ['C-c'],
  // The light runtime lists the MCP tools before it posts SessionStart.
  readyNeedsMcp: false,
  readyNeedsHook: true,
  prepare(ctx: LaunchContext): Promise<LaunchSpec> {
    return Promise.resolve({
      command: liteEntry(),
      env: {
        ANTHROPIC_API_KEY: 'not-needed',
        ...ctx.env,
        TMUX_CLAUDE_INSTANCE: ctx.instanceId,
        TMUX_CLAUDE_ROLE: ctx.role,
        TMUX_CLAUDE_URL: ctx.supervisorUrl,
        TMUX_CLAUDE_TOKEN: ctx.token,
        TMUX_CLAUDE_SYSTEM_PROMPT_FILE: ctx.systemPromptFile,
        TMUX_CLAUDE_TRANSCRIPT: join(ctx.instanceDir, 'transcript.jsonl'),
        // Set either way, so a value inherited from the run environment cannot stand in for the supervisor's.
        TMUX_CLAUDE_RESUME: ctx.resume ? '1' : '0',
      },
    });
  },
};
