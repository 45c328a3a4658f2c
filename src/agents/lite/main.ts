// The lite runtime's entry: `node dist/agents/lite/main.js`, run inside a tmux pane by the supervisor.
// Configuration comes from the environment (see config.ts); the working directory is the instance's cwd.
import { readFileSync } from 'node:fs';
import { asError } from '../../core/index.js';
import { createAnthropicModel } from './anthropic-model.js';
import { liteConfigFromEnv, type LiteConfig } from './config.js';
import { createHookClient } from './hooks.js';
import { InputParser, type InputEvent } from './input-parser.js';
import { createLocalTools } from './local-tools.js';
import { McpConnection } from './mcp-connection.js';
import { PermissionDialog } from './permission.js';
import { reconnectNotices, sleep } from './reconnect.js';
import { conversationFromTranscript, readTranscript } from './resume.js';
import { LiteRuntime } from './runtime.js';
import { TerminalUi } from './terminal-ui.js';
import type { ToolDefinition, ToolExecutor } from './tool-types.js';
import { createTranscript } from './transcript.js';
import type { ConversationMessage } from './turn-loop.js';

const BRACKETED_PASTE_ON = '\x1b[?2004h';
const BRACKETED_PASTE_OFF = '\x1b[?2004l';

function readSystemPrompt(config: LiteConfig): string {
  if (!config.systemPromptFile) return `Role: ${config.role}\n`;
  return readFileSync(config.systemPromptFile, 'utf8');
}

/**
 * The conversation to continue when the supervisor restarted this instance (read before this session writes
 * to the transcript); undefined to start a new one.
 */
function resumedConversation(config: LiteConfig, ui: TerminalUi): ConversationMessage[] | undefined {
  if (!config.resume) return undefined;
  try {
    const entries = config.transcriptPath ? readTranscript(config.transcriptPath) : undefined;
    if (entries) return conversationFromTranscript(entries);
    ui.notice('nothing to resume (no transcript): starting a new conversation');
  } catch (err) {
    ui.error(`cannot resume from ${config.transcriptPath ?? ''}: ${asError(err).message}`);
  }
  return undefined;
}

