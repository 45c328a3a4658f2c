/**
 * The floor of the knowledge-query figure: a bare FTS5 table, `fts5(key, value)` with the default tokenizer,
 * on a fresh file configured like the store, holding the same entries. No versions, runs, tags, paths,
 * weights or row decoding: just the full-text index answering the same MATCH.
 */
import { withBareSqlite } from './bus-baseline.js';
import { corpusEntries } from './knowledge-corpus.js';

export interface BareFts {
  /** Per insert of the first `timedInserts` rows (one row, one IMMEDIATE transaction, commit included), ms. */
  insertMs: number[];
  insertsPerSecond: number;
  /** Per query, ms. */
  queryMs: number[];
  /** How many rows each query matched (its words ORed), in query order. */
  matches: number[];
}

/** The MATCH expression the store builds for these words in `words` mode: any of them, each quoted. */
export function anyOf(words: readonly string[]): string {
  return words.map((w) => `"${w}"`).join(' OR ');
}

/**
 * Fills the table with `entries` corpus rows — the first `timedInserts` one transaction each (timed), the rest
 * in one transaction — then runs each query once after a warm-up of the first `warmUp`.
 */
export function bareFts5(
  entries: number,
  timedInserts: number,
  queries: readonly string[][],
  warmUp: number,
): BareFts {
  return withBareSqlite((db) => {
    db.exec('CREATE VIRTUAL TABLE t USING fts5(key, value)');
    const insert = db.prepare('INSERT INTO t (rowid, key, value) VALUES (?, ?, ?)');
    const one = db.transaction((rowid: number, key: string, value: string) => insert.run(rowid, key, value));
    const rows = corpusEntries(entries);
    const insertMs: number[] = [];
    const t0 = performance.now();
    for (let i = 1; i <= timedInserts; i++) {
      const e = rows.next().value!;
      const start = performance.now();
      one.immediate(i, e.key, e.value);
      insertMs.push(performance.now() - start);
    }
    const insertsPerSecond = timedInserts / ((performance.now() - t0) / 1000);
    db.transaction(() => {
      let i = timedInserts;
      for (const e of rows) insert.run(++i, e.key, e.value);
    }).immediate();

    const search = db.prepare('SELECT rowid FROM t WHERE t MATCH ? ORDER BY rank LIMIT 10');
    const count = db.prepare('SELECT COUNT(*) AS n FROM t WHERE t MATCH ?');
    for (const q of queries.slice(0, warmUp)) search.all(anyOf(q));
    const queryMs = queries.map((q) => {
      const match = anyOf(q);
      const start = performance.now();
      search.all(match);
      return performance.now() - start;
    });
    const matches = queries.map((q) => (count.get(anyOf(q)) as { n: number }).n);
    return { insertMs, insertsPerSecond, queryMs, matches };
  });
}
