import { createHash } from 'node:crypto';
import type { VerifyReport } from '../core/index.js';

/**
 * The audit trail's hash chain, shared by every backend. Each event's hash covers the previous event's hash and
 * the event's own fields, so editing an event changes its hash, and removing one leaves a gap in the sequence
 * numbers and a link that no longer matches. A head record (the newest event's seq and hash, kept by the
 * backend next to the events and updated with every append) makes removing the newest events detectable too.
 *
 * What it detects: edits and deletions made outside tmux-claude (a hand-edited store, a partial restore, a
 * truncated copy). What it does not: someone who rewrites every later hash and the head record too — the
 * algorithm is public and there is no secret. To catch that, keep the head hash `log --verify` prints (or an
 * export) elsewhere and compare.
 */

/** The prevHash of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** The newest event of a chain: what the head record holds. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** An event as stored. `data` is the stored JSON text: hashing that, not a re-serialisation, keeps hashes stable. */
export interface StoredEvent {
  seq: number;
  ts: number;
  kind: string;
  actor: string;
  instanceId: string | null;
  data: string;
  /** Null only for a row written outside tmux-claude. */
  prevHash: string | null;
  hash: string | null;
}

/**
 * hex sha256(prevHash + '\n' + JSON.stringify([seq, ts, kind, actor, instanceId, data])), with `data` the
 * stored JSON text.
 */
export function eventHash(prevHash: string, e: Omit<StoredEvent, 'prevHash' | 'hash'>): string {
  return createHash('sha256')
    .update(`${prevHash}\n${JSON.stringify([e.seq, e.ts, e.kind, e.actor, e.instanceId, e.data])}`)
    .digest('hex');
}

/** Events in seq order after a cursor, and the head record as it stood when they were read (one snapshot). */
export interface ChainPage {
  events: StoredEvent[];
  /** Null when the backend has no head record. */
  head: ChainHead | null;
}

/** Reads up to `limit` events with seq > `afterSeq`, in seq order, with the head record of the same snapshot. */
export type ChainPageReader = (afterSeq: number, limit: number) => ChainPage | Promise<ChainPage>;

const short = (hash: string | null): string => (hash === null ? 'none' : hash.slice(0, 12));

/**
 * Walks the whole chain page by page (memory stays at one page, however long the log), yielding to the event
 * loop between pages. Checks that sequence numbers rise by exactly one from 1 (a gap is a deleted event: the
 * backends never reuse one), that each hash matches the event's fields, that each prevHash is the previous
 * event's hash, and that the head record names the last event. Reports the first problem found.
 */
export async function verifyChain(readPage: ChainPageReader, pageSize = 1000): Promise<VerifyReport> {
  let prev: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let checked = 0;
  const broken = (
    seq: number,
    kind: Extract<VerifyReport, { ok: false }>['problem']['kind'],
    detail: string,
  ): VerifyReport => ({ ok: false, events: checked, problem: { seq, kind, detail } });
  for (;;) {
    const { events, head } = await readPage(prev.seq, pageSize);
    for (const e of events) {
      const expected = prev.seq + 1;
      if (e.seq !== expected) {
        const missing =
          e.seq === expected + 1 ? `event #${expected} is` : `events #${expected}–#${e.seq - 1} are`;
        return broken(expected, 'deleted', `${missing} missing`);
      }
      if (e.hash === null || e.prevHash === null) {
        return broken(e.seq, 'edited', 'it has no hash: it was written outside tmux-claude');
      }
      if (eventHash(e.prevHash, e) !== e.hash) {
        return broken(e.seq, 'edited', `its fields no longer match its hash ${short(e.hash)}`);
      }
      if (e.prevHash !== prev.hash) {
        const before =
          prev.seq === 0 ? 'the genesis hash' : `the hash of event #${prev.seq} (${short(prev.hash)})`;
        return broken(e.seq, 'broken-link', `its prevHash ${short(e.prevHash)} is not ${before}`);
      }
      prev = { seq: e.seq, hash: e.hash };
      checked += 1;
    }
    if (events.length >= pageSize) {
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    if (head === null) return broken(prev.seq, 'head-mismatch', 'the head record is missing');
    if (head.seq > prev.seq) {
      return broken(
        prev.seq + 1,
        'head-mismatch',
        `the head record names event #${head.seq} but the log ends at #${prev.seq}: the newest events are missing`,
      );
    }
    if (head.seq < prev.seq) {
      return broken(
        head.seq + 1,
        'head-mismatch',
        `the head record names event #${head.seq} but the log goes on to #${prev.seq}: events were added outside tmux-claude`,
      );
    }
    if (head.hash !== prev.hash) {
      return broken(
        prev.seq,
        'head-mismatch',
        `the head record's hash ${short(head.hash)} is not event #${prev.seq}'s (${short(prev.hash)})`,
      );
    }
    return { ok: true, events: checked, head: prev };
  }
}
