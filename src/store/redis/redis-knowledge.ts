import type { Redis } from 'ioredis';
import { TmuxClaudeError, globsOverlap, type Knowledge } from '../../core/index.js';
import type { KnowledgeHit, KnowledgeQuery, KnowledgeStore } from '../types.js';
import {
  bm25,
  evaluate,
  idf,
  indexDocument,
  parseFtsQuery,
  phraseFrequencies,
  phrasesOf,
  positivePhrases,
  wordsQuery,
  type Phrase,
  type QueryNode,
} from './fts.js';
import { defineScript, hgetallMany, num, pair, sortable, strOrNull } from './redis-common.js';

/*
 * Knowledge on Redis, with full-text search that needs no module.
 *
 * Keys (after the prefix): `kn:ID` a hash per entry (plus `latest` 1/0, `rank`, `len` its length in tokens);
 * `kn-ver:RUN` a hash key → last version; `kn-latest-id:RUN` key → id of the newest version;
 * `kn-hist:[RUN,KEY]` versions → ids; lexicographic sorted sets of rank members (`inverted createdAt|id`, so
 * that ascending order is newest first, ties by id): `kn-run:RUN`, `kn-latest:RUN`, `kn-all`, `kn-latest-all`.
 * The inverted index: `kn-post:[RUN,TERM]` a hash entry id → "k,v,t,p" (the term's count per column),
 * `kn-terms:RUN` the run's terms (a lexicographic sorted set, for prefix queries), `kn-df` term → number of
 * entries holding it (in every run, like FTS5's statistics), `kn-stats` entries and tokens in all.
 *
 * A query reads the postings of its terms in the run, evaluates the expression in JS (phrases of several tokens
 * are checked on the entries' text), filters, and ranks by FTS5's bm25 formula. The one approximation: the
 * number of entries holding a phrase of several tokens or a prefix, which FTS5 counts exactly for the idf, is
 * estimated from its terms' counts (an upper bound); single words, the common case, are exact.
 */

/** ARGV: P, id, runId, key, histKey, rank, length, nFields, fields…, then per term: term, postingKey, counts. */
const RECORD = `
local id, runId, key, histKey, rank, len = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local ekey = P .. 'kn:' .. id
if redis.call('EXISTS', ekey) == 1 then return {'conflict'} end
local version = redis.call('HINCRBY', P .. 'kn-ver:' .. runId, key, 1)
local prev = redis.call('HGET', P .. 'kn-latest-id:' .. runId, key)
if prev then
  local prevRank = redis.call('HGET', P .. 'kn:' .. prev, 'rank')
  redis.call('HSET', P .. 'kn:' .. prev, 'latest', 0)
  if prevRank then
    redis.call('ZREM', P .. 'kn-latest:' .. runId, prevRank)
    redis.call('ZREM', P .. 'kn-latest-all', prevRank)
  end
end
local nf = tonumber(ARGV[8])
redis.call('HSET', ekey, unpack(ARGV, 9, 8 + nf))
redis.call('HSET', ekey, 'version', version, 'latest', 1, 'rank', rank, 'len', len)
redis.call('HSET', P .. 'kn-latest-id:' .. runId, key, id)
redis.call('ZADD', P .. 'kn-run:' .. runId, 0, rank)
redis.call('ZADD', P .. 'kn-all', 0, rank)
redis.call('ZADD', P .. 'kn-latest:' .. runId, 0, rank)
redis.call('ZADD', P .. 'kn-latest-all', 0, rank)
redis.call('ZADD', histKey, version, id)
for i = 9 + nf, #ARGV, 3 do
  redis.call('HSET', ARGV[i + 1], id, ARGV[i + 2])
  redis.call('HINCRBY', P .. 'kn-df', ARGV[i], 1)
  redis.call('ZADD', P .. 'kn-terms:' .. runId, 0, ARGV[i])
end
redis.call('HINCRBY', P .. 'kn-stats', 'entries', 1)
redis.call('HINCRBY', P .. 'kn-stats', 'tokens', len)
return {'ok', version}
`;

