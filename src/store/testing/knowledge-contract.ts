import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knowledge, TmuxClaudeError } from '../../core/index.js';
import type { KnowledgeHit, KnowledgeQuery, NewKnowledge, Store } from '../types.js';
import type { StoreHarness } from './store-contract.js';

/** Explicit creation times: the store never reads the clock for them. */
const T0 = 1_000_000;

let counter = 0;

/**
 * A run of its own, and words no other test uses (full-text statistics span the whole store, so a shared word
 * would tie one test's ranking to what the others recorded).
 */
function scope() {
  counter += 1;
  const tag = `${counter}x${Math.random().toString(36).slice(2, 7)}`;
  return {
    runId: `run-k${tag}`,
    /** A word (letters and digits) unique to this scope; it ends in `name`, so stemming treats it alike. */
    word: (name: string) => `${tag}${name}`,
    id: (name: string) => `kn-${name}-${tag}`,
  };
}

function entry(runId: string, id: string, overrides: Partial<NewKnowledge> = {}): NewKnowledge {
  return {
    id,
    runId,
    key: `key.${id}`,
    value: `value of ${id}`,
    tags: [],
    paths: [],
    recordedBy: 'user',
    taskId: null,
    commit: null,
    branch: null,
    createdAt: T0,
    ...overrides,
  };
}

function hasCode(code: string, ...texts: string[]): (e: unknown) => boolean {
  return (e) => (e as TmuxClaudeError).code === code && texts.every((t) => (e as Error).message.includes(t));
}

/** Filler prose of `n` words that no query of these tests looks for. */
function filler(n: number): string {
  const words = [
    'lorem',
    'ipsum',
    'dolor',
    'sit',
    'amet',
    'consectetur',
    'adipiscing',
    'elit',
    'sed',
    'tempor',
  ];
  return Array.from({ length: n }, (_, i) => words[i % words.length]).join(' ');
}

const ids = (items: ReadonlyArray<{ id: string }>): string[] => items.map((i) => i.id);
const hitIds = (hits: readonly KnowledgeHit[]): string[] => hits.map((h) => h.entry.id);

/**
 * The knowledge-store contract: every backend runs it unchanged. Behaviour only, explicit times, no timings.
 */
