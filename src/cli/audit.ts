import { open } from 'node:fs/promises';
import { TmuxClaudeError, type AuditEvent, type VerifyReport } from '../core/index.js';
import type { ApiClient } from './client.js';

/** Where `log --since` starts: after a sequence number, or at a time (epoch ms). */
export type SinceCursor = { afterSeq: number } | { sinceTs: number };

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses `log --since`: a sequence number (`120`: events after #120), a relative time (`30s`, `10m`, `2h`, `1d`,
 * `1w`: events of that last stretch) or an ISO date or date-time (`2024-05-01`, `2024-05-01T13:00`,
 * `2024-05-01 13:00:00Z`), local time unless it names a zone. Throws INVALID_ARGUMENT for anything else.
 */
export function parseSince(text: string, now = Date.now()): SinceCursor {
  const s = text.trim();
  if (/^\d+$/.test(s)) return { afterSeq: Number(s) };
  const relative = /^(\d+)([smhdw])$/.exec(s);
  if (relative) return { sinceTs: now - Number(relative[1]) * UNIT_MS[relative[2]!]! };
  if (ISO_DATE.test(s) || ISO_DATE_TIME.test(s)) {
    const ts = Date.parse(ISO_DATE.test(s) ? `${s}T00:00` : s.replace(' ', 'T'));
    if (Number.isFinite(ts)) return { sinceTs: ts };
  }
  throw new TmuxClaudeError(
    'INVALID_ARGUMENT',
    `--since ${JSON.stringify(text)} is not a sequence number or a time`,
    {
      hint: 'give an event number (120), a relative time (30s, 10m, 2h, 1d, 1w) or an ISO date/time (2024-05-01, 2024-05-01T13:00)',
    },
  );
}

/**
 * The audit trail's events from the supervisor, oldest first, a page (up to 1000) at a time; with `follow` it
 * never ends, waiting for new events.
 */
export async function* auditEvents(
  client: ApiClient,
  opts: { since: SinceCursor; instance?: string | undefined; follow?: boolean | undefined },
): AsyncGenerator<AuditEvent> {
  let after = 'afterSeq' in opts.since ? opts.since.afterSeq : 0;
  const fixed = {
    ...('sinceTs' in opts.since ? { since_ts: String(opts.since.sinceTs) } : {}),
    ...(opts.instance ? { instance: opts.instance } : {}),
    ...(opts.follow ? { wait: '30' } : {}),
  };
  for (;;) {
    const query = new URLSearchParams({ after: String(after), ...fixed });
    const events = await client.request<AuditEvent[]>('GET', `/events?${query.toString()}`);
    for (const e of events) {
      after = e.seq;
      yield e;
    }
    if (!opts.follow && events.length < 1000) return;
  }
}

/** Lines written to a file or stdout in large chunks, waiting for each write (memory stays at one chunk). */
export interface LineSink {
  write(line: string): Promise<void>;
  /** Flushes and closes (stdout is flushed, not closed). */
  close(): Promise<void>;
}

/** A sink for `target`: a file path (created or truncated), or `-` for stdout. Throws INVALID_ARGUMENT when the file cannot be opened. */
export async function openLineSink(target: string, chunkBytes = 1 << 20): Promise<LineSink> {
  let write: (chunk: string) => Promise<void>;
  let close: () => Promise<void>;
  if (target === '-') {
    write = (chunk) =>
      new Promise((resolve, reject) => process.stdout.write(chunk, (err) => (err ? reject(err) : resolve())));
    close = async () => undefined;
  } else {
    const file = await open(target, 'w').catch((err: unknown) => {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `cannot write ${target}: ${(err as Error).message}`, {
        cause: err,
      });
    });
    write = async (chunk) => void (await file.write(chunk));
    close = () => file.close();
  }
  let buffer: string[] = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    if (buffer.length === 0) return;
    const chunk = buffer.join('');
    buffer = [];
    size = 0;
    await write(chunk);
  };
  return {
    write: async (line) => {
      buffer.push(`${line}\n`);
      size += line.length + 1;
      if (size >= chunkBytes) await flush();
    },
    close: async () => {
      await flush();
      await close();
    },
  };
}

/** The line `log --verify` prints for an intact trail. */
export function intactLine(report: Extract<VerifyReport, { ok: true }>): string {
  return `audit trail intact: ${report.events} events, head #${report.head.seq} ${report.head.hash.slice(0, 16)}`;
}

/**
 * The error `log --verify` exits with for a broken trail: CONFLICT (exit 5), as the store contradicts its own
 * record of what happened.
 */
export function brokenError(report: Extract<VerifyReport, { ok: false }>): TmuxClaudeError {
  const { seq, kind, detail } = report.problem;
  return new TmuxClaudeError('CONFLICT', `audit trail BROKEN at event #${seq}: ${kind} (${detail})`, {
    hint: `${report.events} events before it check out; the store was changed outside tmux-claude — compare with an earlier \`tmux-claude log --export\``,
  });
}
