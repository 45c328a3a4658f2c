import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ToolOutcome } from './tool-types.js';

/** One line of the JSONL transcript (each line also carries `ts`, an ISO timestamp). */
export type TranscriptEntry =
  | { type: 'session_start'; instance: string; role: string; pid: number }
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
 * A JSONL transcript at `path` (none when undefined). Writes synchronously so lines keep the order in which
 * things happened even when tool calls finish concurrently.
 */
export function createTranscript(path: string | undefined, onError?: (err: unknown) => void): Transcript {
  let failed = false;
  let dirReady = false;
  return {
    append(entry) {
      if (!path || failed) return;
      try {
        if (!dirReady) {
          mkdirSync(dirname(path), { recursive: true });
          dirReady = true;
        }
        appendFileSync(path, `${JSON.stringify({ ts: new Date().toISOString(), ...entry })}\n`);
      } catch (err) {
        failed = true;
        onError?.(err);
      }
    },
  };
}
