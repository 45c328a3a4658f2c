// Resuming a lite session: the conversation the model saw, rebuilt from the JSONL transcript the previous
// process wrote before it was killed or restarted.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseJsonObject } from '../../core/index.js';
import type { TranscriptEntry } from './transcript.js';
import {
  appendUserText,
  type ConversationMessage,
  type TextBlock,
  type ToolResultBlock,
  type ToolUseBlock,
} from './turn-loop.js';

/** What the model is told for a tool call whose result the transcript does not have. */
export const INTERRUPTED_TOOL_RESULT =
  'interrupted: the agent restarted before this tool call finished; it may or may not have taken effect';

const BlockSchema = z.union([
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({
    type: z.literal('tool_use'),
    id: z.string(),
    name: z.string(),
    input: z.record(z.string(), z.unknown()),
  }),
]);

// The entries resuming reads; other types (tool_call, turn_end, error) change nothing in the conversation.
const EntrySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('session_start'),
    instance: z.string(),
    role: z.string(),
    pid: z.number(),
    source: z.enum(['startup', 'resume']).optional(),
  }),
  z.object({ type: z.literal('prompt'), text: z.string(), source: z.enum(['user', 'stop_hook']) }),
  z.object({
    type: z.literal('assistant'),
    content: z.array(z.unknown()),
    stop_reason: z.string().nullable(),
  }),
  z.object({
    type: z.literal('tool_result'),
    id: z.string(),
    name: z.string(),
    content: z.string(),
    is_error: z.boolean(),
  }),
]);

/**
 * The entries of JSONL transcript text that resuming needs. A line that is not a complete entry is skipped:
 * a process killed mid-write leaves a torn line (the next session starts on a new line after it).
 */
export function parseTranscript(text: string): TranscriptEntry[] {
  const entries: TranscriptEntry[] = [];
  for (const line of text.split('\n')) {
    const parsed = EntrySchema.safeParse(parseJsonObject(line));
    if (parsed.success) entries.push(parsed.data);
  }
  return entries;
}

/** The transcript file's entries (see {@link parseTranscript}); undefined when there is no such file. */
export function readTranscript(path: string): TranscriptEntry[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseTranscript(text);
}

function assistantBlocks(content: readonly unknown[]): (TextBlock | ToolUseBlock)[] {
  return content.flatMap((b) => {
    const parsed = BlockSchema.safeParse(b);
    return parsed.success ? [parsed.data] : [];
  });
}

/**
 * Rebuilds the conversation exactly as the runtime built it (see runTurn and LiteRuntime): prompts (typed or
 * handed over by a Stop hook) as user text, joined to a user message the conversation already ends with;
 * non-empty assistant messages; and after an assistant message with tool_use blocks, one user message with
 * their tool_results in tool_use order (the transcript has them in completion order).
 *
 * The history is kept valid for the API after a crash: a tool_use without a recorded result gets an error
 * result ({@link INTERRUPTED_TOOL_RESULT}), and a prompt the model never answered stays, so the next prompt
 * joins it. A session that started afresh (not resumed) begins a new conversation.
 */
export function conversationFromTranscript(entries: readonly TranscriptEntry[]): ConversationMessage[] {
  let messages: ConversationMessage[] = [];
  // tool_use blocks of the last assistant message, waiting for the results that follow it.
  let pending: ToolUseBlock[] = [];
  const results = new Map<string, ToolResultBlock>();
  const settle = (): void => {
    if (pending.length === 0) return;
    messages.push({
      role: 'user',
      content: pending.map(
        (use) =>
          results.get(use.id) ?? {
            type: 'tool_result',
            tool_use_id: use.id,
            content: INTERRUPTED_TOOL_RESULT,
            is_error: true,
          },
      ),
    });
    pending = [];
    results.clear();
  };

  for (const entry of entries) {
    switch (entry.type) {
      case 'session_start':
        settle();
        if (entry.source !== 'resume') messages = [];
        break;
      case 'prompt':
        settle();
        appendUserText(messages, entry.text);
        break;
      case 'assistant': {
        settle();
        const content = assistantBlocks(entry.content);
        // The runtime keeps no empty assistant message (the API refuses one).
        if (content.length === 0) break;
        messages.push({ role: 'assistant', content });
        pending = content.filter((b): b is ToolUseBlock => b.type === 'tool_use');
        break;
      }
      case 'tool_result':
        if (pending.some((use) => use.id === entry.id)) {
          results.set(entry.id, {
            type: 'tool_result',
            tool_use_id: entry.id,
            content: entry.content,
            ...(entry.is_error ? { is_error: true } : {}),
          });
        }
        break;
      default:
        break;
    }
  }
  settle();
  return messages;
}