function toKnowledge(h: Record<string, string>): Knowledge {
  return {
    id: h.id!,
    runId: h.runId!,
    key: h.key!,
    value: h.value!,
    tags: JSON.parse(h.tags!) as string[],
    paths: JSON.parse(h.paths!) as string[],
    recordedBy: h.recordedBy!,
    taskId: strOrNull(h.taskId),
    commit: strOrNull(h.commit),
    branch: strOrNull(h.branch),
    version: num(h.version),
    createdAt: num(h.createdAt),
  };
}

function newestFirst(a: Knowledge, b: Knowledge): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The rank member: ascending lexicographic order is newest first, ties by id. */
function rankOf(createdAt: number, id: string): string {
  return `${sortable(Number.MAX_SAFE_INTEGER - createdAt)}|${id}`;
}
const idOfRank = (member: string): string => member.slice(member.indexOf('|') + 1);

/** The text of the indexed columns, as FTS5 sees them (tags and paths as their JSON text). */
const columnsOf = (e: Pick<Knowledge, 'key' | 'value' | 'tags' | 'paths'>): string[] => [
  e.key,
  e.value,
  JSON.stringify(e.tags),
  JSON.stringify(e.paths),
];

const PAGE = 200;

export function makeRedisKnowledgeStore(redis: Redis, prefix: string): KnowledgeStore {
  const P = prefix;
  const record = defineScript(redis, RECORD);
  const postingKey = (runId: string, term: string) => `${P}kn-post:${pair(runId, term)}`;

  const entriesById = async (ids: readonly string[]): Promise<Knowledge[]> =>
    (
      await hgetallMany(
        redis,
        ids.map((id) => `${P}kn:${id}`),
      )
    )
      .filter((h) => h.id !== undefined)
      .map(toKnowledge);
  const latestFlags = async (ids: readonly string[]): Promise<Map<string, boolean>> => {
    if (ids.length === 0) return new Map();
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hget(`${P}kn:${id}`, 'latest');
    const flags = ((await pipeline.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v === '1';
    });
    return new Map(ids.map((id, i) => [id, flags[i]!]));
  };

  /** The terms a phrase token stands for: itself, or every term of the run it is a prefix of. */
  const termsOf = (phrase: Phrase, i: number): string =>
    `${phrase.prefix && i === phrase.tokens.length - 1 ? '*' : '='}${phrase.tokens[i]}`;

  /**
   * Reads what a query needs in three round trips: the run's terms each prefix stands for, then the postings
   * and the entry counts (every run, as FTS5 counts) of every term. Per phrase token (see termsOf): entry id →
   * counts per column, and the number of entries holding it.
   */
  const gather = async (
    runId: string,
    phrases: readonly Phrase[],
  ): Promise<Map<string, { postings: Map<string, number[]>; entries: number }>> => {
    const tokens = new Set<string>();
    phrases.forEach((p) => p.tokens.forEach((_, i) => tokens.add(termsOf(p, i))));
    const expanded = new Map<string, string[]>();
    const prefixes = [...tokens].filter((t) => t.startsWith('*'));
    if (prefixes.length > 0) {
      const pipeline = redis.pipeline();
      for (const t of prefixes) {
        const head = t.slice(1);
        // Every term starting with the prefix: from [prefix to [prefix + 0xff (a byte no UTF-8 text holds).
        pipeline.zrangebylex(
          `${P}kn-terms:${runId}`,
          `[${head}`,
          Buffer.concat([Buffer.from(`[${head}`), Buffer.from([0xff])]),
        );
      }
      ((await pipeline.exec()) ?? []).forEach(([err, terms], i) => {
        if (err) throw err;
        expanded.set(prefixes[i]!, terms as string[]);
      });
    }
    for (const t of tokens) if (t.startsWith('=')) expanded.set(t, [t.slice(1)]);
    const terms = [...new Set([...expanded.values()].flat())];
    const postings = new Map<string, Record<string, string>>();
    const frequency = new Map<string, number>();
    if (terms.length > 0) {
      const pipeline = redis.pipeline();
      for (const term of terms) pipeline.hgetall(postingKey(runId, term));
      pipeline.hmget(`${P}kn-df`, ...terms);
      const replies = (await pipeline.exec()) ?? [];
      replies.forEach(([err, reply], i) => {
        if (err) throw err;
        if (i < terms.length) postings.set(terms[i]!, reply as Record<string, string>);
        else (reply as Array<string | null>).forEach((n, j) => frequency.set(terms[j]!, Number(n ?? 0)));
      });
    }
    const out = new Map<string, { postings: Map<string, number[]>; entries: number }>();
    for (const [token, ts] of expanded) {
      const merged = new Map<string, number[]>();
      let entries = 0;
      for (const term of ts) {
        entries += frequency.get(term) ?? 0;
        for (const [id, counts] of Object.entries(postings.get(term) ?? {})) {
          const tf = counts.split(',').map(Number);
          const had = merged.get(id);
          merged.set(id, had ? had.map((n, c) => n + tf[c]!) : tf);
        }
      }
      out.set(token, { postings: merged, entries });
    }
    return out;
  };

  const search = async (
    q: KnowledgeQuery,
    tree: QueryNode,
    passes: (e: Knowledge) => boolean,
    limit: number,
  ): Promise<KnowledgeHit[]> => {
    const phrases = phrasesOf(tree);
    const gathered = await gather(q.runId, phrases);
    const postings = new Map<Phrase, Array<Map<string, number[]>>>(
      phrases.map((p) => [p, p.tokens.map((_, i) => gathered.get(termsOf(p, i))!.postings)]),
    );
    // Candidates: entries holding every term of some phrase that can make an entry match.
    const candidates = new Set<string>();
    for (const p of positivePhrases(tree)) {
      const lists = postings.get(p)!;
      if (lists.length === 0) continue;
      for (const id of lists[0]!.keys()) if (lists.every((m) => m.has(id))) candidates.add(id);
    }
    if (candidates.size === 0) return [];
    let ids = [...candidates];
    if (q.latestOnly !== false) {
      const latest = await latestFlags(ids);
      ids = ids.filter((id) => latest.get(id));
    }
    const stats = await redis.hmget(`${P}kn-stats`, 'entries', 'tokens');
    const total = Number(stats[0] ?? 0);
    const avgLength = total === 0 ? 1 : Number(stats[1] ?? 0) / total;
    const idfs = phrases.map((p) =>
      p.tokens.length === 0
        ? 1e-6
        : idf(total, Math.min(total, ...p.tokens.map((_, i) => gathered.get(termsOf(p, i))!.entries))),
    );
    const hits: Array<{ entry: Knowledge; score: number }> = [];
    for (let i = 0; i < ids.length; i += PAGE) {
      const page = await hgetallMany(
        redis,
        ids.slice(i, i + PAGE).map((id) => `${P}kn:${id}`),
      );
      for (const h of page) {
        if (h.id === undefined) continue;
        const entry = toKnowledge(h);
        if (!passes(entry)) continue;
        const columns = columnsOf(entry);
        const frequencies = phrases.map((p) => {
          const lists = postings.get(p)!;
          if (lists.length === 0 || !lists.every((m) => m.has(entry.id))) return [0, 0, 0, 0];
          // One word anywhere: the postings' counts; otherwise (a phrase, a column filter) the text decides.
          if (p.tokens.length === 1 && p.columns === null) return lists[0]!.get(entry.id)!;
          return phraseFrequencies(p, columns);
        });
        const holds = new Map(phrases.map((p, k) => [p, frequencies[k]!.some((n) => n > 0)]));
        if (!evaluate(tree, (p) => holds.get(p) === true)) continue;
        hits.push({ entry, score: bm25(frequencies, idfs, num(h.len), avgLength) });
      }
    }
    return hits
      .sort((a, b) => b.score - a.score || newestFirst(a.entry, b.entry))
      .slice(0, limit)
      .map(({ entry, score }) => ({ entry, relevance: score }));
  };

  /** Entries in rank order (newest first) from one rank index, filtered, until `limit` pass. */
  const newest = async (
    index: string,
    passes: (e: Knowledge) => boolean,
    limit: number,
  ): Promise<Knowledge[]> => {
    const out: Knowledge[] = [];
    for (let offset = 0; out.length < limit; offset += PAGE) {
      const members = await redis.zrangebylex(index, '-', '+', 'LIMIT', offset, PAGE);
      for (const entry of await entriesById(members.map(idOfRank))) {
        if (passes(entry)) out.push(entry);
        if (out.length >= limit) break;
      }
      if (members.length < PAGE) break;
    }
    return out;
  };

  return {
    record: async (e) => {
      const entry = { ...e, tags: [...e.tags], paths: [...e.paths] };
      const { terms, length } = indexDocument(columnsOf(entry));
      const fields = [
        'id',
        e.id,
        'runId',
        e.runId,
        'key',
        e.key,
        'value',
        e.value,
        'tags',
        JSON.stringify(entry.tags),
        'paths',
        JSON.stringify(entry.paths),
        'recordedBy',
        e.recordedBy,
        'createdAt',
        String(e.createdAt),
        ...(e.taskId === null ? [] : ['taskId', e.taskId]),
        ...(e.commit === null ? [] : ['commit', e.commit]),
        ...(e.branch === null ? [] : ['branch', e.branch]),
      ];
      const postings: string[] = [];
      for (const [term, tf] of terms) postings.push(term, postingKey(e.runId, term), tf.join(','));
      const out = (await record(
        P,
        e.id,
        e.runId,
        e.key,
        `${P}kn-hist:${pair(e.runId, e.key)}`,
        rankOf(e.createdAt, e.id),
        String(length),
        fields.length,
        ...fields,
        ...postings,
      )) as [string, number?];
      if (out[0] === 'conflict') throw new TmuxClaudeError('CONFLICT', `knowledge entry ${e.id} exists`);
      return { ...entry, version: Number(out[1]) };
    },
    query: async (q) => {
      const limit = Math.max(0, Math.floor(q.limit));
      if (limit === 0) return [];
      const tags = [...new Set(q.tags ?? [])];
      const globs = q.paths ?? [];
      const passes = (e: Knowledge): boolean =>
        e.runId === q.runId &&
        tags.every((t) => e.tags.includes(t)) &&
        (globs.length === 0 || e.paths.some((p) => globs.some((g) => globsOverlap(g, p))));
      const text = q.text ?? '';
      const tree = q.syntax === 'fts' ? (text.trim() === '' ? null : parseFtsQuery(text)) : wordsQuery(text);
      if (tree !== null) return search(q, tree, passes, limit);
      const index = q.latestOnly === false ? `${P}kn-run:${q.runId}` : `${P}kn-latest:${q.runId}`;
      return (await newest(index, passes, limit)).map((entry) => ({ entry, relevance: 0 }));
    },
    history: async (runId, key) => entriesById(await redis.zrange(`${P}kn-hist:${pair(runId, key)}`, 0, -1)),
    list: async ({ runId, all, limit }) => {
      const n = Math.max(0, Math.floor(limit));
      if (n === 0) return [];
      const index =
        runId === undefined
          ? `${P}${all ? 'kn-all' : 'kn-latest-all'}`
          : `${P}${all ? 'kn-run' : 'kn-latest'}:${runId}`;
      const members = await redis.zrangebylex(index, '-', '+', 'LIMIT', 0, n);
      return entriesById(members.map(idOfRank));
    },
    count: async (runId) => redis.zcard(runId === undefined ? `${P}kn-all` : `${P}kn-run:${runId}`),
  };
}
