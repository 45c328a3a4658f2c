import { asRecord } from '../../core/index.js';
import type { ScriptedTurn, WireBlock, WireMessage, WireToolResultBlock } from '../wire.js';
import { CODEX_SHELL, codexOutput, fromCodexShell, toCodexShell } from './codex-tools.js';

/**
 * The subset of the OpenAI Responses API the scripted endpoint reads and writes, and its translation to and
 * from the Anthropic-shaped conversation the scenarios work on. Unknown input items (reasoning, images, …)
 * are skipped.
 */

/** A tool the request offered, by the name the scenarios see (`<namespace>__<name>` for namespaced tools). */
export interface OfferedTool {
  name: string;
  /** Codex puts MCP tools in a namespace per server, e.g. `mcp__tmux_claude`. */
  namespace?: string;
  /** A Claude tool the scenarios call that Codex runs through its shell tool (see codex-tools.ts). */
  viaShell?: true;
}

/** The conversation of one request, in the scenarios' terms. */
export interface ResponsesConversation {
  /** `instructions` plus every system/developer message and harness-context user message. */
  system: string;
  messages: WireMessage[];
  /** By scenario-visible name. */
  tools: Map<string, OfferedTool>;
}

/** An output item the endpoint returns. */
export type OutputItem =
  | {
      type: 'message';
      id: string;
      role: 'assistant';
      status: 'completed';
      content: { type: 'output_text'; text: string; annotations: [] }[];
    }
  | {
      type: 'function_call';
      id: string;
      call_id: string;
      name: string;
      namespace?: string;
      arguments: string;
      status: 'completed';
    };

/** The text of a message's content (a string or a list of input_text/output_text parts). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p) => asRecord(p))
    .filter((p) => p !== undefined && typeof p.text === 'string')
    .map((p) => p!.text as string)
    .join('\n');
}

/**
 * Context the CLI adds as user messages (`<environment_context>…</environment_context>`, Gemini's
 * `<session_context>`, AGENTS.md blocks) is not the user speaking; the scenarios read it as system text.
 */
export function isHarnessContext(text: string): boolean {
  const t = text.trim();
  return /^<([a-z_]+)>[\s\S]*<\/\1>$/.test(t) || t.startsWith('# AGENTS.md instructions');
}

/** Tool names the scenarios see, with what to send back for each. */
export function offeredTools(tools: unknown): Map<string, OfferedTool> {
  const out = new Map<string, OfferedTool>();
  if (!Array.isArray(tools)) return out;
  for (const raw of tools) {
    const t = asRecord(raw);
    if (!t || typeof t.name !== 'string') continue;
    if (t.type === 'namespace' && Array.isArray(t.tools)) {
      for (const inner of t.tools) {
        const name = asRecord(inner)?.name;
        if (typeof name === 'string') out.set(`${t.name}__${name}`, { name, namespace: t.name });
      }
    } else {
      out.set(t.name, { name: t.name });
    }
  }
  if (out.has(CODEX_SHELL)) {
    for (const alias of ['Bash', 'Write']) out.set(alias, { name: CODEX_SHELL, viaShell: true });
  }
  return out;
}

const TOOL_ERROR = /^Error [A-Z_]+: /;

/**
 * A call output as the scenarios read it. The Responses format has no error flag: Codex's timing header is
 * removed, and a shell command that exited non-zero or a result in tmux-claude's own error format
 * (`Error <CODE>: …`) counts as failed.
 */
export function toolResult(callId: string, output: string): WireToolResultBlock {
  const { text, failed } = codexOutput(output);
  const isError = failed || TOOL_ERROR.test(text);
  return { type: 'tool_result', tool_use_id: callId, content: text, ...(isError ? { is_error: true } : {}) };
}

function parseArgs(args: unknown): Record<string, unknown> {
  if (typeof args !== 'string') return asRecord(args) ?? {};
  try {
    return asRecord(JSON.parse(args)) ?? {};
  } catch {
    return {};
  }
}

/**
 * Builds the conversation from a request's `instructions`, `input` and `tools`. Consecutive assistant items
 * (text and function calls) become one assistant message; consecutive user items (text and call outputs) one
 * user message, as the Anthropic shape has them.
 */
export function toConversation(body: Record<string, unknown>): ResponsesConversation {
  const system: string[] = typeof body.instructions === 'string' ? [body.instructions] : [];
  const messages: WireMessage[] = [];
  const push = (role: 'user' | 'assistant', block: WireBlock): void => {
    const last = messages.at(-1);
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(block);
    else messages.push({ role, content: [block] });
  };
  const input =
    typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : body.input;
  for (const raw of Array.isArray(input) ? input : []) {
    const item = asRecord(raw);
    if (!item) continue;
    const type = item.type ?? 'message';
    if (type === 'message') {
      const text = contentText(item.content);
      if (item.role === 'system' || item.role === 'developer') system.push(text);
      else if (item.role === 'assistant') push('assistant', { type: 'text', text });
      else if (isHarnessContext(text)) system.push(text);
      else push('user', { type: 'text', text });
    } else if (
      type === 'function_call' &&
      typeof item.call_id === 'string' &&
      typeof item.name === 'string'
    ) {
      const args = parseArgs(item.arguments);
      const namespace = typeof item.namespace === 'string' ? item.namespace : undefined;
      const call =
        item.name === CODEX_SHELL && namespace === undefined
          ? fromCodexShell(args)
          : { name: namespace ? `${namespace}__${item.name}` : item.name, input: args };
      push('assistant', { type: 'tool_use', id: item.call_id, ...call });
    } else if (type === 'function_call_output' && typeof item.call_id === 'string') {
      push('user', toolResult(item.call_id, contentText(item.output)));
    }
  }
  return { system: system.join('\n\n'), messages, tools: offeredTools(body.tools) };
}

/** The output items for a scripted turn; tool calls go back under the namespace they were offered in. */
export function toOutputItems(
  turn: ScriptedTurn,
  tools: Map<string, OfferedTool>,
  idSeed: string,
): OutputItem[] {
  return turn.content.map((block, i): OutputItem => {
    const id = `${idSeed}${String(i).padStart(2, '0')}`;
    if (block.type === 'text') {
      return {
        type: 'message',
        id: `msg_${id}`,
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: block.text, annotations: [] }],
      };
    }
    const offered = tools.get(block.name) ?? { name: block.name };
    const args = (offered.viaShell && toCodexShell(block.name, block.input)) || block.input;
    return {
      type: 'function_call',
      id: `fc_${id}`,
      call_id: block.id,
      name: offered.name,
      ...(offered.namespace === undefined ? {} : { namespace: offered.namespace }),
      arguments: JSON.stringify(args),
      status: 'completed',
    };
  });
}
