import type { Role } from '../../core/index.js';
import { CODEX_HOOK_EVENTS } from './hook-events.js';

/** The MCP server name the agent sees (its tools appear to Codex as `mcp__tmux_claude__<tool>`). */
export const MCP_SERVER_NAME = 'tmux-claude';
/** The model provider id the adapter defines; API-key auth, so Codex never opens its login screen. */
export const MODEL_PROVIDER_ID = 'tmux-claude-model';
/** The environment variable Codex reads the instance token from (never written to a file). */
export const TOKEN_ENV = 'TMUX_CLAUDE_TOKEN';

/** Everything that goes into an instance's `$CODEX_HOME/config.toml`. */
export interface CodexConfigOptions {
  role: Role;
  /** The instance's working directory; marked trusted so no trust dialog opens. */
  cwd: string;
  supervisorUrl: string;
  /** The role prompt, added to Codex's own instructions as developer instructions. */
  developerInstructions: string;
  /** OpenAI-Responses-compatible base URL, including `/v1`. */
  modelBaseUrl: string;
  /** Model name; Codex's default when absent. */
  model?: string | undefined;
  /** Shell command of the hook relay; Codex writes the hook JSON to its stdin. */
  hookCommand: string;
  /** Extra directories a specialist may write (its worktree's git admin dirs, so it can commit). */
  writableRoots: readonly string[];
}

/** The sandbox per role: Executive and Manager read only, Specialists write inside their workspace. */
export function sandboxMode(role: Role): 'read-only' | 'workspace-write' {
  return role === 'specialist' ? 'workspace-write' : 'read-only';
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A TOML basic string. JSON's escapes are TOML's, except that TOML also wants DEL escaped and has no way to
 * write a lone surrogate (it becomes U+FFFD).
 */
export function tomlString(s: string): string {
  return JSON.stringify(s.replace(LONE_SURROGATE, '\uFFFD')).replaceAll('\u007f', '\\u007F');
}

function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k);
}

type TomlValue = string | number | boolean | readonly string[];

function tomlValue(v: TomlValue): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `[${v.map(tomlString).join(', ')}]`;
}

function keyValues(entries: Record<string, TomlValue | undefined>): string[] {
  return Object.entries(entries).flatMap(([k, v]) =>
    v === undefined ? [] : [`${tomlKey(k)} = ${tomlValue(v)}`],
  );
}

function table(header: string, entries: Record<string, TomlValue | undefined>): string[] {
  return [header, ...keyValues(entries), ''];
}

/**
 * The config.toml of one instance. Everything an unattended TUI needs is decided here: no update check, no
 * background daemon (it would outlive the pane and copy a 400 MB binary into CODEX_HOME), a trusted cwd, an
 * API-key model provider, the tmux-claude MCP server with its token from the environment and its tools
 * pre-approved, no web search and no Codex-internal sub-agents (delegation goes through tmux-claude), and
 * the hooks that report turns to the supervisor. The file holds no secret.
 */
export function codexConfigToml(o: CodexConfigOptions): string {
  const hook = (event: string): string[] => [
    `[[hooks.${event}]]`,
    `[[hooks.${event}.hooks]]`,
    `type = "command"`,
    `command = ${tomlString(o.hookCommand)}`,
    'timeout = 30',
    '',
  ];
  return [
    '# Written by tmux-claude for one agent instance; rewritten on every (re)start.',
    ...keyValues({
      model: o.model,
      model_provider: MODEL_PROVIDER_ID,
      approval_policy: 'never',
      sandbox_mode: sandboxMode(o.role),
      check_for_update_on_startup: false,
      web_search: 'disabled',
      developer_instructions: o.developerInstructions,
    }),
    '',
    ...table('[features]', {
      daemon_auto_start: false,
      hooks: true,
      multi_agent: false,
      goals: false,
    }),
    ...table('[analytics]', { enabled: false }),
    ...table('[feedback]', { enabled: false }),
    ...table(`[model_providers.${MODEL_PROVIDER_ID}]`, {
      name: 'tmux-claude model endpoint',
      base_url: o.modelBaseUrl,
      env_key: 'OPENAI_API_KEY',
      wire_api: 'responses',
      // A failed stream attempt then ends the turn, so its PostModelRequest hook is final (→ StopFailure).
      stream_max_retries: 0,
    }),
    ...table(`[mcp_servers.${MCP_SERVER_NAME}]`, {
      url: `${o.supervisorUrl.replace(/\/+$/, '')}/mcp`,
      bearer_token_env_var: TOKEN_ENV,
      default_tools_approval_mode: 'approve',
      startup_timeout_sec: 30,
      // spawn and send block until the child is ready or the message delivered.
      tool_timeout_sec: 3600,
    }),
    ...table(`[projects.${tomlString(o.cwd)}]`, { trust_level: 'trusted' }),
    ...table('[sandbox_workspace_write]', {
      writable_roots: o.writableRoots,
      network_access: false,
      exclude_slash_tmp: true,
      exclude_tmpdir_env_var: true,
    }),
    ...table('[shell_environment_policy]', { exclude: [TOKEN_ENV, 'OPENAI_API_KEY'] }),
    ...CODEX_HOOK_EVENTS.flatMap(hook),
  ].join('\n');
}

/**
 * Codex's command-line arguments. Sandbox and approval policy are repeated as flags because flags win over a
 * project's own `.codex/config.toml`. `--dangerously-bypass-hook-trust` runs the hooks without the interactive
 * hook review (their source is this adapter); `--no-daemon` keeps the TUI in one process. A restart resumes
 * the instance's latest session (CODEX_HOME is private, so "latest" is this instance's own).
 */
export function codexArgs(o: { role: Role; resume: boolean }): string[] {
  return [
    ...(o.resume ? ['resume', '--last'] : []),
    '--no-daemon',
    '--dangerously-bypass-hook-trust',
    '--sandbox',
    sandboxMode(o.role),
    '--ask-for-approval',
    'never',
  ];
}
