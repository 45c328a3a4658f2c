import type { AgentKind, Role } from '../core/index.js';

/** Everything an adapter needs to launch one instance. */
export interface LaunchContext {
  instanceId: string;
  role: Role;
  cwd: string;
  /** Private per-instance directory for prompt files, transcripts and CLI state (kept across restarts). */
  instanceDir: string;
  /** The role prompt (with the briefing), as a file. */
  systemPromptFile: string;
  /** Base URL of the supervisor, e.g. http://127.0.0.1:PORT; MCP at /mcp, hooks at /hooks/<Event>. */
  supervisorUrl: string;
  /**
   * The instance's bearer token. Adapters pass it by environment variable (TMUX_CLAUDE_TOKEN), never in a
   * file: files under the home dir may be read by other local users' tools.
   */
  token: string;
  /** Run-level environment (e.g. the model endpoint). */
  env: Record<string, string>;
  /** True when restarting an instance that ran before: resume its conversation where the CLI can. */
  resume: boolean;
}

export interface LaunchSpec {
  command: string[];
  env: Record<string, string>;
}

/**
 * One adapter per agent CLI. Every adapter makes its CLI report to the supervisor's hook endpoints with
 * Claude Code's event names and payload fields: SessionStart (ready), UserPromptSubmit (`prompt`: the text
 * that landed), Stop (`stop_hook_active`, `last_assistant_message`), StopFailure (`error`), Notification
 * (`notification_type`), PostToolUse (`tool_name`, `tool_input`), SessionEnd.
 */
export interface AgentAdapter {
  readonly kind: AgentKind;
  /** Launch command and environment; may write config files into ctx.instanceDir. */
  prepare(ctx: LaunchContext): Promise<LaunchSpec>;
  /** Pause between pasting a prompt and pressing Enter (Codex treats fast bursts as paste). */
  readonly enterDelayMs: number;
  /** tmux key names that interrupt the agent's current turn (the stuck-agent ladder's second step). */
  readonly interruptKeys: readonly string[];
  /**
   * The CLI connects MCP servers after it reports ready: the instance counts as ready only once its first
   * MCP request has arrived too.
   */
  readonly readyNeedsMcp: boolean;
  /**
   * The CLI reports SessionStart when it starts. False for CLIs that run that hook only with the first turn
   * (Codex): their first MCP request is the ready sign then.
   */
  readonly readyNeedsHook: boolean;
}
