import { isRecord, parseJsonObject } from '../core/index.js';
import { z } from 'zod';
import {
  extractFencedBlocks,
  formatFencedBlock,
  parseDeliveredMessages,
  stripClientMarkup,
} from './prompt-formats.js';
import {
  blocksOf,
  isTextBlock,
  isToolResultBlock,
  isToolUseBlock,
  toolResultText,
  type ScriptedTurn,
  type WireMessage,
} from './wire.js';

/**
 * The "chatter" scenario (message-bus chaos tests): an agent whose conversation carries a ```chatter block
 * sends `count` messages to its peers with `send_message`, and processes, de-duplicates and acks every
 * message it receives, whatever its role. Like every scenario it decides from the history alone, so a
 * restarted agent whose conversation was resumed from a transcript goes on where it was, and failed calls
 * (a torn call after a crash, a supervisor that was down) are simply made again.
 */

const TAG = 'chatter';

/** The first ```chatter block's fields; see {@link chatterTurn}. */
export interface ChatterConfig {
  /** This agent's instance id (the `from` of what it sends; left out of the peers it sends to). */
  self: string;
  /** Every participant's instance id, self included or not; messages go round-robin to the others. */
  peers: string[];
  /** Messages this agent sends. */
  count: number;
  /** send_message calls per model reply (default 25). */
  batch: number;
  /** wait_for_messages timeout in seconds (default 2). */
  wait_s: number;
  /** Pad each body with '.' to this many bytes. */
  body_bytes?: number | undefined;
}

const ConfigSchema = z.object({
  self: z.string().min(1),
  peers: z.array(z.string().min(1)),
  count: z.number().int().min(0),
  batch: z.number().int().min(1).default(25),
  wait_s: z.number().min(0).default(2),
  body_bytes: z.number().int().min(0).optional(),
});

/** A ```chatter fenced block for a prompt. */
export function formatChatterBlock(config: {
  self: string;
  peers: readonly string[];
  count: number;
  batch?: number;
  wait_s?: number;
  body_bytes?: number;
}): string {
  return formatFencedBlock(TAG, JSON.stringify(config));
}

/**
 * The chatter configuration of a conversation: the last ```chatter block holding a JSON object in its user
 * texts; a string saying what is wrong when that object is not a valid configuration; undefined when there
 * is no such block (the conversation is not a chatter one).
 */
export function chatterConfig(userTexts: readonly string[]): ChatterConfig | string | undefined {
  for (let i = userTexts.length - 1; i >= 0; i--) {
    const t = userTexts[i] ?? '';
    if (!t.includes('```' + TAG)) continue;
    const blocks = extractFencedBlocks(t, TAG);
    for (let j = blocks.length - 1; j >= 0; j--) {
      const value = parseJsonObject(blocks[j] ?? '');
      if (!value) continue;
      const parsed = ConfigSchema.safeParse(value);
      if (!parsed.success) {
        return (
          'Scripted model (chatter): the chatter block is not {"self","peers":[…],"count"[,"batch","wait_s",' +
          `"body_bytes"]}: ${parsed.error.message.slice(0, 500)}`
        );
      }
      return parsed.data;
    }
  }
  return undefined;
}

const PROCESSED_LINE = /^Processed:((?:[ \t]+\S+)*)[ \t]*$/gm;
const DUPLICATES_LINE = /^Dropped duplicates:[ \t]*(\d+)[ \t]*$/gm;

/** The message ids of every `Processed: <id> <id> …` line of a text, in order (repeats kept). */
export function processedIdsIn(text: string): string[] {
  if (!text.includes('Processed:')) return [];
  const ids: string[] = [];
  for (const m of text.matchAll(PROCESSED_LINE)) {
    for (const id of (m[1] ?? '').split(/[ \t]+/)) if (id !== '') ids.push(id);
  }
  return ids;
}

/** The largest `Dropped duplicates: <n>` of a text, or 0. */
function reportedDuplicatesIn(text: string): number {
  if (!text.includes('Dropped duplicates:')) return 0;
  let max = 0;
  for (const m of text.matchAll(DUPLICATES_LINE)) max = Math.max(max, Number(m[1]));
  return max;
}

/**
 * How many times each message id was processed according to a light-runtime JSONL transcript: the ids of
 * the `Processed:` lines in the text blocks of its `assistant` entries (every session of the file, so a
 * restarted agent's earlier sessions count too). Lines that are not JSON (a line torn by a crash) are
 * skipped; `turn_end` entries repeat an assistant text and are not counted.
 */
