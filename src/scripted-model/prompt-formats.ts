import { parseJsonObject, type Role } from '../core/index.js';
import type { DeliveredMessage } from '../prompts/index.js';

/**
 * The text formats shared by the supervisor (which writes them into prompts) and the scenarios (which read
 * them back). They are a contract: change both sides together.
 */

// `[tmux-claude] message <id> from <sender> (<role>)[; extras]:` at the start of a line, the body on the next.
const HEADER = /^\[tmux-claude\] message (\S+) from (\S+) \(([^)\n]*)\)((?:; [^\n]*)?):\n/gm;
// The extras a header may carry, in the order the supervisor writes them (src/prompts formatMessages).
const EXTRAS =
  /^(?:; subject ("(?:[^"\\\n]|\\.)*"))?(?:; reply to ([^\s;]+))?(?:; topic (\S+) #(\d+|\?))?(; ack required)?(; redelivered)?$/;

/** The subject, reply, topic, ack and redelivery marks of a header's extras (only those present). */
function parseExtras(extras: string): Partial<DeliveredMessage> {
  if (extras === '') return {};
  const m = EXTRAS.exec(extras);
  if (!m) {
    // Extras in another order or of an unknown kind: keep the flags a reader acts on.
    return {
      ...(extras.includes('; ack required') ? { requiresAck: true } : {}),
      ...(extras.includes('; redelivered') ? { redelivered: true } : {}),
    };
  }
  const out: Partial<DeliveredMessage> = {};
  if (m[1] !== undefined) {
    try {
      const subject: unknown = JSON.parse(m[1]);
      if (typeof subject === 'string') out.subject = subject;
    } catch {
      // A subject that is not a JSON string is left out.
    }
  }
  if (m[2] !== undefined) out.replyTo = m[2];
  if (m[3] !== undefined) {
    out.topic = m[3];
    if (m[4] !== undefined && m[4] !== '?') out.topicSeq = Number(m[4]);
  }
  if (m[5] !== undefined) out.requiresAck = true;
  if (m[6] !== undefined) out.redelivered = true;
  return out;
}

/**
 * Every delivered-message block in a text, in order; text before the first header is ignored. The header's
 * extras (`; subject "…"`, `; reply to <id>`, `; topic <name> #<seq>`, `; ack required`, `; redelivered`)
 * become the optional fields of the same names; fields whose mark is absent are left out.
 */
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
      ...parseExtras(h[4] ?? ''),
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
    // A block that is not a JSON object is just text; keep looking.
    const value = parseJsonObject(raw);
    if (value) return value;
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

/** The text of a system prompt or message content: a string, or the `text` of each text block joined. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b: unknown) =>
      b !== null && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string'
        ? (b as { text: string }).text
        : '',
    )
    .filter((t) => t !== '')
    .join('\n');
}

const SYSTEM_REMINDER = /<system-reminder>[\s\S]*?<\/system-reminder>/g;
const PASTED_TAG = /<\/?pasted_content(?:\s+id="[^"]*")?\s*>/g;
const DELIVERED_HEADER = /^\[tmux-claude\] message \S+ from \S+ \([^)\n]*\)(?:; [^\n]*)?:$/m;
// A prompt typed while Claude Code is mid-turn reaches the model inside this wrapper, next to a tool result.
const MID_TURN_LEAD = /^The user sent a new message while you were working:\n/;
const MID_TURN_TAIL = /\n+This is how Claude Code surfaces messages the user sends mid-turn\b[\s\S]*$/;

/**
 * A user text as the author wrote it, without the markup Claude Code wraps around it: `<system-reminder>`
 * blocks it adds for its own context (git status, attribution, …) are dropped unless they carry delivered
 * tmux-claude messages (hook output can reach the model that way), the `<pasted_content id="…">` tags a
 * bracketed paste is wrapped in are removed, and so is the wrapper around a prompt typed mid-turn ("The user
 * sent a new message while you were working: …"). Texts from other clients come back unchanged.
 */
export function stripClientMarkup(text: string): string {
  const out = text
    .replace(SYSTEM_REMINDER, (block) => (DELIVERED_HEADER.test(block) ? block : ''))
    .replace(PASTED_TAG, '')
    .replace(MID_TURN_LEAD, '')
    .replace(MID_TURN_TAIL, '');
  return out === text ? text : out.trim();
}

const WORKTREE_LINE = /^[ \t]*Worktree:[ \t]*(\/\S.*?)[ \t]*$/m;
const CWD_LINE = /^[ \t-]*Primary working directory:[ \t]*(\/\S.*?)[ \t]*$/m;

