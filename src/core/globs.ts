import picomatch from 'picomatch';
import { TmuxClaudeError } from './errors.js';

/** Characters that make a path segment a pattern rather than a literal name. */
const GLOB_CHARS = /[*?[\]{}()!+@]/;
const MAX_PATTERN_LENGTH = 1_000;

/**
 * A repo-relative glob in canonical form: forward slashes, no `./`, `.` or empty segments, a trailing `/`
 * turned into `/**` (the whole directory). Throws INVALID_ARGUMENT for an empty or absolute pattern, a `..`
 * segment, a home-relative `~` path, or a backslash (patterns use `/` on every platform).
 */
export function normaliseRepoGlob(pattern: string): string {
  const raw = pattern.trim();
  const refuse = (why: string): never => {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `file pattern ${JSON.stringify(pattern)} ${why}`, {
      hint: 'use globs relative to the repository root, e.g. "src/auth/**" or "README.md"',
    });
  };
  if (raw === '') refuse('is empty');
  if (raw.length > MAX_PATTERN_LENGTH) refuse(`is longer than ${MAX_PATTERN_LENGTH} characters`);
  if (raw.includes('\0')) refuse('contains a NUL byte');
  if (raw.includes('\\')) refuse('contains a backslash');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) refuse('is absolute; it must be relative to the repo');
  if (raw.startsWith('~')) refuse('points outside the repo');
  const segments = raw.split('/');
  const directory = raw.endsWith('/');
  const kept = segments.filter((s) => s !== '' && s !== '.');
  if (kept.includes('..')) refuse('escapes the repo (..)');
  if (kept.length === 0) refuse('names no file');
  if (directory && kept.at(-1) !== '**') kept.push('**');
  return kept.join('/');
}

function hasGlob(segment: string): boolean {
  return GLOB_CHARS.test(segment);
}

/** The literal text before the first glob character: every path the pattern matches starts with it. */
function literalHead(pattern: string): string {
  const i = pattern.search(GLOB_CHARS);
  return i < 0 ? pattern : pattern.slice(0, i);
}

/**
 * True when a `{…}` or `(…)` group holds a `/` or a `**` (`{src,lib/x}/**`, `{**,a}/b`): the group spans
 * segments, so comparing segment by segment could miss a match.
 */
function hasSpanningGroup(pattern: string): boolean {
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{' || c === '(') depth++;
    else if ((c === '}' || c === ')') && depth > 0) depth--;
    else if (depth > 0 && (c === '/' || (c === '*' && pattern[i + 1] === '*'))) return true;
  }
  return false;
}

const matchers = new Map<string, (path: string) => boolean>();

function matcherFor(pattern: string): (path: string) => boolean {
  let m = matchers.get(pattern);
  if (!m) {
    m = picomatch(pattern, { dot: true });
    if (matchers.size > 10_000) matchers.clear();
    matchers.set(pattern, m);
  }
  return m;
}

/** True when a repo-relative path is matched by a (normalised) glob. */
export function globMatches(pattern: string, path: string): boolean {
  return matcherFor(pattern)(path);
}

/** Could two single path segments name the same file? Exact for a literal; conservative for two patterns. */
function segmentsOverlap(a: string, b: string): boolean {
  const ga = hasGlob(a);
  const gb = hasGlob(b);
  if (!ga && !gb) return a === b;
  if (!ga) return globMatches(b, a);
  if (!gb) return globMatches(a, b);
  // Two patterns: they can only meet if their literal heads and tails agree. May report a false overlap,
  // never miss a real one — a refused reservation is safer than two agents on one file.
  const tail = (s: string): string => {
    let i = s.length;
    while (i > 0 && !GLOB_CHARS.test(s[i - 1] ?? '')) i--;
    return s.slice(i);
  };
  const [ha, hb, ta, tb] = [literalHead(a), literalHead(b), tail(a), tail(b)];
  return (ha.startsWith(hb) || hb.startsWith(ha)) && (ta.endsWith(tb) || tb.endsWith(ta));
}

/**
 * True when some path could be matched by both (normalised) globs: `src/**` and `src/a.ts` overlap,
 * `src/*.ts` and `test/*.ts` do not. `**` spans any number of segments. Exact when either side is literal;
 * for two wildcard segments, or a group spanning segments (compared by literal prefix only), it errs on the
 * side of reporting an overlap.
 */
export function globsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  if (hasSpanningGroup(a) || hasSpanningGroup(b)) {
    const [ha, hb] = [literalHead(a), literalHead(b)];
    return ha.startsWith(hb) || hb.startsWith(ha);
  }
  const A = a.split('/');
  const B = b.split('/');
  const memo = new Map<number, boolean>();
  const walk = (i: number, j: number): boolean => {
    const key = i * (B.length + 1) + j;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    let result: boolean;
    if (i === A.length && j === B.length) result = true;
    else if (i < A.length && A[i] === '**') result = walk(i + 1, j) || (j < B.length && walk(i, j + 1));
    else if (j < B.length && B[j] === '**') result = walk(i, j + 1) || (i < A.length && walk(i + 1, j));
    else if (i === A.length || j === B.length) result = false;
    else result = segmentsOverlap(A[i] ?? '', B[j] ?? '') && walk(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return walk(0, 0);
}

/** Pairs (index into `a`, index into `b`) of overlapping globs. */
export function overlappingPairs(a: readonly string[], b: readonly string[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  a.forEach((x, i) => b.forEach((y, j) => globsOverlap(x, y) && out.push([i, j])));
  return out;
}
