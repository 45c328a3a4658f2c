import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Role } from '../../core/index.js';
import type { AgentAdapter, LaunchContext, LaunchSpec } from '../adapter.js';
import { hookRelayCommand } from '../hook-relay.js';

/** The MCP server name: Claude Code offers its tools as `mcp__tmux-claude__<tool>`. */
export const MCP_SERVER_NAME = 'tmux-claude';

/** Hook events the supervisor listens to (Claude Code's own names). */
const HOOK_EVENTS = [
  'SessionStart',
  'UserPromptSubmit',
  'Stop',
  'StopFailure',
  'Notification',
  'PostToolUse',
] as const;

/**
 * Claude Code's own tools each role may not use. Executive and Manager delegate and never implement: no file
 * edits, no shell (which could edit too). (`MultiEdit` is not a tool in 2.1; naming it only draws a warning.) No role uses Claude Code's own sub-agents, teams or schedulers:
 * delegation goes through tmux-claude so it is visible, supervised and merged.
 */
const DISALLOWED: Record<Role, readonly string[]> = {
  executive: [
    'Edit',
    'Write',
    'MultiEdit',
    'NotebookEdit',
    'Bash',
    'Agent',
    'Task',
    'SendMessage',
    'Workflow',
  ],
  manager: ['Edit', 'Write', 'MultiEdit', 'NotebookEdit', 'Bash', 'Agent', 'Task', 'SendMessage', 'Workflow'],
  specialist: ['Agent', 'Task', 'SendMessage', 'Workflow', 'EnterWorktree', 'ExitWorktree'],
};

/** Shell commands a specialist runs without asking: git plumbing for its own branch, and tests. */
const SPECIALIST_BASH = [
  'Bash(git add:*)',
  'Bash(git commit:*)',
  'Bash(git rev-parse:*)',
  'Bash(git status:*)',
  'Bash(git diff:*)',
  'Bash(git log:*)',
  'Bash(npm test:*)',
  'Bash(node --test:*)',
];

/** The pinned binary from node_modules, else `claude` on PATH; TMUX_CLAUDE_CLAUDE_BIN overrides both. */
export function claudeBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TMUX_CLAUDE_CLAUDE_BIN) return env.TMUX_CLAUDE_CLAUDE_BIN;
  try {
    const pkg = createRequire(import.meta.url).resolve('@anthropic-ai/claude-code/package.json');
    const bin = join(dirname(pkg), 'bin', 'claude.exe');
    if (existsSync(bin)) return bin;
  } catch {
    /* not installed as a dependency */
  }
  return 'claude';
}

