import type { ClaudeHook } from './hook-relay-core.js';

/** Codex hook events the adapter registers; each is relayed by {@link mapCodexHook}. */
export const CODEX_HOOK_EVENTS = ['UserPromptSubmit', 'Stop', 'PostModelRequest', 'SessionEnd'] as const;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Codex 0.169 hook payloads already use Claude Code's names and fields for UserPromptSubmit, Stop and
 * SessionEnd. A turn that fails (the model API refused or the stream broke) ends without a Stop hook; its
 * only trace is a PostModelRequest hook with `status: "failed"`, which becomes StopFailure. That is final
 * only because the adapter sets `stream_max_retries = 0` (HTTP-level retries still happen inside one
 * request). SessionStart is not relayed: Codex runs it when the first turn starts, not when the TUI is up.
 */
export function mapCodexHook(input: Record<string, unknown>): ClaudeHook | null {
  switch (input.hook_event_name) {
    case 'UserPromptSubmit': {
      const prompt = str(input.prompt);
      return prompt === undefined ? null : { hook_event_name: 'UserPromptSubmit', prompt };
    }
    case 'Stop': {
      const last = str(input.last_assistant_message);
      return {
        hook_event_name: 'Stop',
        stop_hook_active: input.stop_hook_active === true,
        ...(last === undefined ? {} : { last_assistant_message: last }),
      };
    }
    case 'PostModelRequest':
      if (input.status !== 'failed') return null;
      return { hook_event_name: 'StopFailure', error: str(input.error) ?? 'the model request failed' };
    case 'SessionEnd':
      return { hook_event_name: 'SessionEnd' };
    default:
      return null;
  }
}
