import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AgentAdapter, LaunchContext, LaunchSpec } from '../adapter.js';
import { nodeProgram, shellQuote } from '../relay-command.js';
import { geminiArgs, geminiSettings } from './gemini-settings.js';

/** Options of {@link createGeminiAdapter}. */
export interface GeminiAdapterOptions {
  /** The Gemini executable as argv; default: the installed `@google/gemini-cli` package, else `gemini`. */
  command?: readonly string[];
}

/** `node <@google/gemini-cli>/bundle/gemini.js` when the package is installed here, else `gemini` on PATH. */
export function defaultGeminiCommand(): string[] {
  try {
    const pkg = createRequire(import.meta.url).resolve('@google/gemini-cli/package.json');
    return [process.execPath, join(dirname(pkg), 'bundle', 'gemini.js')];
  } catch {
    return ['gemini'];
  }
}

/**
 * The adapter for Google's Gemini CLI (verified with 0.61). Each instance gets a private GEMINI_CLI_HOME under
 * its instance dir with generated user settings, and its role prompt as the global GEMINI.md there.
 *
 * The role prompt is added as context (GEMINI.md) rather than through GEMINI_SYSTEM_MD, which replaces Gemini's
 * whole system prompt, including its tool-use and safety rules that the CLI's tools rely on; GEMINI.md is
 * appended to that prompt (inside the system instruction), which is what the role prompt is meant to be.
 *
 * Run-level environment it reads from ctx.env: GOOGLE_GEMINI_BASE_URL (a Gemini-API-compatible endpoint; plain
 * http only on loopback), GEMINI_API_KEY, TMUX_CLAUDE_MODEL.
 */
export function createGeminiAdapter(opts: GeminiAdapterOptions = {}): AgentAdapter {
  return {
    kind: 'gemini',
    // Gemini turns an Enter that follows a paste within 40 ms into a newline (and one within 30 ms of a typed
    // key); 200 ms leaves room for a loaded machine.
    enterDelayMs: 200,
    interruptKeys: ['Escape'],
    // SessionStart fires once config and UI are up, but MCP servers connect in the background after it.
    // Gemini would queue a prompt until they are connected; waiting for the first MCP request as well makes
    // a spawn fail visibly when the MCP connection does not come up.
    readyNeedsMcp: true,
    readyNeedsHook: true,
    async prepare(ctx: LaunchContext): Promise<LaunchSpec> {
      const home = join(ctx.instanceDir, 'gemini');
      const dotGemini = join(home, '.gemini');
      await mkdir(dotGemini, { recursive: true });
      const settings = geminiSettings({
        role: ctx.role,
        supervisorUrl: ctx.supervisorUrl,
        hookCommand: shellQuote(nodeProgram(import.meta.url, 'hook-relay')),
        model: ctx.env.TMUX_CLAUDE_MODEL || undefined,
      });
      await writeFile(join(dotGemini, 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`, {
        mode: 0o600,
      });
      await writeFile(join(dotGemini, 'GEMINI.md'), await readFile(ctx.systemPromptFile, 'utf8'));
      return {
        command: [...(opts.command ?? defaultGeminiCommand()), ...geminiArgs({ resume: ctx.resume })],
        env: {
          // Gemini requires a key for API-key auth; a local endpoint ignores its value.
          GEMINI_API_KEY: 'not-needed',
          ...ctx.env,
          GEMINI_CLI_HOME: home,
          GEMINI_CLI_TRUST_WORKSPACE: 'true',
          // No container sandbox (none is available here), and no self-relaunch (one process per agent).
          GEMINI_SANDBOX: 'false',
          GEMINI_CLI_NO_RELAUNCH: 'true',
          // Gemini CLI runs headless (no prompt, reads stdin) when CI=true or GITHUB_ACTIONS=true is inherited.
          CI: 'false',
          GITHUB_ACTIONS: 'false',
          TMUX_CLAUDE_INSTANCE: ctx.instanceId,
          TMUX_CLAUDE_ROLE: ctx.role,
          TMUX_CLAUDE_URL: ctx.supervisorUrl,
          TMUX_CLAUDE_TOKEN: ctx.token,
        },
      };
    },
  };
}

/** The Gemini adapter with the installed Gemini CLI. */
export const geminiAdapter: AgentAdapter = createGeminiAdapter();
