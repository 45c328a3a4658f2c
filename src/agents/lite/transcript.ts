import { appendFileSync, closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ToolOutcome } from './tool-types.js';

/** One line of the JSONL transcript (each line also carries `ts`, an ISO timestamp). */
export type TranscriptEntry =
  /** `source` is `resume` when the session continued the conversation recorded before it. */
  | { type: 'session_start'; instance: string; role: string; pid: number; source?: 'startup' | 'resume' }
  /** A prompt exactly as received: typed/pasted (`user`) or handed over by a Stop hook (`stop_hook`). */
  | { type: 'prompt'; text: string; source: 'user' | 'stop_hook' }
  | { type: 'assistant'; content: unknown[]; stop_reason: string | null }
  | { type: 'tool_call'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; id: string; name: string; content: ToolOutcome['content']; is_error: boolean }
  | { type: 'turn_end'; stop_reason: string; final_text: string }
  | { type: 'error'; message: string };

/** Append-only record of a session. Never throws: a transcript that cannot be written is reported once. */
export interface Transcript {
  append(entry: TranscriptEntry): void;
}

/**
 * A JSONL transcript at `path` (none when undefined), appended to when it exists (a resumed session). Writes
 * synchronously so lines keep the order in which things happened even when tool calls finish concurrently.
 */
export function createTranscript(path: string | undefined, onError?: (err: unknown) => void): Transcript {
  let failed = false;
  let ready = false;
  return {
    append(entry) {
      if (!path || failed) return;
      try {
        let prefix = '';
        if (!ready) {
          mkdirSync(dirname(path), { recursive: true });
          // A process killed mid-write leaves a torn last line: start on a line of our own, so only that
          // line is lost and not our first one too.
          if (!endsWithNewline(path)) prefix = '\n';
          ready = true;
        }
        appendFileSync(path, `${prefix}${JSON.stringify({ ts: new Date().toISOString(), ...entry })}\n`);
      } catch (err) {
        failed = true;
        onError?.(err);
      }
    },
  };
}

/** True when the file is missing, empty, or ends with a newline. */
function endsWithNewline(path: string): boolean {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return true;
  }
  if (size === 0) return true;
  const fd = openSync(path, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}
