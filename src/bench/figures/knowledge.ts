/**
 * Figure 9: shared knowledge on the SQLite store — `knowledge.query` latency over a large knowledge base and
 * `knowledge.record` throughput, each beside a bare FTS5 table holding the same text, in the same run. In
 * process, on a fresh store file: no supervisor, tmux or agent takes part (nor competes for the CPU).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../store/index.js';
import type { Cleanup } from '../cleanup.js';
import { bareFts5 } from '../knowledge-baseline.js';
import { corpusEntries, corpusQueries } from '../knowledge-corpus.js';
import { median, quantile } from '../stats.js';
import { MB, row, type Figure } from '../types.js';

export interface KnowledgePlan {
  /** Entries in the knowledge base (and rows in the bare table). */
  entries: number;
  /** The first entries, recorded (and bare-inserted) one at a time, are timed. */
  timedRecords: number;
  /** Timed queries of 2–3 words, the same on both sides. */
  queries: number;
}

/** Untimed queries first on each side: JIT, prepared statements, page cache. */
const WARM_UP = 20;
const LIMIT = 10;
const RUN = 'run-bench-knowledge';
/** Creation times one ms apart from here. */
const T0 = 1_700_000_000_000;

interface StoreSide {
  recordMs: number[];
  recordsPerSecond: number;
  fillS: number;
  queryMs: number[];
  hits: number[];
  latest: number;
}

/** Records every entry through `knowledge.record` (the first `timedRecords` timed), then runs the queries. */
async function storeSide(
  plan: KnowledgePlan,
  queries: readonly string[][],
  file: string,
): Promise<StoreSide> {
  const store = new SqliteStore(file);
  try {
    const recordMs: number[] = [];
    let recordsPerSecond = 0;
    const t0 = performance.now();
    let i = 0;
    for (const e of corpusEntries(plan.entries)) {
      const start = performance.now();
      await store.knowledge.record({
        ...e,
        id: `kn-${i}`,
        runId: RUN,
        recordedBy: 'bench',
        taskId: null,
        commit: null,
        branch: null,
        createdAt: T0 + i,
      });
      i += 1;
      if (i > plan.timedRecords) continue;
      recordMs.push(performance.now() - start);
      if (i === plan.timedRecords) recordsPerSecond = i / ((performance.now() - t0) / 1000);
    }
    const fillS = (performance.now() - t0) / 1000;
    const latest = (await store.knowledge.list({ runId: RUN, limit: plan.entries })).length;

    const search = (words: readonly string[]) =>
      store.knowledge.query({ runId: RUN, text: words.join(' '), limit: LIMIT });
    for (const q of queries.slice(0, WARM_UP)) await search(q);
    const queryMs: number[] = [];
    const hits: number[] = [];
    for (const q of queries) {
      const start = performance.now();
      const found = await search(q);
      queryMs.push(performance.now() - start);
      hits.push(found.length);
    }
    return { recordMs, recordsPerSecond, fillS, queryMs, hits, latest };
  } finally {
    await store.close();
  }
}

export async function knowledgeFigure(
  plan: KnowledgePlan,
  progress: (line: string) => void,
  cleanup: Cleanup,
): Promise<{ figure: Figure }> {
  const queries = corpusQueries(plan.queries);
  progress(`fig 9: bare FTS5 table: ${plan.entries} rows, ${plan.queries} queries`);
  const bare = bareFts5(plan.entries, plan.timedRecords, queries, WARM_UP);

  const dir = mkdtempSync(join(tmpdir(), 'tc-bench-knowledge-'));
  const removeDir = cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  let s: StoreSide;
  let fileMB: number;
  try {
    progress(`fig 9: knowledge store: recording ${plan.entries} entries, then ${plan.queries} queries`);
    const file = join(dir, 'store.db');
    s = await storeSide(plan, queries, file);
    // Closed: the WAL is checkpointed into the file.
    fileMB = statSync(file).size / MB;
  } finally {
    await removeDir();
  }

  const queryP50 = median(bare.queryMs);
  const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  const short = s.hits.filter((n) => n < LIMIT).length;
  progress('fig 9: done');
  return {
    figure: {
      id: 'knowledge',
      title: '9. Shared knowledge: full-text query and record on the SQLite store',
      method:
        `A fresh SqliteStore file in the benchmark process (no supervisor, tmux or agents running). ` +
        `${plan.entries} entries are recorded one \`knowledge.record\` (one IMMEDIATE transaction) after another ` +
        'into one run; the first ' +
        `${plan.timedRecords} are timed. The text is generated deterministically: 20–80 words of prose per ` +
        'entry over a 4,000-word vocabulary with Zipf-like frequencies (some words in most entries, most rare), ' +
        'a few paths and identifiers in it, keys `module.<name>.<aspect>` (2,000 names × 20 aspects, so some ' +
        `keys get several versions), 0–3 tags, 0–1 path globs. Then ${plan.queries} queries (after ${WARM_UP} ` +
        `warm-ups) \`knowledge.query {text: <2–3 words>, limit: ${LIMIT}}\` (words mode: any of the words, ` +
        'bm25 weighted towards the key, latest version of each key only), the words drawn like the prose but ' +
        'past its most common ones; timed around the awaited call, rows decoded to entries included.',
      baseline:
        `A bare \`fts5(key, value)\` table (default tokenizer) on a fresh better-sqlite3 file with the store’s ` +
        `settings (WAL, synchronous = NORMAL) holding the same keys and values: the first ${plan.timedRecords} ` +
        'inserted one IMMEDIATE transaction each (timed), the rest in one transaction; queried with ' +
        `\`SELECT rowid FROM t WHERE t MATCH ? ORDER BY rank LIMIT ${LIMIT}\` and the same words ORed ` +
        '(the expression the store builds). No versions, runs, tags, paths, column weights or row decoding.',
      rows: [
        row(`knowledge.query, 2–3 words, limit ${LIMIT}`, 'ms', s.queryMs, {
          label: 'bare FTS5 MATCH … ORDER BY rank',
          value: queryP50,
        }),
        row('knowledge.record, one entry', 'ms', s.recordMs, {
          label: 'bare FTS5 insert',
          value: median(bare.insertMs),
        }),
        row(
          `knowledge.record throughput, first ${plan.timedRecords} entries`,
          'rows/s',
          [s.recordsPerSecond],
          {
            label: 'bare FTS5 inserts',
            value: bare.insertsPerSecond,
          },
        ),
        row('baseline: bare FTS5 MATCH … ORDER BY rank LIMIT 10', 'ms', bare.queryMs),
        row('baseline: bare FTS5 insert, one row per transaction', 'ms', bare.insertMs),
      ],
      notes: [
        `Query p99 ${quantile(s.queryMs, 0.99).toFixed(1)} ms against the bare ` +
          `${quantile(bare.queryMs, 0.99).toFixed(1)} ms (${x(quantile(s.queryMs, 0.99), quantile(bare.queryMs, 0.99))}). ` +
          `The words of a query matched a median of ${median(bare.matches).toFixed(0)} rows of the bare table ` +
          `(p99 ${quantile(bare.matches, 0.99).toFixed(0)}, max ${Math.max(...bare.matches)}); ` +
          `${short} of ${s.hits.length} store queries returned fewer than ${LIMIT} hits.`,
        `Recording all ${plan.entries} entries took ${s.fillS.toFixed(1)} s ` +
          `(${(plan.entries / s.fillS).toFixed(0)} entries/s overall); ${s.latest} of them are the latest ` +
          `version of their key. Store file ${fileMB.toFixed(0)} MB.`,
      ],
    },
  };
}
