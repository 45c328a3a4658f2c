/**
 * A deterministic, realistic-looking knowledge base for the knowledge-query figure: prose over a vocabulary
 * of a few thousand words with a Zipf-like frequency (a few words everywhere, most rare), keys like
 * `module.<name>.<aspect>`, some tags, paths and identifiers. The same seed yields the same entries, so the
 * store and its bare FTS5 baseline index exactly the same text.
 */

/** mulberry32: a tiny, fast, seedable PRNG in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Frequent words first: they take the top of the Zipf ranking, as function words do in real notes. */
const COMMON = (
  'the a of to and in is it for on that this with as be by are not when from at or an if uses calls ' +
  'returns error config test file function module request response cache retry token session user ' +
  'value key state handler queue worker timeout lock path build schema query index'
).split(' ');
const ASPECTS = (
  'api errors config tests storage auth retries limits schema build deploy logging metrics cache ' +
  'locking migrations protocol layout naming ownership'
).split(' ');
const TAGS = (
  'auth db api bug perf security flaky todo decision gotcha convention dependency ci docs ux infra ' +
  'migration cache concurrency protocol'
).split(' ');
/** Words the queries skip: nobody searches for "the". */
const STOP_RANKS = COMMON.length;
const VOCABULARY_SIZE = 4_000;
/** Distinct module names keys are made of (with the aspects: about 40,000 keys). */
const MODULES = 2_000;

function vocabulary(): string[] {
  const random = prng(7);
  const consonants = 'bcdfghklmnprstvz';
  const vowels = 'aeiou';
  const syllable = (): string =>
    consonants[Math.floor(random() * consonants.length)]! + vowels[Math.floor(random() * vowels.length)]!;
  const words = new Set(COMMON);
  while (words.size < VOCABULARY_SIZE) {
    const n = 2 + Math.floor(random() * 3);
    words.add(Array.from({ length: n }, syllable).join(''));
  }
  return [...words];
}

/** A word sampler over `words` with weight 1/(rank + 1): cumulative weights, binary search. */
function zipf(words: readonly string[], random: () => number, skip = 0): () => string {
  const cumulative: number[] = [];
  let total = 0;
  for (let r = skip; r < words.length; r++) cumulative.push((total += 1 / (r + 1)));
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return words[skip + lo]!;
  };
}

export interface CorpusEntry {
  key: string;
  value: string;
  tags: string[];
  paths: string[];
}

/** `n` entries, the same ones on every call: 20–80 words of prose each, some paths and identifiers in it. */
export function* corpusEntries(n: number): Generator<CorpusEntry> {
  const words = vocabulary();
  const random = prng(42);
  const word = zipf(words, random);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const modules = words.slice(STOP_RANKS, STOP_RANKS + MODULES);
  for (let i = 0; i < n; i++) {
    const module = pick(modules);
    const aspect = pick(ASPECTS);
    const length = 20 + Math.floor(random() * 61);
    const prose: string[] = [];
    for (let w = 0; w < length; w++) {
      const r = random();
      if (r < 0.02) prose.push(`src/${module}/${word()}.ts`);
      else if (r < 0.04) prose.push(`${word()}_${word()}()`);
      else prose.push(word());
    }
    yield {
      key: `module.${module}.${aspect}`,
      value: `${prose.join(' ')}.`,
      tags: Array.from({ length: Math.floor(random() * 4) }, () => pick(TAGS)).filter(
        (t, j, all) => all.indexOf(t) === j,
      ),
      paths: random() < 0.6 ? [random() < 0.5 ? `src/${module}/**` : `src/${module}/${aspect}.ts`] : [],
    };
  }
}

/** `n` query texts of 2–3 words each, drawn like the prose but past the most common words. */
export function corpusQueries(n: number): string[][] {
  const random = prng(1234);
  const word = zipf(vocabulary(), random, STOP_RANKS);
  return Array.from({ length: n }, () => Array.from({ length: 2 + Math.floor(random() * 2) }, word));
}
