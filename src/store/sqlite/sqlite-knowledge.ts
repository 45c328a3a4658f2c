import type Database from 'better-sqlite3';
import { TmuxClaudeError, globsOverlap, type Knowledge } from '../../core/index.js';
import type { KnowledgeHit, KnowledgeQuery, KnowledgeStore, NewKnowledge } from '../types.js';
// sqlite-store.ts imports this module too; the helpers are only called after both have loaded.
import { isUniqueViolation, whereClause, type Row } from './sqlite-store.js';

/**
 * bm25 weights in the index's column order (key, value, tags, paths): a word in the key says far more about an
 * entry than one mention in a long value.
 */
const RELEVANCE = 'bm25(knowledge_fts, 10, 1, 3, 2)';

/** Newest first, ties by id; {@link newestFirst} is the same order. */
const NEWEST_FIRST = 'ORDER BY created_at DESC, id';

function newestFirst(a: Knowledge, b: Knowledge): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const FTS_HINT = 'quote phrases with "…", use AND/OR/NOT and prefix*, or search plain words';

function rowToKnowledge(r: Row): Knowledge {
  return {
    id: r.id as string,
    runId: r.run_id as string,
    key: r.key as string,
    value: r.value as string,
    tags: JSON.parse(r.tags as string) as string[],
    paths: JSON.parse(r.paths as string) as string[],
    recordedBy: r.recorded_by as string,
    taskId: (r.task_id as string | null) ?? null,
    commit: (r.commit_sha as string | null) ?? null,
    branch: (r.branch as string | null) ?? null,
    version: r.version as number,
    createdAt: r.created_at as number,
  };
}

/**
 * The words of a free-text query: runs of letters, digits and underscores, lower-cased, each once. Runs with
 * no letter or digit (`___`) are dropped: the tokenizer would make nothing of them.
 */
function queryWords(text: string): string[] {
  const runs = text.toLowerCase().match(/[\p{L}\p{M}\p{N}_]+/gu) ?? [];
  return [...new Set(runs.filter((w) => /[\p{L}\p{N}]/u.test(w)))];
}

/**
 * An FTS5 expression matching entries with any of the words. Each word is an FTS5 string (it cannot hold a
 * `"`), so no user text is ever operator or syntax.
 */
function anyWord(words: readonly string[]): string {
  return words.map((w) => `"${w}"`).join(' OR ');
}

/** The MATCH expression of a query, or null when it has no text to match. */
function matchExpression(q: KnowledgeQuery): string | null {
  const text = q.text ?? '';
  if (q.syntax === 'fts') return text.trim() === '' ? null : text;
  const words = queryWords(text);
  return words.length === 0 ? null : anyWord(words);
}

/** Statements built per query shape (run or not, latest only or not, limited or not), compiled once. */
function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      if (cache.size >= 200) cache.clear();
      stmt = db.prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  };
}

/**
 * The SQLite knowledge store, on the store's database. `record` is one IMMEDIATE transaction (the version
 * number, the `latest` flag and the full-text index change together); a read sees one snapshot (its statements
 * run while the first is still open, so they share its read transaction).
 *
 * Choices the interface leaves open: `count` counts every stored version, history included (as many as
 * `list({ all: true })` can see); an empty `paths` filter is no filter, like an empty `tags` one; a duplicate
 * entry id is refused with CONFLICT.
 */