export function processedCountsInTranscript(jsonl: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of jsonl.split('\n')) {
    if (!line.includes('Processed:')) continue;
    const entry = parseJsonObject(line);
    if (entry?.type !== 'assistant' || !Array.isArray(entry.content)) continue;
    for (const block of entry.content as unknown[]) {
      if (!isRecord(block) || block.type !== 'text' || typeof block.text !== 'string') continue;
      for (const id of processedIdsIn(block.text)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

/** What chatterTurn needs to emit tool calls (the scenarios' ToolUses). */
export interface ToolSink {
  add(name: string, input: Record<string, unknown>): void;
  turn(lead: string): ScriptedTurn;
}

interface Call {
  name: string;
  input: Record<string, unknown>;
  result?: { isError: boolean; text: string };
}

/**
 * A hot loop of errors ends the turn: this many failed tool results in a row (since the last prompt), made
 * by at least {@link HOT_LOOP_REPLIES} replies. One batch of sends torn by a supervisor crash fails all at
 * once, and that alone is worth a retry, not a stop.
 */
const HOT_LOOP_RESULTS = 20;
const HOT_LOOP_REPLIES = 3;

function bareToolName(name: string): string {
  return name.replace(/^mcp__.+?__/, '');
}

/** The ids of the messages in a wait_for_messages/inbox result, or undefined when it is not that JSON. */
function messageIdsOfResult(text: string): string[] | undefined {
  const messages = parseJsonObject(text)?.messages;
  if (!Array.isArray(messages)) return undefined;
  const ids: string[] = [];
  for (const m of messages as unknown[]) {
    if (isRecord(m) && typeof m.id === 'string' && m.id !== '') ids.push(m.id);
  }
  return ids;
}

/** The peers to send to, starting after self's place in `peers` so that load spreads. */
function othersOf(config: ChatterConfig): string[] {
  const at = config.peers.indexOf(config.self);
  const rotated = at < 0 ? config.peers : [...config.peers.slice(at + 1), ...config.peers.slice(0, at)];
  return [...new Set(rotated.filter((p) => p !== config.self))];
}

function bodyOf(config: ChatterConfig, i: number): string {
  const base = `chatter ${i} from ${config.self}`;
  const pad = (config.body_bytes ?? 0) - Buffer.byteLength(base);
  return pad > 0 ? base + '.'.repeat(pad) : base;
}

function endTurn(text: string): ScriptedTurn {
  return { content: [{ type: 'text', text }], stop_reason: 'end_turn' };
}

/**
 * The next reply of a chatter conversation (`messages` already expanded from any compaction transcript),
 * from one pass over the history:
 *
 * - received: every message id delivered, in order: headers in user texts, and the `messages` of
 *   non-error wait_for_messages/inbox results; processed: ids in `Processed:` lines of assistant texts;
 * - the reply's text lists the new (received, not processed) ids on one `Processed: …` line, and the
 *   cumulative count of dropped duplicate deliveries on `Dropped duplicates: <n>` when it grew;
 * - one `ack` of every received id not yet in an ack call that succeeded, then `send_message` for the next
 *   `batch` indices whose client_id (`<self>:<i>`) has no successful send yet;
 * - with nothing to ack or send: end the turn after a wait_for_messages that failed or brought nothing, else
 *   wait_for_messages; a run of failed tool results ({@link HOT_LOOP_RESULTS} over
 *   {@link HOT_LOOP_REPLIES} replies) ends the turn too.
 */
export function chatterTurn(
  messages: readonly WireMessage[],
  config: ChatterConfig,
  tools: ToolSink,
): ScriptedTurn {
  const calls = new Map<string, Call>();
  const received: string[] = [];
  const processed = new Set<string>();
  const acked = new Set<string>();
  const sent = new Set<string>();
  let reportedDuplicates = 0;
  let lastCall: Call | undefined;
  // The run of failed tool results at the end of the history (a prompt starts a new run).
  let failedRun = 0;
  let failedReplies = new Set<number>();
  let lastFailure = '';
  let reply = -1;

  for (const msg of messages) {
    if (msg.role === 'assistant') {
      reply++;
      for (const block of blocksOf(msg)) {
        if (isToolUseBlock(block)) {
          const input = isRecord(block.input) ? block.input : {};
          const call: Call = { name: bareToolName(block.name), input };
          calls.set(block.id, call);
          lastCall = call;
        } else if (isTextBlock(block)) {
          for (const id of processedIdsIn(block.text)) processed.add(id);
          reportedDuplicates = Math.max(reportedDuplicates, reportedDuplicatesIn(block.text));
        }
      }
      continue;
    }
    for (const block of blocksOf(msg)) {
      if (isTextBlock(block)) {
        // A prompt (not just client markup such as Claude Code's reminders) starts a new run of results.
        const clean = stripClientMarkup(block.text);
        if (clean.trim() === '') continue;
        failedRun = 0;
        failedReplies = new Set();
        if (!clean.includes('[tmux-claude] message')) continue;
        for (const m of parseDeliveredMessages(clean)) received.push(m.messageId);
      } else if (isToolResultBlock(block)) {
        const call = calls.get(block.tool_use_id);
        if (!call) continue;
        const isError = block.is_error === true;
        const text = toolResultText(block);
        call.result = { isError, text };
        if (isError) {
          failedRun++;
          failedReplies.add(reply);
          lastFailure = text;
          continue;
        }
        failedRun = 0;
        failedReplies = new Set();
        if (call.name === 'wait_for_messages' || call.name === 'inbox') {
          received.push(...(messageIdsOfResult(text) ?? []));
        } else if (call.name === 'ack' && Array.isArray(call.input.ids)) {
          for (const id of call.input.ids as unknown[]) if (typeof id === 'string') acked.add(id);
        } else if (call.name === 'send_message' && typeof call.input.client_id === 'string') {
          sent.add(call.input.client_id);
        }
      }
    }
  }

  const distinct = new Set<string>();
  const fresh: string[] = [];
  const needAck: string[] = [];
  let duplicates = 0;
  for (const id of received) {
    if (distinct.has(id)) {
      duplicates++;
      continue;
    }
    distinct.add(id);
    if (!processed.has(id)) fresh.push(id);
    if (!acked.has(id)) needAck.push(id);
  }

  const others = othersOf(config);
  let sentCount = 0;
  const toSend: number[] = [];
  for (let i = 0; i < config.count; i++) {
    if (sent.has(`${config.self}:${i}`)) sentCount++;
    else if (toSend.length < config.batch) toSend.push(i);
  }
  const summary = (): string =>
    `Chatter done: sent ${sentCount}/${config.count}, processed ${processed.size + fresh.length}, duplicates ${duplicates}`;

  // A hot loop of failures: stop rather than spin; the next prompt tries again.
  if (failedRun >= HOT_LOOP_RESULTS && failedReplies.size >= HOT_LOOP_REPLIES) {
    const last = lastFailure;
    return endTurn(
      `Chatter stopped: the last ${failedRun} tool results (over ${failedReplies.size} replies) were errors; ` +
        `the last one: ${last.length > 300 ? `${last.slice(0, 299)}…` : last}\n${summary()}`,
    );
  }

  if (others.length === 0 && toSend.length > 0) {
    return endTurn(`Scripted model (chatter): ${config.self} has no peers to send to.`);
  }

  const lines: string[] = [];
  if (fresh.length > 0) lines.push(`Processed: ${fresh.join(' ')}`);
  if (duplicates > reportedDuplicates) lines.push(`Dropped duplicates: ${duplicates}`);

  if (needAck.length > 0) tools.add('ack', { ids: needAck });
  for (const i of toSend) {
    tools.add('send_message', {
      to: others[i % others.length],
      subject: 'chatter',
      body: bodyOf(config, i),
      requires_ack: true,
      client_id: `${config.self}:${i}`,
    });
  }
  if (needAck.length > 0 || toSend.length > 0) {
    const doing = [
      needAck.length > 0 ? `acking ${needAck.length}` : '',
      toSend.length > 0 ? `sending ${toSend.join(', ')}` : '',
    ].filter(Boolean);
    lines.unshift(`Chatter ${config.self}: sent ${sentCount}/${config.count}; ${doing.join('; ')}.`);
    return tools.turn(lines.join('\n'));
  }

  const lastWait = lastCall?.name === 'wait_for_messages' ? lastCall : undefined;
  const waitedInVain =
    lastWait !== undefined &&
    (lastWait.result === undefined ||
      lastWait.result.isError ||
      (messageIdsOfResult(lastWait.result.text) ?? []).length === 0);
  if (fresh.length === 0 && waitedInVain) return endTurn([...lines, summary()].join('\n'));

  tools.add('wait_for_messages', { timeout_s: config.wait_s });
  lines.unshift(`Chatter ${config.self}: sent ${sentCount}/${config.count}; waiting for messages.`);
  return tools.turn(lines.join('\n'));
}
