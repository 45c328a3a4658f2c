import type { Role } from '../core/index.js';
import type { DeliveredMessage } from '../prompts/index.js';

/**
 * The text formats shared by the supervisor (which writes them into prompts) and the scenarios (which read
 * them back). They are a contract: change both sides together.
 */

const HEADER = /^\[tmux-claude\] message (\S+) from (\S+) \(([^)\n]*)\):\n/gm;

/** Every delivered-message block in a text, in order; text before the first header is ignored. */
export function parseDeliveredMessages(text: string): DeliveredMessage[] {
  const headers = [...text.matchAll(HEADER)];
  return headers.map((h, i) => {
    const start = (h.index ?? 0) + h[0].length;
    const next = headers[i + 1];
    const end = next ? (next.index ?? text.length) : text.length;
    return {
      messageId: h[1] ?? '',
      senderId: h[2] ?? '',
      senderRole: h[3] ?? '',
      // The blank line separating blocks is not part of the body.
      body: text.slice(start, end).replace(/\n+$/, ''),
    };
  });
}

/** A fenced block: three backticks + `<tag>` newline content newline three backticks. */
export function formatFencedBlock(tag: string, content: string): string {
  return '```' + tag + '\n' + content + '\n```';
}

/** The contents of every ```<tag> fenced block in a text, in order. */
export function extractFencedBlocks(text: string, tag: string): string[] {
  const re = new RegExp('```' + tag + '[ \\t]*\\r?\\n([\\s\\S]*?)\\r?\\n[ \\t]*```', 'g');
  return [...text.matchAll(re)].map((m) => m[1] ?? '');
}

/** The first ```<tag> block in a text that parses as a JSON object, or undefined. */
export function extractJsonBlock(text: string, tag: string): Record<string, unknown> | undefined {
  for (const raw of extractFencedBlocks(text, tag)) {
    try {
      const value: unknown = JSON.parse(raw);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // A block that is not JSON is just text; keep looking.
    }
  }
  return undefined;
}

const ROLE_LINE = /^[ \t]*Role:[ \t]*([A-Za-z-]+)[ \t]*$/m;

/**
 * The role named by a `Role: <role>` line of a system prompt (string or text blocks). Returns the raw word
 * when it is not a known role, so callers can say which role they did not understand; undefined when absent.
 */
export function roleFromSystemPrompt(system: unknown): Role | string | undefined {
  const text =
    typeof system === 'string'
      ? system
      : Array.isArray(system)
        ? system
            .map((b: unknown) =>
              b !== null && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string'
                ? (b as { text: string }).text
                : '',
            )
            .join('\n')
        : '';
  const m = ROLE_LINE.exec(text);
  return m?.[1]?.toLowerCase();
}
