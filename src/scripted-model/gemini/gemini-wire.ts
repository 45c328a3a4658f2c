import { asRecord } from '../../core/index.js';
import { isHarnessContext } from '../openai/responses-wire.js';
import type { ScriptedTurn, WireBlock, WireMessage } from '../wire.js';

/**
 * The subset of the Gemini API (generateContent) the scripted endpoint reads and writes, and its translation
 * to and from the Anthropic-shaped conversation the scenarios work on. Thought parts and non-text media are
 * skipped.
 */

/** One part of a Gemini content. */
export interface GeminiPart {
  text?: string;
  thought?: boolean;
  functionCall?: { name: string; args?: Record<string, unknown>; id?: string };
  functionResponse?: { name: string; response?: Record<string, unknown>; id?: string };
}

/** The conversation of one request, in the scenarios' terms. */
export interface GeminiConversation {
  system: string;
  messages: WireMessage[];
  /** Gemini function name by the name the scenarios see. */
  tools: Map<string, string>;
}

/**
 * Gemini's file and shell tools under Claude Code's names; their arguments already match (`file_path`,
 * `content`, `command`, `old_string`/`new_string`), so a Gemini specialist runs the scenarios' Claude path.
 */
const CLAUDE_NAMES: Record<string, string> = {
  write_file: 'Write',
  run_shell_command: 'Bash',
  read_file: 'Read',
  replace: 'Edit',
};

/**
 * The name the scenarios see for a Gemini function. Gemini names MCP tools `mcp_<server>_<tool>`; the
 * scenarios look for Claude's `mcp__<server>__<tool>`. Server names have no underscore (Gemini's own advice),
 * so the first one after `mcp_` splits the two.
 */
export function scenarioToolName(geminiName: string): string {
  const m = /^mcp_([^_]+)_(.+)$/.exec(geminiName);
  return m ? `mcp__${m[1]}__${m[2]}` : (CLAUDE_NAMES[geminiName] ?? geminiName);
}

/** The function names a request offered, by scenario-visible name. */
export function offeredFunctions(tools: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of Array.isArray(tools) ? tools : []) {
    const decls = asRecord(t)?.functionDeclarations;
    for (const d of Array.isArray(decls) ? decls : []) {
      const name = asRecord(d)?.name;
      if (typeof name === 'string') out.set(scenarioToolName(name), name);
    }
  }
  return out;
}

/** Undoes Gemini's escaping of pasted `@` (`ui.escapePastedAtSymbols`), which the model would otherwise see. */
function unescapeAt(text: string): string {
  return text.replace(/\\@/g, (match, offset: number, full: string) => {
    let backslashes = 0;
    for (let i = offset - 1; i >= 0 && full[i] === '\\'; i--) backslashes++;
    return backslashes % 2 === 0 ? '@' : match;
  });
}

const TOOL_ERROR = /^Error [A-Z_]+: /;
const UNTRUSTED = /^<untrusted_context>\n([\s\S]*)\n<\/untrusted_context>$/;

/**
 * The text of a function response. The CLI wraps a tool's result as `{output}` or `{error}`, and an MCP
 * result's text in `<untrusted_context>` tags; the scenarios want the tool's own text. A result in
 * tmux-claude's error format (`Error <CODE>: …`) counts as failed, as it does for Claude.
 */
function responseText(response: Record<string, unknown> | undefined): { text: string; isError: boolean } {
  if (!response) return { text: '', isError: false };
  if (response.error !== undefined) {
    return {
      text: typeof response.error === 'string' ? response.error : JSON.stringify(response.error),
      isError: true,
    };
  }
  const raw = typeof response.output === 'string' ? response.output : JSON.stringify(response);
  const text = UNTRUSTED.exec(raw)?.[1] ?? raw;
  return { text, isError: TOOL_ERROR.test(text) };
}

/**
 * Builds the conversation from a request's `systemInstruction`, `contents` and `tools`. Function calls without
 * an id are paired with their responses by name, in order.
 */
export function toConversation(body: Record<string, unknown>): GeminiConversation {
  const system: string[] = [];
  const sysParts = asRecord(body.systemInstruction)?.parts;
  for (const p of Array.isArray(sysParts) ? sysParts : []) {
    const text = asRecord(p)?.text;
    if (typeof text === 'string') system.push(text);
  }
  const messages: WireMessage[] = [];
  const callIds = new Map<string, string[]>();
  let synthetic = 0;
  for (const raw of Array.isArray(body.contents) ? body.contents : []) {
    const content = asRecord(raw);
    if (!content) continue;
    const role = content.role === 'model' ? 'assistant' : 'user';
    const blocks: WireBlock[] = [];
    for (const rawPart of Array.isArray(content.parts) ? content.parts : []) {
      const part = asRecord(rawPart) as GeminiPart | undefined;
      if (!part || part.thought) continue;
      if (part.functionCall) {
        const id = part.functionCall.id ?? `gemini-call-${synthetic++}`;
        const queue = callIds.get(part.functionCall.name) ?? [];
        callIds.set(part.functionCall.name, [...queue, id]);
        blocks.push({
          type: 'tool_use',
          id,
          name: scenarioToolName(part.functionCall.name),
          input: part.functionCall.args ?? {},
        });
      } else if (part.functionResponse) {
        const id =
          part.functionResponse.id ?? callIds.get(part.functionResponse.name)?.shift() ?? 'unknown-call';
        const { text, isError } = responseText(part.functionResponse.response);
        blocks.push({
          type: 'tool_result',
          tool_use_id: id,
          content: text,
          ...(isError ? { is_error: true } : {}),
        });
      } else if (typeof part.text === 'string') {
        if (role === 'user' && isHarnessContext(part.text)) system.push(part.text);
        else blocks.push({ type: 'text', text: role === 'user' ? unescapeAt(part.text) : part.text });
      }
    }
    if (blocks.length === 0) continue;
    const last = messages.at(-1);
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  }
  return { system: system.join('\n\n'), messages, tools: offeredFunctions(body.tools) };
}

/** The model parts of a scripted turn, under the function names the request offered. */
export function toParts(turn: ScriptedTurn, tools: Map<string, string>): GeminiPart[] {
  return turn.content.map((block) =>
    block.type === 'text'
      ? { text: block.text }
      : { functionCall: { name: tools.get(block.name) ?? block.name, args: block.input } },
  );
}