/**
 * The directory a specialist works in, for tools that need absolute paths (Claude Code's Write): the
 * `Worktree: <abs path>` line of the role prompt, else Claude Code's `Primary working directory: <path>`
 * environment line, searched in the given texts in order.
 */
export function workingDirectoryFrom(texts: readonly string[]): string | undefined {
  for (const re of [WORKTREE_LINE, CWD_LINE]) {
    for (const t of texts) {
      const m = re.exec(t);
      if (m?.[1]) return m[1];
    }
  }
  return undefined;
}

/** Claude Code's working directory (its `Primary working directory: <path>` line), where Bash commands run. */
export function claudeWorkingDirectoryFrom(texts: readonly string[]): string | undefined {
  for (const t of texts) {
    const m = CWD_LINE.exec(t);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/** Test knobs a conversation can carry; see {@link scriptedKnobs}. */
export interface ScriptedKnobs {
  /** Wait this long before answering each request of the conversation (a slow model, for "busy" tests). */
  delayMs?: number;
  /** Before anything else, try to edit this file (relative to the working directory, or absolute). */
  tryEdit?: string;
  /** The tool tryEdit calls; default: Edit, else Write, else write_file, whichever is offered first, else Edit. */
  tryTool?: 'Edit' | 'Write' | 'write_file';
  /** tryEdit only once a claim_task has succeeded (a dialog while holding a lease), not before the scenario. */
  tryEditAfterClaim?: boolean;
  /**
   * Rate-limit fault: the request right after a successful claim_task (the conversation ends with its result
   * and nothing else) is answered 429 with `retry-after` this many seconds. Any text added after that result
   * (the supervisor's "continue" once the limit has reset) ends the fault, so the reply is again stateless.
   */
  rateLimitAfterClaim?: number;
}

/**
 * The briefing line that marks a restart or a successor (see KnowledgeBase.briefing): knobs under
 * `firstAttempt` are ignored where the system prompt has it.
 */
const EARLIER_ATTEMPTS = /^Earlier attempts:$/m;

const SCRIPTED_BLOCK = /```scripted(?![\w-])[ \t]*\r?\n?([\s\S]*?)\r?\n?[ \t]*```/g;

/**
 * The test knobs of a conversation: every fenced block tagged `scripted` holding a JSON object, e.g.
 *
 *     ```scripted
 *     {"delayMs": 3000, "tryEdit": "README.md"}
 *     ```
 *
 * (the JSON may also sit on the fence line: ```scripted {"delayMs": 3000}```). Later blocks override earlier
 * ones field by field; fields of the wrong type and blocks that are not JSON objects are ignored. Knobs
 * nested under `"firstAttempt": {…}` apply only while no text has the `Earlier attempts:` briefing line
 * (a fault that a restarted or successor instance no longer has).
 */
export function scriptedKnobs(texts: readonly string[]): ScriptedKnobs {
  const knobs: ScriptedKnobs = {};
  const firstAttempt: ScriptedKnobs = {};
  for (const t of texts) {
    if (!t.includes('```scripted')) continue;
    for (const m of t.matchAll(SCRIPTED_BLOCK)) {
      let v: unknown;
      try {
        v = JSON.parse(m[1] ?? '');
      } catch {
        continue;
      }
      if (!isObject(v)) continue;
      readKnobs(v, knobs);
      if (isObject(v.firstAttempt)) readKnobs(v.firstAttempt, firstAttempt);
    }
  }
  // A fault meant for the first attempt at a task only: a restart or a successor is briefed on the earlier one.
  return texts.some((t) => EARLIER_ATTEMPTS.test(t)) ? knobs : { ...knobs, ...firstAttempt };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Copies the well-typed knob fields of one block into `knobs`. */
function readKnobs(o: Record<string, unknown>, knobs: ScriptedKnobs): void {
  if (typeof o.delayMs === 'number' && Number.isFinite(o.delayMs) && o.delayMs >= 0) {
    knobs.delayMs = Math.min(o.delayMs, 10 * 60_000);
  }
  if (typeof o.tryEdit === 'string' && o.tryEdit !== '') knobs.tryEdit = o.tryEdit;
  if (o.tryTool === 'Edit' || o.tryTool === 'Write' || o.tryTool === 'write_file') knobs.tryTool = o.tryTool;
  if (typeof o.tryEditAfterClaim === 'boolean') knobs.tryEditAfterClaim = o.tryEditAfterClaim;
  if (typeof o.rateLimitAfterClaim === 'number' && Number.isFinite(o.rateLimitAfterClaim)) {
    knobs.rateLimitAfterClaim = Math.min(Math.max(o.rateLimitAfterClaim, 0), 3600);
  }
}
