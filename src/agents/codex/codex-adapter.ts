import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AgentAdapter, LaunchContext, LaunchSpec } from '../adapter.js';
import { TOKEN_ENV, codexArgs, codexConfigToml } from './codex-config.js';
import { worktreeGitDirs } from './git-dirs.js';
import { nodeProgram, shellQuote } from '../relay-command.js';

/** Options of {@link createCodexAdapter}. */
export interface CodexAdapterOptions {
  /** The Codex executable as argv; default: the installed `@openai/codex` package, else `codex` on PATH. */
  command?: readonly string[];
  /** Extra arguments after the adapter's own (tests add `--strict-config`). */
  extraArgs?: readonly string[];
}

const NATIVE_PACKAGES: Record<string, { pkg: string; triple: string }> = {
  'linux-x64': { pkg: '@openai/codex-linux-x64', triple: 'x86_64-unknown-linux-musl' },
  'linux-arm64': { pkg: '@openai/codex-linux-arm64', triple: 'aarch64-unknown-linux-musl' },
  'darwin-x64': { pkg: '@openai/codex-darwin-x64', triple: 'x86_64-apple-darwin' },
  'darwin-arm64': { pkg: '@openai/codex-darwin-arm64', triple: 'aarch64-apple-darwin' },
};

/**
 * The Codex executable. The npm package's `codex.js` only starts the native binary; on Node < 22 it stays
 * alive as a second process per agent, so the native binary is run directly when it can be found.
 */
export function defaultCodexCommand(): string[] {
  const require = createRequire(import.meta.url);
  const native = NATIVE_PACKAGES[`${process.platform}-${process.arch}`];
  if (native) {
    try {
      const bin = join(
        dirname(require.resolve(`${native.pkg}/package.json`)),
        'vendor',
        native.triple,
        'bin',
        'codex',
      );
      if (existsSync(bin)) return [bin];
    } catch {
      // Not installed as a package here: fall through.
    }
  }
  try {
    return [process.execPath, require.resolve('@openai/codex/bin/codex.js')];
  } catch {
    return ['codex'];
  }
}

/**
 * The adapter for OpenAI's Codex CLI (verified with 0.169). Each instance gets a private CODEX_HOME under its
 * instance dir with a generated config.toml; the token travels only as TMUX_CLAUDE_TOKEN, which Codex sends
 * as `Authorization: Bearer` to `/mcp` (`bearer_token_env_var`) and the hook relay sends to `/hooks`.
 *
 * Run-level environment it reads from ctx.env: OPENAI_BASE_URL (an OpenAI-Responses-compatible endpoint,
 * with `/v1`; default https://api.openai.com/v1), OPENAI_API_KEY, TMUX_CLAUDE_MODEL.
 */
export function createCodexAdapter(opts: CodexAdapterOptions = {}): AgentAdapter {
  return {
    kind: 'codex',
    // Codex treats keys arriving within its paste-burst window as a paste; Enter must come well after it.
    enterDelayMs: 250,
    interruptKeys: ['Escape'],
    // Codex connects MCP servers after its composer is drawn (measured: ~400 ms vs ~750 ms), and runs its
    // SessionStart hook only when the first turn starts: its first MCP request is its only ready sign.
    readyNeedsMcp: true,
    // Codex runs its SessionStart hook only when the first turn starts: the first MCP request is the sign.
    readyNeedsHook: false,
    async prepare(ctx: LaunchContext): Promise<LaunchSpec> {
      const home = join(ctx.instanceDir, 'codex');
      await mkdir(home, { recursive: true });
      const config = codexConfigToml({
        role: ctx.role,
        cwd: ctx.cwd,
        supervisorUrl: ctx.supervisorUrl,
        developerInstructions: await readFile(ctx.systemPromptFile, 'utf8'),
        modelBaseUrl: ctx.env.OPENAI_BASE_URL || 'https://api.openai.com/v1',
        model: ctx.env.TMUX_CLAUDE_MODEL || undefined,
        hookCommand: shellQuote(nodeProgram(import.meta.url, 'hook-relay')),
        writableRoots: ctx.role === 'specialist' ? await worktreeGitDirs(ctx.cwd) : [],
      });
      await writeFile(join(home, 'config.toml'), config, { mode: 0o600 });
      return {
        command: [
          ...(opts.command ?? defaultCodexCommand()),
          ...codexArgs({ role: ctx.role, resume: ctx.resume }),
          ...(opts.extraArgs ?? []),
        ],
        env: {
          // Codex requires the provider's key variable to be set; a local endpoint ignores its value.
          OPENAI_API_KEY: 'not-needed',
          ...ctx.env,
          CODEX_HOME: home,
          TMUX_CLAUDE_INSTANCE: ctx.instanceId,
          TMUX_CLAUDE_ROLE: ctx.role,
          TMUX_CLAUDE_URL: ctx.supervisorUrl,
          [TOKEN_ENV]: ctx.token,
        },
      };
    },
  };
}

/** The Codex adapter with the installed Codex CLI. */
export const codexAdapter: AgentAdapter = createCodexAdapter();
