import { stemmer } from 'stemmer';
import { TmuxClaudeError } from '../../core/index.js';

/*
 * Full-text search for the Redis knowledge store, on plain Redis (no modules): the tokenizer, the query
 * language and the ranking, in the shape of the SQLite store's FTS5 table (`porter unicode61
 * remove_diacritics 2` over key, value, tags and paths, ranked by bm25 with weights 10, 1, 3, 2) so both
 * backends find and order the same entries.
 */

/** The indexed columns, in FTS5's order, and their bm25 weights. */
export const COLUMNS = ['key', 'value', 'tags', 'paths'] as const;
export const WEIGHTS = [10, 1, 3, 2] as const;

/** FTS5's porter tokenizer leaves tokens shorter than 3 or longer than 64 bytes as they are. */
const MAX_STEM_BYTES = 64;

/**
 * Tokens as unicode61 + remove_diacritics + porter make them: runs of letters, digits (and marks, private use),
 * lower-cased, diacritics removed ("café" → "cafe"), English suffixes stemmed ("retries" → "retri").
 */
export function tokenize(text: string): string[] {
  const runs = text.normalize('NFD').match(/[\p{L}\p{N}\p{M}\p{Co}]+/gu) ?? [];
  const out: string[] = [];
  for (const run of runs) {
    const token = run.replace(/\p{M}+/gu, '').toLowerCase();
    if (token === '') continue;
    out.push(stem(token));
  }
  return out;
}

function stem(token: string): string {
  if (token.length < 3 || Buffer.byteLength(token) > MAX_STEM_BYTES) return token;
  return stemmer(token);
}

/** Term frequencies per column of one entry, and its length in tokens (all columns). */
export function indexDocument(columns: readonly string[]): { terms: Map<string, number[]>; length: number } {
  const terms = new Map<string, number[]>();
  let length = 0;
  columns.forEach((text, c) => {
    for (const t of tokenize(text)) {
      let tf = terms.get(t);
      if (!tf) terms.set(t, (tf = [0, 0, 0, 0]));
      tf[c]! += 1;
      length += 1;
    }
  });
  return { terms, length };
}

/** A query phrase: tokens in order, the last one a prefix when `prefix`; `columns` restricts where it counts. */
export interface Phrase {
  kind: 'phrase';
  tokens: string[];
  prefix: boolean;
  columns: number[] | null;
}
export type QueryNode =
  Phrase | { kind: 'and' | 'or'; children: QueryNode[] } | { kind: 'not'; left: QueryNode; right: QueryNode };

const FTS_HINT = 'quote phrases with "…", use AND/OR/NOT and prefix*, or search plain words';

function syntaxError(detail: string, text: string): TmuxClaudeError {
  return new TmuxClaudeError('INVALID_ARGUMENT', `knowledge query syntax error: ${detail} in ${text}`, {
    hint: FTS_HINT,
  });
}

/**
 * Free text as the words mode reads it: runs of letters, digits and underscores, lower-cased, each once, each a
 * phrase of its tokens, any of them matching (OR). Null when there is no word.
 */
export function wordsQuery(text: string): QueryNode | null {
  const runs = text.toLowerCase().match(/[\p{L}\p{M}\p{N}_]+/gu) ?? [];
  const words = [...new Set(runs.filter((w) => /[\p{L}\p{N}]/u.test(w)))];
  if (words.length === 0) return null;
  return {
    kind: 'or',
    children: words.map((w) => ({ kind: 'phrase', tokens: tokenize(w), prefix: false, columns: null })),
  };
}

type Token =
  | { t: 'word'; v: string; at: number }
  | { t: 'string'; v: string; at: number }
  | { t: 'op'; v: '(' | ')' | '*' | ':' | '+' | '^' | '{' | '}' | ','; at: number };