async function main(): Promise<void> {
  const config = liteConfigFromEnv(process.env);
  const { stdin, stdout } = process;
  const cwd = process.cwd();
  // The pane can go away under us (tmux kill-server → SIGHUP): writes then fail with EIO/EPIPE, which must
  // not crash the shutdown path.
  stdout.on('error', () => undefined);
  stdin.on('error', () => undefined);
  const ui = new TerminalUi({
    out: stdout,
    ansi: stdout.isTTY === true,
    columns: () => stdout.columns ?? 100,
    title: `tmux-claude ${config.instanceId}`,
  });
  ui.notice(`tmux-claude lite · ${config.instanceId} (${config.role}) · ${cwd}`);
  const system = readSystemPrompt(config);
  const resumed = resumedConversation(config, ui);
  const transcript = createTranscript(config.transcriptPath, (err) =>
    ui.error(`transcript ${config.transcriptPath ?? ''}: ${asError(err).message}`),
  );

  // One notice per outage, shared by tool calls and hooks, which all wait for a restarting supervisor.
  const reconnectObserver = reconnectNotices((text) => ui.notice(text));
  const mcp = new McpConnection({
    url: `${config.supervisorUrl}/mcp`,
    token: config.token,
    reconnectObserver,
  });
  const mcpTools = await mcp.listTools();
  // Roles are enforced here too: only a specialist gets tools that touch files.
  const local =
    config.role === 'specialist' ? createLocalTools({ cwd, instanceId: config.instanceId }) : undefined;
  const toolDefinitions: ToolDefinition[] = [
    ...(local?.definitions ?? []),
    ...mcpTools.filter((t) => !local?.has(t.name)),
  ];
  const mcpNames = new Set(mcpTools.map((t) => t.name));
  const hooks = createHookClient({ baseUrl: config.supervisorUrl, token: config.token, reconnectObserver });
  const hookFields = { session_id: config.instanceId, cwd };
  const dialog = new PermissionDialog({
    ui,
    notify: async (message) => {
      await hooks
        .post('Notification', {
          hook_event_name: 'Notification',
          ...hookFields,
          notification_type: 'permission_prompt',
          message,
        })
        .catch((err: unknown) => ui.error(`hook Notification: ${asError(err).message}`));
    },
    toolUsed: async (call) => {
      await hooks
        .post('PostToolUse', {
          hook_event_name: 'PostToolUse',
          ...hookFields,
          tool_name: call.name,
          tool_input: call.input,
        })
        .catch((err: unknown) => ui.error(`hook PostToolUse: ${asError(err).message}`));
    },
  });
  const tools: ToolExecutor = {
    async execute(call, signal) {
      if (local?.has(call.name)) return dialog.review(call, await local.execute(call, signal), cwd, signal);
      if (mcpNames.has(call.name)) return mcp.callTool(call.name, call.input, signal);
      return Promise.resolve({
        content: `unknown tool ${call.name}; available: ${toolDefinitions.map((t) => t.name).join(', ')}`,
        isError: true,
      });
    },
  };
  ui.notice(`tools: ${toolDefinitions.map((t) => t.name).join(', ') || '(none)'}`);
  const runtime = new LiteRuntime({
    instanceId: config.instanceId,
    role: config.role,
    cwd,
    system,
    model: createAnthropicModel({
      apiKey: config.anthropicApiKey,
      model: config.model,
      ...(config.anthropicBaseUrl ? { baseURL: config.anthropicBaseUrl } : {}),
    }),
    tools,
    toolDefinitions,
    hooks,
    transcript,
    ui,
    ...(config.transcriptPath ? { transcriptPath: config.transcriptPath } : {}),
    ...(resumed ? { resumed } : {}),
  });

  let exiting = false;
  /** Ends the session: SessionEnd, MCP closed, then exit with `code` (or die by `signal`). */
  const exit = async (code: number, signal?: NodeJS.Signals): Promise<void> => {
    if (!exiting) {
      exiting = true;
      if (!signal) {
        ui.finish();
        if (stdout.isTTY) stdout.write(BRACKETED_PASTE_OFF);
        if (stdin.isTTY) stdin.setRawMode(false);
      }
      runtime.interrupt();
      await Promise.race([
        hooks
          .post(
            'SessionEnd',
            { hook_event_name: 'SessionEnd', session_id: config.instanceId, cwd },
            // Leaving: one try, no waiting for a supervisor that is away.
            { attempts: 1, reconnectWindowMs: 0 },
          )
          .catch(() => undefined),
        sleep(2000),
      ]);
      await Promise.race([mcp.close(), sleep(1000)]);
    }
    if (signal) {
      // The terminal is gone: process.exit would try to restore its modes and abort. Die by the signal
      // instead, with its default action, as a shell job would.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code);
  };

  const parser = new InputParser();
  let exitArmed = false;
  const onEvent = (ev: InputEvent): void => {
    if (ev.kind !== 'interrupt') exitArmed = false;
    switch (ev.kind) {
      case 'submit':
        if (ev.text.trim() === '') return;
        ui.prompt(ev.text);
        if (dialog.answer(ev.text)) return;
        runtime.submit(ev.text);
        return;
      case 'interrupt':
        if (runtime.interrupt()) {
          exitArmed = false;
          ui.notice('interrupting…');
        } else if (exitArmed) {
          void exit(130);
        } else {
          exitArmed = true;
          parser.clear();
          ui.notice('press Ctrl-C again to exit');
        }
        return;
      case 'eof':
        void exit(0);
        return;
      default:
        return;
    }
  };

  await runtime.announce();
  if (stdin.isTTY) stdin.setRawMode(true);
  if (stdout.isTTY) stdout.write(BRACKETED_PASTE_ON);
  ui.renderInput('');
  stdin.on('data', (chunk: Buffer) => {
    for (const ev of parser.feed(chunk)) onEvent(ev);
    ui.renderInput(parser.buffer);
  });
  // Input piped from a file or a test: finish the queued work, then leave.
  stdin.on('end', () => {
    void runtime.whenIdle().then(() => exit(0));
  });
  process.on('SIGINT', () => onEvent({ kind: 'interrupt' }));
  process.on('SIGTERM', () => void exit(143));
  process.on('SIGHUP', () => void exit(129, 'SIGHUP'));
}

main().catch((err: unknown) => {
  process.stderr.write(`tmux-claude lite: ${asError(err).message}\n`);
  process.exit(1);
});
