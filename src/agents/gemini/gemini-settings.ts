import type { Role } from '../../core/index.js';
import { GEMINI_HOOK_EVENTS } from './hook-events.js';

/** The MCP server name; Gemini shows its tools to the model as `mcp_tmux-claude_<tool>`. */
export const MCP_SERVER_NAME = 'tmux-claude';

/**
 * Built-in tools no instance gets: `ask_user` and `enter_plan_mode` wait for a person at the keyboard, and
 * `invoke_agent` starts Gemini's own sub-agents (delegation goes through tmux-claude, and their turns would
 * not be reported by the hooks).
 */
const ALWAYS_EXCLUDED = ['ask_user', 'enter_plan_mode', 'exit_plan_mode', 'invoke_agent'];
/** What makes an instance able to change files: an Executive or Manager never gets these. */
const WRITE_TOOLS = ['write_file', 'replace', 'run_shell_command'];

/** Built-in tools excluded for a role (they are not offered to the model at all). */
export function excludedTools(role: Role): string[] {
  return role === 'specialist' ? ALWAYS_EXCLUDED : [...ALWAYS_EXCLUDED, ...WRITE_TOOLS];
}

/** What goes into an instance's `$GEMINI_CLI_HOME/.gemini/settings.json`. */
export interface GeminiSettingsOptions {
  role: Role;
  supervisorUrl: string;
  /** Shell command of the hook relay; Gemini writes the hook JSON to its stdin. */
  hookCommand: string;
  /** Model name; Gemini's default (`auto` routing) when absent. */
  model?: string | undefined;
}

/**
 * The user-level settings of one instance. Secrets appear only as `$VAR` references, which Gemini expands
 * from its environment when it loads settings: the MCP `Authorization` header and the hooks' own env. The
 * hooks need the token passed explicitly because environment redaction (on, so the model's shell commands
 * never see the token or the API key) also applies to hook processes.
 */
export function geminiSettings(o: GeminiSettingsOptions): Record<string, unknown> {
  const relayEnv = { TMUX_CLAUDE_URL: '$TMUX_CLAUDE_URL', TMUX_CLAUDE_TOKEN: '$TMUX_CLAUDE_TOKEN' };
  const hooks = Object.fromEntries(
    GEMINI_HOOK_EVENTS.map((event) => [
      event,
      [
        {
          hooks: [
            {
              type: 'command',
              name: `tmux-claude-${event}`,
              command: o.hookCommand,
              timeout: 30_000,
              env: relayEnv,
            },
          ],
        },
      ],
    ]),
  );
  return {
    general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    ide: { enabled: false },
    security: {
      auth: { selectedType: 'gemini-api-key' },
      environmentVariableRedaction: { enabled: true },
    },
    // A pasted `@path` would otherwise read files into the prompt or open a permission dialog.
    ui: { escapePastedAtSymbols: true, hideTips: true },
    ...(o.model ? { model: { name: o.model } } : {}),
    tools: { exclude: excludedTools(o.role) },
    mcpServers: {
      [MCP_SERVER_NAME]: {
        httpUrl: `${o.supervisorUrl.replace(/\/+$/, '')}/mcp`,
        headers: { Authorization: 'Bearer $TMUX_CLAUDE_TOKEN' },
        // Its tools run without confirmation; the supervisor enforces the role on every call.
        trust: true,
        // spawn and send block until the child is ready or the message delivered.
        timeout: 3_600_000,
      },
    },
    hooksConfig: { enabled: true, notifications: false },
    hooks,
  };
}

/**
 * Gemini's command-line arguments. YOLO approves every tool call that is offered (the dangerous ones are not
 * offered to an Executive or Manager at all), so no confirmation dialog can stop an unattended agent. A
 * restart resumes the latest session of this private home.
 */
export function geminiArgs(o: { resume: boolean }): string[] {
  return ['--approval-mode', 'yolo', ...(o.resume ? ['--resume', 'latest'] : [])];
}