function lex(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/u.test(c)) {
      i += 1;
    } else if (c === '"') {
      let v = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw syntaxError('unterminated string', text);
        if (text[j] === '"') {
          if (text[j + 1] === '"') {
            v += '"';
            j += 2;
            continue;
          }
          break;
        }
        v += text[j];
        j += 1;
      }
      out.push({ t: 'string', v, at: i });
      i = j + 1;
    } else if ('()*:+^{},'.includes(c)) {
      out.push({ t: 'op', v: c as '(' | ')' | '*' | ':' | '+' | '^' | '{' | '}' | ',', at: i });
      i += 1;
    } else if (/[A-Za-z0-9_]/.test(c) || c.charCodeAt(0) > 127) {
      let j = i;
      while (j < text.length && (/[A-Za-z0-9_]/.test(text[j]!) || text.charCodeAt(j) > 127)) j += 1;
      out.push({ t: 'word', v: text.slice(i, j), at: i });
      i = j;
    } else {
      throw syntaxError(`unexpected ${JSON.stringify(c)}`, text);
    }
  }
  return out;
}

/**
 * Parses the FTS5 query language: barewords and "quoted phrases" (a phrase is the tokens of its text, which
 * must appear in order), `word*` prefixes, `AND`, `OR`, `NOT` (binding NOT > AND > OR; juxtaposition is AND),
 * parentheses and `column:` filters. NEAR groups, `{col1 col2}:` lists, `^` and `+` are refused as
 * INVALID_ARGUMENT: the Redis backend does not implement them.
 */