export function makeKnowledgeStore(db: Database.Database): KnowledgeStore {
  const prepared = statementCache(db);
  const insert = db.prepare(`INSERT INTO knowledge (id, run_id, key, value, tags, paths, recorded_by, task_id,
      commit_sha, branch, version, latest, created_at)
    VALUES (@id, @runId, @key, @value, @tagsJson, @pathsJson, @recordedBy, @taskId, @commit, @branch, @version, 1,
      @createdAt)`);
  const lastVersion = db.prepare('SELECT MAX(version) AS v FROM knowledge WHERE run_id = ? AND key = ?');
  const supersede = db.prepare('UPDATE knowledge SET latest = 0 WHERE run_id = ? AND key = ? AND latest = 1');
  const history = db.prepare('SELECT * FROM knowledge WHERE run_id = ? AND key = ? ORDER BY version');

  const record = db.transaction((e: NewKnowledge): Knowledge => {
    const last = (lastVersion.get(e.runId, e.key) as { v: number | null }).v ?? 0;
    const entry: Knowledge = { ...e, tags: [...e.tags], paths: [...e.paths], version: last + 1 };
    supersede.run(e.runId, e.key);
    try {
      insert.run({ ...entry, tagsJson: JSON.stringify(entry.tags), pathsJson: JSON.stringify(entry.paths) });
    } catch (err) {
      if (isUniqueViolation(err)) throw new TmuxClaudeError('CONFLICT', `knowledge entry ${e.id} exists`);
      throw err;
    }
    return entry;
  });

  // Matches by relevance alone, best first: the index ranks them without reading a row. Joining the rows
  // first would read every match's row (thousands for a common word) to keep ten.
  const byRelevance = db.prepare(`SELECT rowid AS seq, ${RELEVANCE} AS score FROM knowledge_fts
    WHERE knowledge_fts MATCH ? ORDER BY score`);

  /** Hits for a MATCH expression among the rows `where` selects that pass `passes`, best first. */
  const search = (
    match: string,
    where: { sql: string; values: unknown[] },
    passes: (e: Knowledge) => boolean,
    limit: number,
  ): KnowledgeHit[] => {
    const rowOf = prepared(`SELECT * FROM knowledge ${where.sql} AND seq = ?`);
    const found: Array<{ entry: Knowledge; score: number }> = [];
    for (const c of byRelevance.iterate(match) as Iterable<{ seq: number; score: number }>) {
      // Matches come best first: with `limit` found, only a tie with the last one found can still enter.
      if (found.length >= limit && c.score > found[limit - 1]!.score) break;
      const row = rowOf.get(...where.values, c.seq) as Row | undefined;
      const entry = row && rowToKnowledge(row);
      if (entry && passes(entry)) found.push({ entry, score: c.score });
    }
    return found
      .sort((a, b) => a.score - b.score || newestFirst(a.entry, b.entry))
      .slice(0, limit)
      .map(({ entry, score }) => ({ entry, relevance: -score }));
  };

  const query = (q: KnowledgeQuery): KnowledgeHit[] => {
    const limit = Math.max(0, Math.floor(q.limit));
    if (limit === 0) return [];
    const where = whereClause([
      ['run_id', q.runId],
      ['latest', q.latestOnly === false ? undefined : 1],
    ]);
    // Tags (a JSON list) and globs are filtered here, not in SQL.
    const tags = [...new Set(q.tags ?? [])];
    const globs = q.paths ?? [];
    const passes = (e: Knowledge): boolean =>
      tags.every((t) => e.tags.includes(t)) &&
      (globs.length === 0 || e.paths.some((p) => globs.some((g) => globsOverlap(g, p))));
    const match = matchExpression(q);
    if (match !== null) {
      try {
        return search(match, where, passes, limit);
      } catch (err) {
        // Every part of the statement but the caller's expression is ours: an SQL error is its syntax.
        if (q.syntax === 'fts' && (err as { code?: string }).code === 'SQLITE_ERROR') {
          throw new TmuxClaudeError(
            'INVALID_ARGUMENT',
            `knowledge query syntax error: ${(err as Error).message} in ${match}`,
            { hint: FTS_HINT },
          );
        }
        throw err;
      }
    }
    // Without filters SQL applies the limit; with them rows are read lazily until `limit` pass.
    const filtered = tags.length > 0 || globs.length > 0;
    const newest = prepared(
      `SELECT * FROM knowledge ${where.sql} ${NEWEST_FIRST} ${filtered ? '' : 'LIMIT ?'}`,
    );
    const hits: KnowledgeHit[] = [];
    for (const row of newest.iterate(...where.values, ...(filtered ? [] : [limit])) as Iterable<Row>) {
      const entry = rowToKnowledge(row);
      if (!passes(entry)) continue;
      hits.push({ entry, relevance: 0 });
      if (hits.length === limit) break;
    }
    return hits;
  };

  return {
    record: async (entry) => record.immediate(entry),
    query: async (q) => query(q),
    history: async (runId, key) => (history.all(runId, key) as Row[]).map(rowToKnowledge),
    list: async ({ runId, all, limit }) => {
      const { sql, values } = whereClause([
        ['run_id', runId],
        ['latest', all ? undefined : 1],
      ]);
      const rows = prepared(`SELECT * FROM knowledge ${sql} ${NEWEST_FIRST} LIMIT ?`).all(
        ...values,
        Math.max(0, Math.floor(limit)),
      ) as Row[];
      return rows.map(rowToKnowledge);
    },
    count: async (runId) => {
      const { sql, values } = whereClause([['run_id', runId]]);
      return (prepared(`SELECT COUNT(*) AS n FROM knowledge ${sql}`).get(...values) as { n: number }).n;
    },
  };
}