/** True when Claude Code has stored the conversation `sessionId` (projects/<cwd>/<id>.jsonl). */
function hasTranscript(configRoot: string, sessionId: string): boolean {
  const projects = join(configRoot, 'projects');
  if (!existsSync(projects)) return false;
  return readdirSync(projects).some((p) => existsSync(join(projects, p, `${sessionId}.jsonl`)));
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * Seeds a private CLAUDE_CONFIG_DIR so the first run opens no dialog: onboarding done, the working directory
 * trusted, the API key approved (by its last 20 characters, as Claude Code records it).
 */
async function seedConfig(configDir: string, cwd: string, apiKey: string | undefined): Promise<void> {
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  const file = join(configDir, '.claude.json');
  const state = await readJson(file);
  const projects = (state.projects ?? {}) as Record<string, Record<string, unknown>>;
  projects[cwd] = { ...projects[cwd], hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true };
  const responses = (state.customApiKeyResponses ?? { approved: [], rejected: [] }) as {
    approved: string[];
    rejected: string[];
  };
  if (apiKey && !responses.approved.includes(apiKey.slice(-20))) responses.approved.push(apiKey.slice(-20));
  await writeFile(
    file,
    JSON.stringify(
      { ...state, hasCompletedOnboarding: true, projects, customApiKeyResponses: responses },
      null,
      2,
    ),
    { mode: 0o600 },
  );
}

/**
 * Claude Code in the instance's pane: MCP over HTTP to the supervisor with the instance's token (read from
 * the environment, never written to a file), the role prompt appended to Claude's own, HTTP hooks reporting
 * to the supervisor, role-specific tool restrictions, and a session id so `restart` resumes the conversation.
 */
export const claudeAdapter: AgentAdapter = {
  kind: 'claude',
  enterDelayMs: 250,
  interruptKeys: ['Escape'],
  // Claude Code connects MCP servers asynchronously after SessionStart.
  readyNeedsMcp: true,
  readyNeedsHook: true,
  async prepare(ctx: LaunchContext): Promise<LaunchSpec> {
    const dir = ctx.instanceDir;
    const shareConfig = ctx.env.TMUX_CLAUDE_SHARE_CLAUDE_CONFIG === '1';
    const configDir = join(dir, 'claude-config');
    if (!shareConfig)
      await seedConfig(configDir, ctx.cwd, ctx.env.ANTHROPIC_API_KEY ?? process.env.ANTHROPIC_API_KEY);

    const auth = { Authorization: 'Bearer ${TMUX_CLAUDE_TOKEN}' };
    const mcpConfig = join(dir, 'claude-mcp.json');
    await writeFile(
      mcpConfig,
      JSON.stringify(
        {
          mcpServers: { [MCP_SERVER_NAME]: { type: 'http', url: `${ctx.supervisorUrl}/mcp`, headers: auth } },
        },
        null,
        2,
      ),
      { mode: 0o600 },
    );
    const hook = (event: string) => ({
      type: 'http',
      url: `${ctx.supervisorUrl}/hooks/${event}`,
      headers: { Authorization: 'Bearer $TMUX_CLAUDE_TOKEN' },
      allowedEnvVars: ['TMUX_CLAUDE_TOKEN'],
      timeout: 30,
    });
    const hooks: Record<string, unknown[]> = Object.fromEntries(
      HOOK_EVENTS.map((event) => [
        event,
        [{ ...(event === 'PostToolUse' ? { matcher: 'TodoWrite' } : {}), hooks: [hook(event)] }],
      ]),
    );
    // SessionStart runs command hooks only (verified with 2.1.330: an http SessionStart hook never fires).
    hooks.SessionStart = [
      { hooks: [{ type: 'command', command: hookRelayCommand('SessionStart'), timeout: 30 }] },
    ];
    const settings = join(dir, 'claude-settings.json');
    await writeFile(settings, JSON.stringify({ hooks }, null, 2), { mode: 0o600 });

    const sessionFile = join(dir, 'claude-session-id');
    const previous = existsSync(sessionFile) ? (await readFile(sessionFile, 'utf8')).trim() : '';
    const configRoot = shareConfig
      ? (process.env.CLAUDE_CONFIG_DIR ?? join(homedir(), '.claude'))
      : configDir;
    // --resume needs a conversation on disk; an instance restarted before its first turn starts afresh.
    const session =
      ctx.resume && previous && hasTranscript(configRoot, previous)
        ? ['--resume', previous]
        : ['--session-id', previous || randomUUID()];
    await writeFile(sessionFile, session[1]!);

    const allowed = [`mcp__${MCP_SERVER_NAME}__*`, ...(ctx.role === 'specialist' ? SPECIALIST_BASH : [])];
    return {
      command: [
        claudeBinary(),
        ...session,
        '--mcp-config',
        mcpConfig,
        '--strict-mcp-config',
        '--append-system-prompt-file',
        ctx.systemPromptFile,
        '--settings',
        settings,
        // Specialists accept edits inside their working directory (the worktree); anything else asks, which
        // shows as "blocked on a dialog". Executive and Manager have no editing tools at all.
        '--permission-mode',
        ctx.role === 'specialist' ? 'acceptEdits' : 'default',
        // The tool-list flags are variadic: each list ends where the next flag starts.
        '--allowedTools',
        ...allowed,
        '--disallowedTools',
        ...DISALLOWED[ctx.role],
      ],
      env: {
        ...ctx.env,
        ...(shareConfig ? {} : { CLAUDE_CONFIG_DIR: configDir }),
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        // MCP tools inline in the tool list rather than deferred behind ToolSearch.
        ENABLE_TOOL_SEARCH: 'false',
        TMUX_CLAUDE_INSTANCE: ctx.instanceId,
        TMUX_CLAUDE_ROLE: ctx.role,
        TMUX_CLAUDE_URL: ctx.supervisorUrl,
        TMUX_CLAUDE_TOKEN: ctx.token,
      },
    };
  },
};