export function parseFtsQuery(text: string): QueryNode {
  const tokens = lex(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isKeyword = (t: Token | undefined, v: string): boolean => t?.t === 'word' && t.v === v;
  const unsupported = (what: string): never => {
    throw new TmuxClaudeError(
      'INVALID_ARGUMENT',
      `knowledge query syntax error: ${what} is not supported by the Redis store in ${text}`,
      {
        hint: FTS_HINT,
      },
    );
  };

  const phrase = (columns: number[] | null): QueryNode => {
    const t = peek();
    if (!t) throw syntaxError('a phrase is missing at the end', text);
    if (t.t === 'op') {
      if (t.v === '(') {
        pos += 1;
        const inner = orExpr();
        if (peek()?.t !== 'op' || (peek() as { v: string }).v !== ')')
          throw syntaxError('unbalanced (', text);
        pos += 1;
        return columns ? restrict(inner, columns) : inner;
      }
      if (t.v === '^' || t.v === '+' || t.v === '{') unsupported(JSON.stringify(t.v));
      throw syntaxError(`unexpected ${JSON.stringify(t.v)}`, text);
    }
    if (t.t === 'word' && (t.v === 'AND' || t.v === 'OR' || t.v === 'NOT')) {
      throw syntaxError(`${t.v} needs a phrase before and after it`, text);
    }
    if (
      t.t === 'word' &&
      t.v === 'NEAR' &&
      tokens[pos + 1]?.t === 'op' &&
      (tokens[pos + 1] as { v: string }).v === '('
    ) {
      unsupported('NEAR');
    }
    pos += 1;
    const next = peek();
    if (t.t === 'word' && next?.t === 'op' && next.v === ':') {
      const column = COLUMNS.indexOf(t.v as (typeof COLUMNS)[number]);
      if (column < 0) throw syntaxError(`no such column: ${t.v}`, text);
      pos += 1;
      return phrase([column]);
    }
    let prefix = false;
    if (next?.t === 'op' && next.v === '*') {
      prefix = true;
      pos += 1;
    }
    const after = peek();
    if (after?.t === 'op' && after.v === '+') unsupported('"+"');
    return { kind: 'phrase', tokens: tokenize(t.v), prefix, columns };
  };

  const notExpr = (): QueryNode => {
    let left = phrase(null);
    while (isKeyword(peek(), 'NOT')) {
      pos += 1;
      left = { kind: 'not', left, right: phrase(null) };
    }
    return left;
  };
  const andExpr = (): QueryNode => {
    const children = [notExpr()];
    for (;;) {
      const t = peek();
      if (!t || isKeyword(t, 'OR') || (t.t === 'op' && t.v === ')')) break;
      if (isKeyword(t, 'AND')) pos += 1;
      children.push(notExpr());
    }
    return children.length === 1 ? children[0]! : { kind: 'and', children };
  };
  const orExpr = (): QueryNode => {
    const children = [andExpr()];
    while (isKeyword(peek(), 'OR')) {
      pos += 1;
      children.push(andExpr());
    }
    return children.length === 1 ? children[0]! : { kind: 'or', children };
  };

  const tree = orExpr();
  if (pos < tokens.length)
    throw syntaxError(`unexpected ${JSON.stringify((tokens[pos] as { v: string }).v)}`, text);
  return tree;
}

function restrict(node: QueryNode, columns: number[]): QueryNode {
  if (node.kind === 'phrase') return { ...node, columns: node.columns ?? columns };
  if (node.kind === 'not')
    return { kind: 'not', left: restrict(node.left, columns), right: restrict(node.right, columns) };
  return { kind: node.kind, children: node.children.map((c) => restrict(c, columns)) };
}

/** Every phrase of a query, in order (bm25 sums over all of them, as FTS5 does). */
export function phrasesOf(node: QueryNode): Phrase[] {
  if (node.kind === 'phrase') return [node];
  if (node.kind === 'not') return [...phrasesOf(node.left), ...phrasesOf(node.right)];
  return node.children.flatMap(phrasesOf);
}

/** The phrases a matching entry must or may contain (not those only under a NOT's right side). */
export function positivePhrases(node: QueryNode): Phrase[] {
  if (node.kind === 'phrase') return [node];
  if (node.kind === 'not') return positivePhrases(node.left);
  return node.children.flatMap(positivePhrases);
}

/** Whether an entry matches, given which phrases it contains. */
export function evaluate(node: QueryNode, has: (p: Phrase) => boolean): boolean {
  switch (node.kind) {
    case 'phrase':
      return has(node);
    case 'and':
      return node.children.every((c) => evaluate(c, has));
    case 'or':
      return node.children.some((c) => evaluate(c, has));
    case 'not':
      return evaluate(node.left, has) && !evaluate(node.right, has);
  }
}

/** How often a phrase occurs in each column of an entry (token sequences, the last one a prefix if so). */
export function phraseFrequencies(phrase: Phrase, columns: readonly string[]): number[] {
  return columns.map((text, c) => {
    if (phrase.columns && !phrase.columns.includes(c)) return 0;
    const tokens = tokenize(text);
    const n = phrase.tokens.length;
    if (n === 0) return 0;
    let count = 0;
    for (let i = 0; i + n <= tokens.length; i += 1) {
      let ok = true;
      for (let j = 0; j < n && ok; j += 1) {
        const want = phrase.tokens[j]!;
        const got = tokens[i + j]!;
        ok = j === n - 1 && phrase.prefix ? got.startsWith(want) : got === want;
      }
      if (ok) count += 1;
    }
    return count;
  });
}

/**
 * FTS5's bm25 (k1 1.2, b 0.75): for each phrase, idf × weighted frequency saturation, summed. `frequencies`
 * holds one per-column count list per phrase; returned positive (SQLite's bm25() is its negation).
 */
export function bm25(
  frequencies: ReadonlyArray<readonly number[]>,
  idfs: readonly number[],
  docLength: number,
  avgLength: number,
): number {
  const k1 = 1.2;
  const b = 0.75;
  let score = 0;
  frequencies.forEach((perColumn, i) => {
    const f = perColumn.reduce((sum, n, c) => sum + n * WEIGHTS[c]!, 0);
    if (f === 0) return;
    score += idfs[i]! * ((f * (k1 + 1)) / (f + k1 * (1 - b + (b * docLength) / (avgLength || 1))));
  });
  return score;
}

/** FTS5's idf for a phrase found in `hits` of `total` entries (never below 1e-6). */
export function idf(total: number, hits: number): number {
  const value = Math.log((total - hits + 0.5) / (hits + 0.5));
  return value > 0 ? value : 1e-6;
}
