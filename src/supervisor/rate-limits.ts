import type { Config, EventInput, Logger } from '../core/index.js';
import type { Store } from '../store/index.js';

/**
 * Agents that hit an API rate limit or overload: blocked until the reset time the API gave (or a default
 * wait), their task leases and file reservations renewed by the supervisor meanwhile so nobody takes their
 * work, then resumed. The wait is kept in the store (meta `ratelimit:<id>`), so a restarted supervisor keeps it.
 */

const META = 'ratelimit:';

/** A turn that failed on a limit, from a StopFailure hook payload. */
export interface LimitReport {
  /** `rate_limit`, `overloaded` or `server_error` (Claude Code's error types; the light runtime's the same). */
  kind: string;
  reason: string;
  /** When the API said the limit resets (epoch ms), if it did. */
  until: number | null;
}

interface Waiting {
  kind: string;
  reason: string;
  until: number | null;
  resumeAt: number;
  blockedAt: number;
}

/** StopFailure error types (and texts) worth waiting out; other failures (auth, bad request) are not. */
const RETRYABLE = new Set(['rate_limit', 'overloaded', 'server_error']);
const LIMIT_TEXT = /\b(429|529)\b|rate[ _-]?limit|too many requests|overloaded/i;

/** Reads a StopFailure payload: a rate limit, an overload or a server error, with the reset time if given. */
export function limitReport(payload: Record<string, unknown>, now = Date.now()): LimitReport | null {
  const error = typeof payload.error === 'string' ? payload.error : '';
  const details = typeof payload.error_details === 'string' ? payload.error_details : '';
  let kind: string | null = RETRYABLE.has(error) ? error : null;
  if (!kind && LIMIT_TEXT.test(`${error} ${details}`)) {
    kind = /overloaded|\b529\b/i.test(`${error} ${details}`) ? 'overloaded' : 'rate_limit';
  }
  if (!kind) return null;
  let until: number | null = null;
  const reset = payload.reset_at;
  if (typeof reset === 'number' && Number.isFinite(reset)) until = reset < 1e12 ? reset * 1000 : reset;
  else if (typeof reset === 'string' && Number.isFinite(Date.parse(reset))) until = Date.parse(reset);
  const after = payload.retry_after;
  if (until === null && typeof after === 'number' && Number.isFinite(after) && after >= 0) {
    until = now + after * 1000;
  }
  // Claude Code says when a usage limit resets only in its message text.
  const message = typeof payload.last_assistant_message === 'string' ? payload.last_assistant_message : '';
  until ??= resetFromText(`${details}\n${message}`, now);
  return { kind, reason: [error, details].filter(Boolean).join(': ') || kind, until };
}

/**
 * The reset time a limit message names, as epoch ms: Claude Code's "resets 3pm (Europe/Berlin)", "reset at
 * 5:30 pm", "resets 14:00", or its older "…limit reached|1732460400". A wall-clock time is the next one after
 * `now` in the named time zone (the supervisor's own without one). Null when the text names none.
 */
export function resetFromText(text: string, now = Date.now()): number | null {
  const epoch = /\|(\d{10})(?!\d)/.exec(text);
  if (epoch) return Number(epoch[1]) * 1000;
  const m =
    /\bresets?\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?(?:\s*\(([\w+-]+(?:\/[\w+-]+)*)\))?/i.exec(
      text,
    );
  if (!m) return null;
  let hour = Number(m[1]);
  const minute = Number(m[2] ?? 0);
  const half = m[3]?.toLowerCase().replace(/\./g, '');
  if (half) {
    if (hour < 1 || hour > 12) return null;
    hour = (hour % 12) + (half === 'pm' ? 12 : 0);
  } else if (m[2] === undefined || hour > 23) {
    return null; // "resets 3" is no time
  }
  if (minute > 59) return null;
  const zone = m[4];
  const offsetAt = (at: number): number => {
    try {
      return zoneOffsetMs(at, zone);
    } catch {
      return zoneOffsetMs(at, undefined); // an unknown zone name: the supervisor's own
    }
  };
  // The zone's calendar date now; that date at hour:minute, else the next day's.
  const wall = new Date(now + offsetAt(now));
  for (let day = 0; day <= 1; day++) {
    const asUtc = Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate() + day, hour, minute);
    const at = asUtc - offsetAt(asUtc);
    if (at > now) return at;
  }
  return null;
}

