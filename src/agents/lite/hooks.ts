import { asError, TmuxClaudeError } from '../../core/index.js';

/** Hook events the lite runtime posts; names and payloads mimic Claude Code's hooks. */
export type HookEvent = 'SessionStart' | 'UserPromptSubmit' | 'Stop' | 'StopFailure' | 'SessionEnd';

/** Posts hook payloads to the supervisor. Resolves with the parsed JSON response (undefined when empty). */
export interface HookPoster {
  post(event: HookEvent, payload: Record<string, unknown>, opts?: { attempts?: number }): Promise<unknown>;
}

/** Options of {@link createHookClient}. */
export interface HookClientOptions {
  /** Supervisor base URL; hooks go to `<baseUrl>/hooks/<Event>`. */
  baseUrl: string;
  token: string;
  /** Attempts per hook while the supervisor is unreachable or answers 5xx (default 5). */
  attempts?: number;
  /** First backoff delay, doubled after each failure (default 200 ms). */
  baseDelayMs?: number;
  /** Per attempt (default 30 s). */
  timeoutMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Hook client with retries: network errors and 5xx are retried with exponential backoff (the supervisor may
 * be restarting); a 4xx is final. Rejects with TmuxClaudeError (UNAVAILABLE or the HTTP failure) when it gives up.
 */
export function createHookClient(opts: HookClientOptions): HookPoster {
  const base = opts.baseUrl.replace(/\/+$/, '');
  return {
    async post(event, payload, postOpts = {}) {
      const attempts = postOpts.attempts ?? opts.attempts ?? 5;
      let lastError: unknown;
      for (let attempt = 0; attempt < attempts; attempt++) {
        if (attempt > 0) await sleep((opts.baseDelayMs ?? 200) * 2 ** (attempt - 1));
        let res: Response;
        try {
          res = await fetch(`${base}/hooks/${event}`, {
            method: 'POST',
            // A fresh connection each time: a pooled one may point at a supervisor that has restarted.
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${opts.token}`,
              connection: 'close',
            },
            body: JSON.stringify(payload),
            signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
          });
        } catch (err) {
          lastError = err;
          continue;
        }
        const text = await res.text().catch(() => '');
        if (res.status >= 500) {
          lastError = new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
          continue;
        }
        if (!res.ok) {
          throw new TmuxClaudeError(
            'INVALID_ARGUMENT',
            `hook ${event} refused: HTTP ${res.status} ${text.slice(0, 200)}`,
          );
        }
        if (text.trim() === '') return undefined;
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return undefined;
        }
      }
      throw new TmuxClaudeError(
        'UNAVAILABLE',
        `hook ${event} failed after ${attempts} attempts: ${asError(lastError).message}`,
        { cause: lastError, hint: 'is the supervisor running? `tmux-claude status`' },
      );
    },
  };
}

/** The continuation a Stop hook asked for (`{"decision":"block","reason":TEXT}`), if any. */
export function stopHookContinuation(response: unknown): string | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  const r = response as { decision?: unknown; reason?: unknown };
  return r.decision === 'block' && typeof r.reason === 'string' && r.reason.trim() !== ''
    ? r.reason
    : undefined;
}