export function runKnowledgeStoreContract(name: string, makeHarness: () => StoreHarness): void {
  describe(`knowledge store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    before(async () => {
      harness = makeHarness();
      store = await harness.open();
    });
    after(async () => {
      await store.close();
      await harness.dispose();
    });

    const record = (e: NewKnowledge): Promise<Knowledge> => store.knowledge.record(e);
    const query = (q: Omit<KnowledgeQuery, 'limit'> & { limit?: number }): Promise<KnowledgeHit[]> =>
      store.knowledge.query({ limit: 100, ...q });

    it('numbers the versions of a key per run and keeps every one as history, oldest first', async () => {
      const s = scope();
      const first = entry(s.runId, s.id('v1'), {
        key: 'auth.session',
        value: 'sessions live in redis',
        tags: ['auth', 'storage'],
        paths: ['src/auth/**'],
        recordedBy: 'spec-1',
        taskId: 't1',
        commit: 'abc123',
        branch: 'feature/auth',
      });
      assert.deepEqual(await record(first), { ...first, version: 1 });
      const second = entry(s.runId, s.id('v2'), {
        key: 'auth.session',
        value: 'sessions live in postgres',
        createdAt: T0 + 1,
      });
      assert.deepEqual(await record(second), { ...second, version: 2 });
      const other = await record(entry(s.runId, s.id('other'), { key: 'auth.tokens', createdAt: T0 + 2 }));
      assert.equal(other.version, 1);
      const elsewhere = await record(entry(`${s.runId}-b`, s.id('b'), { key: 'auth.session' }));
      assert.equal(elsewhere.version, 1, 'a key is versioned within its run');

      assert.deepEqual(await store.knowledge.history(s.runId, 'auth.session'), [
        { ...first, version: 1 },
        { ...second, version: 2 },
      ]);
      assert.deepEqual(await store.knowledge.history(s.runId, 'no.such.key'), []);
    });

    it('refuses a duplicate entry id with CONFLICT and leaves the key as it was', async () => {
      const s = scope();
      const e = entry(s.runId, s.id('dup'), { key: 'k' });
      await record(e);
      await assert.rejects(record({ ...e, value: 'again' }), hasCode('CONFLICT'));
      assert.deepEqual(await store.knowledge.history(s.runId, 'k'), [{ ...e, version: 1 }]);
      assert.equal((await record(entry(s.runId, s.id('next'), { key: 'k' }))).version, 2);
    });

    it('lists and queries the latest version of each key, or every version with all / latestOnly false', async () => {
      const s = scope();
      const w = s.word('topic');
      const old = await record(entry(s.runId, s.id('old'), { key: 'a', value: `${w} first`, createdAt: T0 }));
      const other = await record(entry(s.runId, s.id('b'), { key: 'b', value: 'b', createdAt: T0 + 1 }));
      const now = await record(
        entry(s.runId, s.id('new'), { key: 'a', value: `${w} second`, createdAt: T0 + 2 }),
      );

      assert.deepEqual(await store.knowledge.list({ runId: s.runId, limit: 10 }), [now, other]);
      assert.deepEqual(await store.knowledge.list({ runId: s.runId, all: true, limit: 10 }), [
        now,
        other,
        old,
      ]);
      assert.deepEqual(ids(await store.knowledge.list({ runId: s.runId, all: true, limit: 2 })), [
        now.id,
        other.id,
      ]);

      assert.deepEqual(hitIds(await query({ runId: s.runId })), [now.id, other.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, text: w })), [now.id]);
      assert.deepEqual(
        hitIds(await query({ runId: s.runId, text: w, latestOnly: false })).sort(),
        [now.id, old.id].sort(),
      );
      assert.deepEqual(hitIds(await query({ runId: s.runId, latestOnly: false })), [
        now.id,
        other.id,
        old.id,
      ]);
    });

    it('counts every stored version, per run or in all runs', async () => {
      const s = scope();
      const before = await store.knowledge.count();
      await record(entry(s.runId, s.id('1'), { key: 'a' }));
      await record(entry(s.runId, s.id('2'), { key: 'a' }));
      await record(entry(s.runId, s.id('3'), { key: 'b' }));
      await record(entry(`${s.runId}-other`, s.id('4'), { key: 'a' }));
      assert.equal(await store.knowledge.count(s.runId), 3);
      assert.equal(await store.knowledge.count(`${s.runId}-other`), 1);
      assert.equal(await store.knowledge.count(`${s.runId}-none`), 0);
      assert.equal(await store.knowledge.count(), before + 4);
    });

    it('lists every run, newest first, without a run', async () => {
      const s = scope();
      // Later than anything the other tests record, so these two are the newest of the store.
      const far = Number.MAX_SAFE_INTEGER - 10;
      const a = await record(entry(s.runId, s.id('a'), { createdAt: far }));
      const b = await record(entry(`${s.runId}-b`, s.id('b'), { createdAt: far + 1 }));
      assert.deepEqual(await store.knowledge.list({ limit: 2 }), [b, a]);
    });

    it('without text: newest first, ties by id, relevance 0', async () => {
      const s = scope();
      const a = await record(entry(s.runId, s.id('a'), { createdAt: T0 + 5 }));
      const c = await record(entry(s.runId, s.id('c'), { createdAt: T0 + 7 }));
      const b = await record(entry(s.runId, s.id('b'), { createdAt: T0 + 5 }));
      const hits = await query({ runId: s.runId });
      assert.deepEqual(hits, [
        { entry: c, relevance: 0 },
        { entry: a, relevance: 0 },
        { entry: b, relevance: 0 },
      ]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, text: '' })), [c.id, a.id, b.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, text: '   ', syntax: 'fts' })), [
        c.id,
        a.id,
        b.id,
      ]);
    });

    it('ranks an entry whose key names the word above one that mentions it once in a long value', async () => {
      const s = scope();
      const w = s.word('session');
      // Older, so that only relevance can put it first.
      const inKey = await record(
        entry(s.runId, s.id('key'), { key: `module.${w}.storage`, value: 'kept in redis', createdAt: T0 }),
      );
      const inValue = await record(
        entry(s.runId, s.id('value'), {
          key: 'misc.notes',
          value: `${filler(100)} ${w} ${filler(100)}`,
          createdAt: T0 + 1,
        }),
      );
      await record(entry(s.runId, s.id('none'), { value: filler(20), createdAt: T0 + 2 }));
      const hits = await query({ runId: s.runId, text: w });
      assert.deepEqual(hitIds(hits), [inKey.id, inValue.id]);
      assert.ok(hits[0]!.relevance > hits[1]!.relevance && hits[1]!.relevance > 0, JSON.stringify(hits));
    });

    it('matches any of the words and ranks entries with more of them higher, newer first among equals', async () => {
      const s = scope();
      const [x, y, z] = [s.word('token'), s.word('refresh'), s.word('expiry')];
      const two = await record(
        entry(s.runId, s.id('two'), { value: `the ${x} and the ${y} here`, createdAt: T0 }),
      );
      const oneOld = await record(
        entry(s.runId, s.id('one-old'), { value: `the ${x} but not other`, createdAt: T0 + 1 }),
      );
      const oneNew = await record(
        entry(s.runId, s.id('one-new'), { value: `the ${x} but not other`, createdAt: T0 + 2 }),
      );
      const three = await record(
        entry(s.runId, s.id('three'), { value: `the ${x} ${y} ${z} here`, createdAt: T0 }),
      );
      await record(entry(s.runId, s.id('none'), { value: 'nothing to see here at all', createdAt: T0 + 3 }));
      const hits = await query({ runId: s.runId, text: `${x.toUpperCase()}, ${y}; ${z}?` });
      assert.deepEqual(hitIds(hits), [three.id, two.id, oneNew.id, oneOld.id]);
      assert.ok(hits.every((h, i) => i === 0 || h.relevance <= hits[i - 1]!.relevance));
    });

    it('takes any text in words mode: punctuation, quotes, operators, shell, emoji and 10 KB are just words', async () => {
      const s = scope();
      const auth = await record(
        entry(s.runId, s.id('auth'), { key: 'auth.flow', value: 'how the auth works', createdAt: T0 }),
      );
      const file = await record(
        entry(s.runId, s.id('file'), {
          key: 'notes',
          value: 'src/a.ts exports the router',
          createdAt: T0 + 1,
        }),
      );
      const texts = [
        'how does auth work?',
        '"unbalanced',
        'a AND',
        'NOT',
        '(x',
        'src/a.ts',
        '$(rm -rf /)',
        "'; DROP TABLE knowledge; --",
        'key:auth',
        'auth*',
        'NEAR(a b',
        '🎉🎉 auth 🚀',
        '___',
        'x'.repeat(10_240),
        Array.from({ length: 2_000 }, (_, i) => `w${i}`).join(' '),
      ];
      for (const text of texts) {
        await assert.doesNotReject(
          query({ runId: s.runId, text }),
          `words query ${JSON.stringify(text.slice(0, 40))}`,
        );
      }
      assert.equal((await query({ runId: s.runId, text: 'how does auth work?' }))[0]?.entry.id, auth.id);
      assert.deepEqual(hitIds(await query({ runId: s.runId, text: 'src/a.ts' })), [file.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, text: '🎉 auth' })), [auth.id]);
      // No words at all: no text filter.
      assert.deepEqual(await query({ runId: s.runId, text: '🎉 ?! ___' }), [
        { entry: file, relevance: 0 },
        { entry: auth, relevance: 0 },
      ]);
    });

    it('fts syntax: phrases, prefixes, AND and NOT', async () => {
      const s = scope();
      const [x, y] = [s.word('alpha'), s.word('beta')];
      const ordered = await record(
        entry(s.runId, s.id('xy'), { value: `${x} ${y} together`, createdAt: T0 }),
      );
      const reversed = await record(
        entry(s.runId, s.id('yx'), { value: `${y} then ${x}`, createdAt: T0 + 1 }),
      );
      const onlyX = await record(entry(s.runId, s.id('x'), { value: `${x} alone`, createdAt: T0 + 2 }));
      const fts = async (text: string): Promise<string[]> =>
        hitIds(await query({ runId: s.runId, text, syntax: 'fts' })).sort();
      assert.deepEqual(await fts(`"${x} ${y}"`), [ordered.id]);
      assert.deepEqual(await fts(`${x.slice(0, -2)}*`), [ordered.id, reversed.id, onlyX.id].sort());
      assert.deepEqual(await fts(`${x} AND ${y}`), [ordered.id, reversed.id].sort());
      assert.deepEqual(await fts(`${x} NOT ${y}`), [onlyX.id]);
      assert.deepEqual(await fts(`${y} OR nothing${x}`), [ordered.id, reversed.id].sort());
    });

    it('fts syntax: a malformed query is INVALID_ARGUMENT naming the query, with a hint', async () => {
      const s = scope();
      await record(entry(s.runId, s.id('a'), { value: 'x y' }));
      for (const text of ['"unbalanced', 'a AND', 'NOT', '(x']) {
        await assert.rejects(
          query({ runId: s.runId, text, syntax: 'fts' }),
          (e: unknown) =>
            hasCode('INVALID_ARGUMENT', 'knowledge query syntax error', text)(e) &&
            typeof (e as TmuxClaudeError).hint === 'string',
          `fts query ${JSON.stringify(text)}`,
        );
      }
    });

    it('filters by tags: entries carrying every one of them', async () => {
      const s = scope();
      const both = await record(entry(s.runId, s.id('both'), { tags: ['auth', 'bug'], createdAt: T0 + 1 }));
      const one = await record(entry(s.runId, s.id('one'), { tags: ['auth'], createdAt: T0 }));
      await record(entry(s.runId, s.id('none'), { tags: [] }));
      assert.deepEqual(hitIds(await query({ runId: s.runId, tags: ['auth'] })), [both.id, one.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, tags: ['bug', 'auth'] })), [both.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, tags: ['auth', 'missing'] })), []);
      assert.equal((await query({ runId: s.runId, tags: [] })).length, 3, 'no tags: no tag filter');
    });

    it('filters by paths: entries anchored to a path overlapping one of the globs', async () => {
      const s = scope();
      const w = s.word('router');
      const src = await record(entry(s.runId, s.id('src'), { paths: ['src/a.ts'], value: w, createdAt: T0 }));
      const dir = await record(entry(s.runId, s.id('dir'), { paths: ['src/auth/**'], createdAt: T0 + 1 }));
      await record(entry(s.runId, s.id('docs'), { paths: ['docs/x.md'], value: w, createdAt: T0 + 2 }));
      await record(entry(s.runId, s.id('none'), { value: w, createdAt: T0 + 3 }));
      assert.deepEqual(hitIds(await query({ runId: s.runId, paths: ['src/**'] })), [dir.id, src.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, paths: ['test/*'] })), []);
      assert.deepEqual(hitIds(await query({ runId: s.runId, paths: ['src/auth/login.ts'] })), [dir.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, paths: ['test/*', 'src/*.ts'] })), [src.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, text: w, paths: ['src/**'] })), [src.id]);
      assert.equal((await query({ runId: s.runId, paths: [] })).length, 4, 'no globs: no path filter');
    });

    it('fills the limit past entries the path filter drops', async () => {
      const s = scope();
      const wanted: Knowledge[] = [];
      for (let i = 0; i < 3; i++) {
        wanted.push(
          await record(entry(s.runId, s.id(`src${i}`), { paths: [`src/${i}.ts`], createdAt: T0 + i })),
        );
      }
      // Newer than the wanted ones, so they come first in the store's order and the filter must skip them.
      for (let i = 0; i < 250; i++) {
        await record(entry(s.runId, s.id(`test${i}`), { paths: [`test/${i}.ts`], createdAt: T0 + 10 + i }));
      }
      assert.deepEqual(hitIds(await query({ runId: s.runId, paths: ['src/**'], limit: 2 })), [
        wanted[2]!.id,
        wanted[1]!.id,
      ]);
      assert.deepEqual(
        hitIds(await query({ runId: s.runId, paths: ['src/**'], limit: 10 })),
        ids(wanted.reverse()),
      );
    });

    it('keeps runs apart', async () => {
      const s = scope();
      const w = s.word('shared');
      const mine = await record(entry(s.runId, s.id('mine'), { key: 'k', value: w, tags: ['t'] }));
      await record(entry(`${s.runId}-other`, s.id('theirs'), { key: 'k', value: w, tags: ['t'] }));
      assert.deepEqual(hitIds(await query({ runId: s.runId, text: w })), [mine.id]);
      assert.deepEqual(hitIds(await query({ runId: s.runId, tags: ['t'] })), [mine.id]);
      assert.deepEqual(ids(await store.knowledge.list({ runId: s.runId, all: true, limit: 10 })), [mine.id]);
      assert.deepEqual(ids(await store.knowledge.history(s.runId, 'k')), [mine.id]);
      assert.deepEqual(await query({ runId: `${s.runId}-none`, text: w }), []);
    });

    it('returns at most limit hits, the best ones', async () => {
      const s = scope();
      const w = s.word('limit');
      const made: Knowledge[] = [];
      for (let i = 0; i < 5; i++)
        made.push(await record(entry(s.runId, s.id(`${i}`), { value: w, createdAt: T0 + i })));
      assert.deepEqual(hitIds(await query({ runId: s.runId, limit: 3 })), ids(made.slice(2).reverse()));
      assert.deepEqual(
        hitIds(await query({ runId: s.runId, text: w, limit: 3 })),
        ids(made.slice(2).reverse()),
      );
      assert.equal((await query({ runId: s.runId, text: w, limit: 1 })).length, 1);
    });

    it('stores a 64 KiB value whole and finds it by a word at its end', async () => {
      const s = scope();
      const w = s.word('needle');
      const value = `${'é✓ 0123456789 abcdef\n'.repeat(4_000)}`.slice(0, 64 * 1024 - w.length - 1) + ` ${w}`;
      const big = await record(entry(s.runId, s.id('big'), { key: 'big', value }));
      assert.equal((await store.knowledge.history(s.runId, 'big'))[0]?.value, value);
      const hits = await query({ runId: s.runId, text: w });
      assert.deepEqual(hitIds(hits), [big.id]);
      assert.equal(hits[0]?.entry.value, value);
    });
  });
}