/** How far a time zone's wall clock is ahead of UTC at `at` (ms); the process's zone when none is named. */
function zoneOffsetMs(at: number, timeZone: string | undefined): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(at));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(at / 1000) * 1000;
}

export interface RateLimitsDeps {
  store: Store;
  config: Config;
  log: Logger;
  emit: (e: EventInput) => Promise<void>;
  /** Renews every lease and reservation the instance holds. */
  renewLeases: (id: string) => Promise<unknown>;
  /** The instance's current state (null once it is gone). */
  stateOf: (id: string) => Promise<string | null>;
  /** Moves the instance from blocked to idle and hands it a "continue" prompt; false if it was not blocked. */
  resume: (id: string, why: string) => Promise<boolean>;
}

export class RateLimits {
  private readonly waiting = new Map<string, Waiting & { timers: NodeJS.Timeout[] }>();
  private closed = false;

  constructor(private readonly deps: RateLimitsDeps) {}

  /** The instance was marked blocked for `report`: hold its leases and resume it at the reset time. */
  async block(id: string, report: LimitReport): Promise<number> {
    const now = Date.now();
    // A reset time in the past (clock skew) or absent: the configured wait.
    const resumeAt =
      report.until !== null && report.until > now ? report.until : now + this.deps.config.rateLimitWaitMs;
    const w: Waiting = {
      kind: report.kind,
      reason: report.reason,
      until: report.until,
      resumeAt,
      blockedAt: now,
    };
    await this.deps.store.meta.set(META + id, JSON.stringify(w));
    await this.deps.emit({
      kind: 'instance.blocked',
      actor: 'supervisor',
      instanceId: id,
      data: { kind: w.kind, reason: w.reason, until: w.until, resumeAt },
    });
    this.arm(id, w);
    return resumeAt;
  }

  /** When a waiting instance is resumed (epoch ms), or null. */
  blockedUntil(id: string): number | null {
    return this.waiting.get(id)?.resumeAt ?? null;
  }

  isWaiting(id: string): boolean {
    return this.waiting.has(id);
  }

  /** After a supervisor start: the waits of instances still blocked (an overdue one resumes at once). */
  async restore(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const raw = await this.deps.store.meta.get(META + id);
      if (!raw || raw === 'null') continue;
      this.arm(id, JSON.parse(raw) as Waiting);
    }
  }

  /** Forgets an instance's wait (it left the blocked state some other way). */
  async clear(id: string): Promise<void> {
    const w = this.waiting.get(id);
    if (!w) return;
    for (const t of w.timers) clearTimeout(t);
    this.waiting.delete(id);
    await this.deps.store.meta.set(META + id, 'null');
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiting.values()) for (const t of w.timers) clearTimeout(t);
    this.waiting.clear();
  }

  private arm(id: string, w: Waiting): void {
    if (this.closed) return;
    const old = this.waiting.get(id);
    for (const t of old?.timers ?? []) clearTimeout(t);
    const { log } = this.deps;
    // Leases are renewed well within their TTL while the agent cannot act.
    const every = Math.max(50, Math.min(this.deps.config.leaseTtlMs / 3, 10_000));
    const hold = setInterval(() => {
      void (async () => {
        if ((await this.deps.stateOf(id)) !== 'blocked') return this.clear(id);
        await this.deps.renewLeases(id);
      })().catch((err: unknown) => log.warn({ err, instance: id }, 'holding leases failed'));
    }, every);
    hold.unref();
    const wake = setTimeout(
      () => {
        void this.wake(id).catch((err: unknown) =>
          log.warn({ err, instance: id }, 'resume after a rate limit failed'),
        );
      },
      Math.max(0, w.resumeAt - Date.now()),
    );
    wake.unref();
    this.waiting.set(id, { ...w, timers: [hold, wake] });
    void this.deps
      .renewLeases(id)
      .catch((err: unknown) => log.warn({ err, instance: id }, 'holding leases failed'));
  }

  private async wake(id: string): Promise<void> {
    const w = this.waiting.get(id);
    if (!w || this.closed) return;
    await this.clear(id);
    const resumed = await this.deps.resume(
      id,
      w.until !== null
        ? 'the rate limit has reset'
        : `waited ${Math.round((w.resumeAt - w.blockedAt) / 1000)} s`,
    );
    if (!resumed) return;
    await this.deps.emit({
      kind: 'instance.resumed',
      actor: 'supervisor',
      instanceId: id,
      data: { blockedMs: Date.now() - w.blockedAt },
    });
  }
}
