import { extractFencedBlocks, formatFencedBlock, stripClientMarkup } from './prompt-formats.js';
import { blocksOf, isTextBlock, isToolResultBlock, isToolUseBlock, toolResultText } from './wire.js';
import type { WireBlock, WireMessage } from './wire.js';

/**
 * Claude Code compacts a long conversation by asking the model for a summary and then starting over from it.
 * The scripted model decides from the conversation alone, so its "summary" carries the conversation itself:
 * a fenced ```scripted-transcript block holding the messages as JSON. When a later request contains that
 * block, {@link expandTranscripts} puts the messages back in front, and the scenario goes on where it was.
 */

const TAG = 'scripted-transcript';

/** The marker Claude Code's compaction prompt carries (querySource "compact"). */
export function isCompactionPrompt(text: string): boolean {
  return /Your task is to create a detailed summary of the conversation so far/.test(text);
}

/** A message reduced to what the scenarios read: text, tool_use and tool_result (as text) blocks. */
function slim(msg: WireMessage): WireMessage | undefined {
  const blocks: WireBlock[] = [];
  for (const b of blocksOf(msg)) {
    if (isTextBlock(b)) {
      const text = stripClientMarkup(b.text);
      if (text !== '' && !isCompactionPrompt(text)) blocks.push({ type: 'text', text });
    } else if (isToolUseBlock(b)) {
      blocks.push({ type: 'tool_use', id: b.id, name: b.name, input: b.input });
    } else if (isToolResultBlock(b)) {
      blocks.push({
        type: 'tool_result',
        tool_use_id: b.tool_use_id,
        content: toolResultText(b),
        ...(b.is_error === true ? { is_error: true } : {}),
      });
    }
  }
  return blocks.length > 0 ? { role: msg.role, content: blocks } : undefined;
}

/** The reply to a compaction request: a summary whose transcript block lets the scenario resume. */
export function compactionSummary(messages: readonly WireMessage[]): string {
  const kept = expandTranscripts(messages)
    .map(slim)
    .filter((m): m is WireMessage => m !== undefined);
  return (
    '<analysis>\nScripted model: nothing to analyse; the conversation is carried over verbatim.\n</analysis>\n\n' +
    '<summary>\n' +
    `The scripted model's conversation so far (${kept.length} messages) is kept in the block below; ` +
    'the scripted model continues from it.\n\n' +
    formatFencedBlock(TAG, JSON.stringify(kept)) +
    '\n</summary>'
  );
}

function parseTranscript(text: string): WireMessage[] | undefined {
  for (const raw of extractFencedBlocks(text, TAG)) {
    try {
      const v: unknown = JSON.parse(raw);
      if (
        Array.isArray(v) &&
        v.every(
          (m: unknown) =>
            m !== null &&
            typeof m === 'object' &&
            ((m as WireMessage).role === 'user' || (m as WireMessage).role === 'assistant') &&
            (typeof (m as WireMessage).content === 'string' || Array.isArray((m as WireMessage).content)),
        )
      ) {
        return v as WireMessage[];
      }
    } catch {
      // Not a transcript; leave the text alone.
    }
  }
  return undefined;
}

function withoutTranscript(text: string): string {
  return text.replace(new RegExp('```' + TAG + '[ \\t]*\\r?\\n[\\s\\S]*?\\r?\\n[ \\t]*```', 'g'), '');
}

/**
 * The conversation with a carried-over transcript (from an earlier compaction) put back in place: the user
 * message holding the block becomes the transcript's messages followed by that message without the block.
 * Conversations without a transcript come back unchanged.
 */
export function expandTranscripts(messages: readonly WireMessage[]): WireMessage[] {
  const out: WireMessage[] = [];
  for (const msg of messages) {
    const blocks = blocksOf(msg);
    const holder =
      msg.role === 'user' ? blocks.find((b) => isTextBlock(b) && b.text.includes('```' + TAG)) : undefined;
    const transcript = holder && isTextBlock(holder) ? parseTranscript(holder.text) : undefined;
    if (!transcript) {
      out.push(msg);
      continue;
    }
    out.push(...transcript);
    out.push({
      role: 'user',
      content: blocks.map((b) =>
        b === holder && isTextBlock(b) ? { type: 'text', text: withoutTranscript(b.text) } : b,
      ),
    });
  }
  return out;
}
