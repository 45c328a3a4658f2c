// Shared by the MCP connection and the hook client: how the lite runtime rides out a supervisor that is down
// or restarting (it restarts on the same port, so waiting and retrying is enough).
import { asError } from '../../core/index.js';

/** How long requests keep retrying while the supervisor cannot be reached, unless told otherwise. */
export const DEFAULT_RECONNECT_WINDOW_MS = 60_000;

// Errors that mean the TCP connection was never made, so the request cannot have reached the server.
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The error and its causes, outermost first (at most `maxDepth` of them). */
export function* causeChain(err: unknown, maxDepth = 5): Generator<unknown> {
  let e: unknown = err;
  for (let depth = 0; e && depth < maxDepth; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/** True when the error (or one of its causes) says the request never left this process. */
export function failedBeforeSend(err: unknown): boolean {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
  }
  return false;
}

/**
 * The innermost message of an error chain: `connect ECONNREFUSED 127.0.0.1:4100` rather than undici's
 * `fetch failed`.
 */
export function rootMessage(err: unknown): string {
  let last: unknown = err;
  for (const e of causeChain(err)) last = e;
  return asError(last).message;
}

/** Resolves after `ms`; rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Backoff for one request waiting for the supervisor: 200 ms, doubling up to 2 s, for at most `windowMs`
 * of waiting in total.
 */
export class ReconnectBackoff {
  private delay: number;
  private readonly deadline: number;

  constructor(
    readonly windowMs: number,
    firstDelayMs = 200,
    private readonly maxDelayMs = 2000,
  ) {
    this.delay = firstDelayMs;
    this.deadline = Date.now() + windowMs;
  }

  /** The next wait: 200 ms, doubling up to 2 s. */
  next(): number {
    const delay = this.delay;
    this.delay = Math.min(delay * 2, this.maxDelayMs);
    return delay;
  }

  /** True when waiting `delayMs` more would pass the window. */
  exceeds(delayMs: number): boolean {
    return Date.now() + delayMs > this.deadline;
  }
}

/** Told when requests to the supervisor start waiting for it to come back, and when one got through again. */
export interface ReconnectObserver {
  /** Before each wait; `err` is why the last attempt did not reach the supervisor. */
  retrying(err: unknown, delayMs: number): void;
  /** A request succeeded after having waited. */
  reconnected(): void;
}

/**
 * An observer that shows one notice when the supervisor becomes unreachable and one when it is back, however
 * many requests are waiting (the MCP connection and the hook client share it).
 */
export function reconnectNotices(notice: (text: string) => void): ReconnectObserver {
  let waiting = false;
  return {
    retrying(err) {
      if (waiting) return;
      waiting = true;
      notice(`supervisor unreachable, retrying… (${rootMessage(err)})`);
    },
    reconnected() {
      if (!waiting) return;
      waiting = false;
      notice('supervisor reachable again');
    },
  };
}
