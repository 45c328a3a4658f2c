import type { ClaudeHook } from '../codex/hook-relay-core.js';

/** Gemini hook events the adapter registers; each is relayed by {@link mapGeminiHook}. */
export const GEMINI_HOOK_EVENTS = ['SessionStart', 'BeforeAgent', 'AfterAgent', 'SessionEnd'] as const;

/** What Gemini reports as the response of a turn that produced no text, which is what an API error leaves. */
export const NO_RESPONSE_TEXT = '[no response text]';

/**
 * Undoes `ui.escapePastedAtSymbols` the way Gemini itself does for text (an `@` is escaped as `\@` when
 * pasted, so a delivered message never triggers file inclusion or a permission dialog): `\@` becomes `@`
 * unless the backslash is itself escaped.
 */
export function unescapePastedAt(text: string): string {
  return text.replace(/\\@/g, (match, offset: number, full: string) => {
    let backslashes = 0;
    for (let i = offset - 1; i >= 0 && full[i] === '\\'; i--) backslashes++;
    return backslashes % 2 === 0 ? '@' : match;
  });
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Gemini CLI 0.61 hooks in Claude Code's terms: SessionStart (fired once config and UI are up) is the ready
 * sign; BeforeAgent (once per user prompt, with the submitted text) is UserPromptSubmit; AfterAgent (once the
 * whole prompt, tool calls included, is answered) is Stop. Gemini also fires AfterAgent after a failed API
 * call, with the placeholder response "[no response text]": that becomes StopFailure.
 */
export function mapGeminiHook(input: Record<string, unknown>): ClaudeHook | null {
  switch (input.hook_event_name) {
    case 'SessionStart':
      return { hook_event_name: 'SessionStart', source: str(input.source) ?? 'startup' };
    case 'BeforeAgent': {
      const prompt = str(input.prompt);
      return prompt === undefined
        ? null
        : { hook_event_name: 'UserPromptSubmit', prompt: unescapePastedAt(prompt) };
    }
    case 'AfterAgent': {
      const response = str(input.prompt_response);
      if (response === undefined || response === NO_RESPONSE_TEXT) {
        return {
          hook_event_name: 'StopFailure',
          error: 'the turn ended without a reply (see the pane for the API error)',
        };
      }
      return {
        hook_event_name: 'Stop',
        stop_hook_active: input.stop_hook_active === true,
        last_assistant_message: response,
      };
    }
    case 'SessionEnd':
      return { hook_event_name: 'SessionEnd' };
    default:
      return null;
  }
}
