import { TmuxClaudeError } from '../../core/index.js';
import {
  DEFAULT_RECONNECT_WINDOW_MS,
  failedBeforeSend,
  ReconnectBackoff,
  rootMessage,
  sleep,
  type ReconnectObserver,
} from './reconnect.js';

/** Hook events the lite runtime posts; names and payloads mimic Claude Code's hooks. */
export type HookEvent =
  | 'SessionStart'
  | 'UserPromptSubmit'
  | 'Stop'
  | 'StopFailure'
  | 'SessionEnd'
  | 'Notification'
  | 'PostToolUse';

/** Per-post overrides of {@link HookClientOptions}. */
export interface HookPostOptions {
  attempts?: number;
  reconnectWindowMs?: number;
}

/** Posts hook payloads to the supervisor. Resolves with the parsed JSON response (undefined when empty). */
export interface HookPoster {
  post(event: HookEvent, payload: Record<string, unknown>, opts?: HookPostOptions): Promise<unknown>;
}

/** Options of {@link createHookClient}. */
export interface HookClientOptions {
  /** Supervisor base URL; hooks go to `<baseUrl>/hooks/<Event>`. */
  baseUrl: string;
  token: string;
  /**
   * Attempts per hook when a try may have reached the supervisor: the connection broke mid-request, or it
   * answered 5xx other than 503 (default 5).
   */
  attempts?: number;
  /**
   * How long to keep retrying while the supervisor is unreachable (connection refused) or still starting
   * (503), as while it restarts (default 60 s).
   */
  reconnectWindowMs?: number;
  /** First backoff delay, doubled after each failure up to 2 s (default 200 ms). */
  baseDelayMs?: number;
  /** Per attempt (default 30 s). */
  timeoutMs?: number;
  /** Told while hooks wait for the supervisor (for the UI notice). */
  reconnectObserver?: ReconnectObserver;
}

/**
 * Hook client with retries. While the supervisor cannot be reached or answers 503 (listening but not serving
 * yet), a hook is retried for the reconnect window: a lost Stop hook would leave the supervisor thinking the
 * agent is busy. Other network errors and 5xx are retried `attempts` times; a 4xx is final. Backoff starts
 * at `baseDelayMs`, doubling up to 2 s. Rejects with TmuxClaudeError (UNAVAILABLE or the HTTP failure) when
 * it gives up.
 */
export function createHookClient(opts: HookClientOptions): HookPoster {
  const base = opts.baseUrl.replace(/\/+$/, '');
  return {
    async post(event, payload, postOpts = {}) {
      const attempts = postOpts.attempts ?? opts.attempts ?? 5;
      const windowMs = postOpts.reconnectWindowMs ?? opts.reconnectWindowMs ?? DEFAULT_RECONNECT_WINDOW_MS;
      const backoff = new ReconnectBackoff(windowMs, opts.baseDelayMs);
      let failures = 0;
      let waited = false;
      for (;;) {
        const attempt = await postOnce(`${base}/hooks/${event}`, event, opts, payload);
        if ('response' in attempt) {
          if (waited) opts.reconnectObserver?.reconnected();
          return attempt.response;
        }
        if (!attempt.unreached) failures += 1;
        const delay = backoff.next();
        if (attempt.unreached ? backoff.exceeds(delay) : failures >= attempts) {
          const why = attempt.unreached
            ? `supervisor unreachable for ${windowMs / 1000} s`
            : `${failures} failed attempts`;
          throw new TmuxClaudeError(
            'UNAVAILABLE',
            `hook ${event} failed (${why}): ${rootMessage(attempt.error)}`,
            { cause: attempt.error, hint: 'is the supervisor running? `tmux-claude status`' },
          );
        }
        if (attempt.unreached) {
          waited = true;
          opts.reconnectObserver?.retrying(attempt.error, delay);
        }
        await sleep(delay);
      }
    },
  };
}

/**
 * One POST. Resolves with the parsed response, or with the failure and whether the supervisor certainly did
 * not see the request (`unreached`: retrying it cannot duplicate anything). Rejects on a 4xx, which is final.
 */
async function postOnce(
  url: string,
  event: HookEvent,
  opts: HookClientOptions,
  payload: Record<string, unknown>,
): Promise<{ response: unknown } | { error: unknown; unreached: boolean }> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
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
    text = await res.text().catch(() => '');
  } catch (err) {
    return { error: err, unreached: failedBeforeSend(err) };
  }
  if (res.status >= 500) {
    // The supervisor answers 503 from the moment it listens until it is ready to serve.
    return { error: new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`), unreached: res.status === 503 };
  }
  if (!res.ok) {
    throw new TmuxClaudeError(
      'INVALID_ARGUMENT',
      `hook ${event} refused: HTTP ${res.status} ${text.slice(0, 200)}`,
    );
  }
  if (text.trim() === '') return { response: undefined };
  try {
    return { response: JSON.parse(text) as unknown };
  } catch {
    return { response: undefined };
  }
}

/** The continuation a Stop hook asked for (`{"decision":"block","reason":TEXT}`), if any. */
export function stopHookContinuation(response: unknown): string | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  const r = response as { decision?: unknown; reason?: unknown };
  return r.decision === 'block' && typeof r.reason === 'string' && r.reason.trim() !== ''
    ? r.reason
    : undefined;
}
