import { compactionSummary, isCompactionPrompt } from './compaction.js';
import { roleFromSystemPrompt, textOf } from './prompt-formats.js';
import { blocksOf, isTextBlock, type ScriptedTurn, type WireMessage } from './wire.js';

/**
 * Requests Claude Code sends besides the role's own conversation, found by logging real Claude Code 2.1.330
 * requests against this server. Each gets a valid, harmless answer and never reaches a role scenario, so it
 * can neither advance nor break one.
 *
 * - `quota_check`: `{messages: [{role: "user", content: "quota"}], max_tokens: 1}`, no system prompt and no
 *   tools; Claude Code only reads the response headers. Answered "ok".
 * - `generate_session_title` (only without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC): no tools, a system
 *   prompt "You are naming a coding session…", the first prompt inside `<session>` tags, and
 *   `output_config.format = {type: "json_schema", schema: {title: string}}`. Every request with a JSON-schema
 *   output format is answered with a minimal JSON value of that schema (strings "Scripted session").
 * - `auto_mode` permission classifier (only in `--permission-mode auto`, which also shows a one-off dialog
 *   about classifier billing through a gateway): system prompt "You are a security monitor for autonomous AI
 *   coding agents…", no tools, a `<transcript>` of the session; stage 1 with `max_tokens: 64` and
 *   `stop_sequences: ["</block>"]`, stage 2 with `max_tokens: 8192`. Answered "allow" (`<block>no</block>`).
 * - `compact` (`/compact`, or automatic near the context limit): the main system prompt, tools and messages,
 *   with a last user text "CRITICAL: Respond with TEXT ONLY … create a detailed summary of the conversation so
 *   far". Answered with a summary that carries the conversation (see compaction.ts).
 * - forks of the main conversation that Claude Code runs with tools denied — `away_summary` ("The user
 *   stepped away and is coming back. Recap …") and `extract_memories` ("You are now acting as the memory
 *   extraction subagent …"): answered with a short text. Forks not listed here would reach the scenario;
 *   Claude Code refuses every tool call they make, so they stay harmless.
 *
 * Not seen with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 and the default/acceptEdits permission modes: any
 * of the above except compaction. No `count_tokens` call was seen either; it is served anyway.
 */
export interface SideRequest {
  /** Claude Code's name for the request (its `querySource`), for logs. */
  kind: string;
  turn: ScriptedTurn;
}

/** The fields of a Messages request that tell side requests apart. */
export interface RequestShape {
  system?: unknown;
  messages: readonly { role: string; content: unknown }[];
  max_tokens?: unknown;
  stop_sequences?: unknown;
  output_config?: unknown;
}

function say(text: string): ScriptedTurn {
  return { content: [{ type: 'text', text }], stop_reason: 'end_turn' };
}

/** A small value that satisfies a JSON schema (the subset structured outputs use). */
export function sampleForSchema(schema: unknown, depth = 0): unknown {
  if (schema === null || typeof schema !== 'object' || depth > 8) return null;
  const s = schema as Record<string, unknown>;
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = s[key];
    if (Array.isArray(options) && options.length > 0) return sampleForSchema(options[0], depth + 1);
  }
  const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? s.type[0]) : s.type;
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = Array.isArray(s.required) ? (s.required as string[]) : Object.keys(props);
      const out: Record<string, unknown> = {};
      for (const key of required) out[key] = sampleForSchema(props[key], depth + 1);
      return out;
    }
    case 'array': {
      const min = typeof s.minItems === 'number' ? s.minItems : 0;
      return Array.from({ length: Math.min(min, 3) }, () => sampleForSchema(s.items, depth + 1));
    }
    case 'string':
      return 'Scripted session';
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function lastUserText(messages: RequestShape['messages']): string {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  if (!last) return '';
  return blocksOf(last as WireMessage)
    .filter(isTextBlock)
    .map((b) => b.text)
    .join('\n');
}

/** The side request this is, with its answer; undefined for a role's own conversation. */
export function sideRequest(req: RequestShape): SideRequest | undefined {
  const system = textOf(req.system);
  const format = (req.output_config as { format?: { type?: unknown; schema?: unknown } } | undefined)?.format;
  if (format?.type === 'json_schema') {
    return {
      kind: /naming a coding session/.test(system) ? 'generate_session_title' : 'structured_output',
      turn: say(JSON.stringify(sampleForSchema(format.schema))),
    };
  }
  if (req.max_tokens === 1) return { kind: 'quota_check', turn: say('ok') };
  if (/You are a security monitor for autonomous AI coding agents/.test(system)) {
    const stops = Array.isArray(req.stop_sequences) ? req.stop_sequences : [];
    return {
      kind: 'auto_mode',
      turn: stops.includes('</block>')
        ? {
            content: [{ type: 'text', text: '<block>no' }],
            stop_reason: 'stop_sequence',
            stop_sequence: '</block>',
          }
        : say('<block>no</block>'),
    };
  }
  const last = lastUserText(req.messages);
  if (isCompactionPrompt(last)) {
    const conversation = req.messages.filter(
      (m): m is WireMessage => m.role === 'user' || m.role === 'assistant',
    );
    return { kind: 'compact', turn: say(compactionSummary(conversation)) };
  }
  const role = roleFromSystemPrompt(req.system) ?? 'unknown';
  if (/^\s*The user stepped away and is coming back/.test(last)) {
    return { kind: 'away_summary', turn: say(`Scripted ${role} session; it goes on with its scenario.`) };
  }
  if (/You are now acting as the memory extraction subagent/.test(last)) {
    return { kind: 'extract_memories', turn: say('Nothing to remember from this scripted session.') };
  }
  return undefined;
}
