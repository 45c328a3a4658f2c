import { parseJsonObject } from '../../core/index.js';
/**
 * The part of a hook relay that does not depend on the CLI: the relay is a tiny program an agent CLI runs as
 * a command hook. It reads the CLI's hook JSON on stdin, maps it to Claude Code's event name and fields, POSTs
 * it to the supervisor's `/hooks/<Event>` with the instance token, and answers the CLI on stdout.
 *
 * This module is loaded by every hook invocation, so it imports nothing but node built-ins.
 */

/** The Claude Code hook events the supervisor understands. */
export type ClaudeHookEvent = 'SessionStart' | 'UserPromptSubmit' | 'Stop' | 'StopFailure' | 'SessionEnd';

/** A hook in Claude Code's names and payload fields, as the supervisor's `/hooks/:event` reads it. */
export interface ClaudeHook {
  hook_event_name: ClaudeHookEvent;
  /** UserPromptSubmit: the text that landed, exactly as typed. */
  prompt?: string;
  /** Stop: the model's final text of the turn. */
  last_assistant_message?: string;
  /** Stop: true when the turn is a continuation forced by an earlier Stop answer. */
  stop_hook_active?: boolean;
  /** StopFailure: why the turn ended without a reply. */
  error?: string;
  /** SessionStart: `startup`, `resume` or `clear`. */
  source?: string;
}

/** Maps one CLI hook payload to a Claude hook, or null when the event is not reported. Must not throw. */
export type HookMapper = (input: Record<string, unknown>) => ClaudeHook | null;

/** What the relay needs from its environment; the CLI passes the instance's env through to the hook. */
export interface RelayEnv {
  /** TMUX_CLAUDE_URL: the supervisor's base URL. */
  url: string | undefined;
  /** TMUX_CLAUDE_TOKEN: the instance's bearer token. */
  token: string | undefined;
}

/** The relay's answer: stdout for the CLI (JSON or empty) and a diagnostic line for stderr, if any. */
export interface RelayResult {
  stdout: string;
  stderr: string;
}

const POST_TIMEOUT_MS = 10_000;

/**
 * The CLI's answer to a supervisor response. Only a Stop answered with `{"decision":"block","reason":…}`
 * changes anything (both Codex and Gemini continue the turn with `reason`); every other answer is empty
 * stdout, which both CLIs read as "carry on". Unknown fields are dropped: Codex rejects them.
 */
export function answerFor(event: ClaudeHookEvent, response: Record<string, unknown> | undefined): string {
  if (event !== 'Stop' || response?.decision !== 'block' || typeof response.reason !== 'string') return '';
  return JSON.stringify({ decision: 'block', reason: response.reason });
}

/**
 * Relays one hook. Never throws and never asks the CLI to block: a supervisor that is down or refuses the
 * token costs a diagnostic line, not the agent's turn.
 */
export async function relayHook(
  stdin: string,
  map: HookMapper,
  env: RelayEnv,
  fetchImpl: typeof fetch = fetch,
): Promise<RelayResult> {
  const input = parseJsonObject(stdin);
  if (!input) return { stdout: '', stderr: 'tmux-claude hook relay: the hook input is not a JSON object' };
  const hook = map(input);
  if (!hook) return { stdout: '', stderr: '' };
  if (!env.url || !env.token) {
    return { stdout: '', stderr: 'tmux-claude hook relay: TMUX_CLAUDE_URL or TMUX_CLAUDE_TOKEN is not set' };
  }
  try {
    const res = await fetchImpl(`${env.url.replace(/\/+$/, '')}/hooks/${hook.hook_event_name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.token}` },
      body: JSON.stringify(hook),
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) {
      return {
        stdout: '',
        stderr: `tmux-claude hook relay: ${hook.hook_event_name} refused (HTTP ${res.status}): ${text.slice(0, 200)}`,
      };
    }
    return { stdout: answerFor(hook.hook_event_name, parseJsonObject(text)), stderr: '' };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { stdout: '', stderr: `tmux-claude hook relay: ${hook.hook_event_name} not delivered: ${why}` };
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => parts.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/** The relay program's main: stdin → {@link relayHook} → stdout/stderr, always exit status 0. */
export async function runHookRelay(map: HookMapper): Promise<void> {
  let result: RelayResult;
  try {
    result = await relayHook(await readStdin(), map, {
      url: process.env.TMUX_CLAUDE_URL,
      token: process.env.TMUX_CLAUDE_TOKEN,
    });
  } catch (err) {
    result = { stdout: '', stderr: `tmux-claude hook relay: ${String(err)}` };
  }
  if (result.stdout) process.stdout.write(`${result.stdout}\n`);
  if (result.stderr) process.stderr.write(`${result.stderr}\n`);
  // Exit 2 means "block" to both CLIs; a relay failure must never do that.
  process.exitCode = 0;
}
