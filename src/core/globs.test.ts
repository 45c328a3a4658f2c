import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TmuxClaudeError } from './errors.js';
import { globMatches, globsOverlap, normaliseRepoGlob, overlappingPairs } from './globs.js';

describe('normaliseRepoGlob', () => {
  it('puts repo-relative globs in canonical form', () => {
    const cases: Array<[string, string]> = [
      ['./a', 'a'],
      ['a//b', 'a/b'],
      ['a/./b', 'a/b'],
      [' src/a.ts ', 'src/a.ts'],
      ['src/', 'src/**'],
      ['src/**/', 'src/**'],
      ['src/*.ts', 'src/*.ts'],
      ['**', '**'],
      ['a/..b', 'a/..b'],
    ];
    for (const [input, expected] of cases) assert.equal(normaliseRepoGlob(input), expected, input);
  });

  it('refuses patterns that name no file or reach outside the repo, with INVALID_ARGUMENT', () => {
    const refused: Array<[string, string]> = [
      ['', 'empty'],
      ['   ', 'empty'],
      ['./', 'names no file'],
      ['../x', '..'],
      ['a/../../b', '..'],
      ['/abs', 'absolute'],
      ['C:/x', 'absolute'],
      ['C:\\x', 'backslash'],
      ['a\\b', 'backslash'],
      ['~/x', 'outside the repo'],
      ['a\0b', 'NUL'],
      ['x'.repeat(1_001), 'longer'],
    ];
    for (const [input, why] of refused) {
      assert.throws(
        () => normaliseRepoGlob(input),
        (e: unknown) =>
          (e as TmuxClaudeError).code === 'INVALID_ARGUMENT' && (e as Error).message.includes(why),
        JSON.stringify(input),
      );
    }
  });
});

describe('globsOverlap', () => {
  /** Overlap is symmetric: every case is checked both ways round. */
  const check = (a: string, b: string, expected: boolean) => {
    assert.equal(globsOverlap(a, b), expected, `${a} vs ${b}`);
    assert.equal(globsOverlap(b, a), expected, `${b} vs ${a}`);
  };

  it('finds overlaps between a glob and a path, or two globs', () => {
    check('src/**', 'src/a.ts', true);
    check('src/**', 'src', true);
    check('**', 'any/depth/file.ts', true);
    check('**', 'a.ts', true);
    check('a/**/z.ts', 'a/b/c/z.ts', true);
    check('**/*.md', 'docs/x/y.md', true);
    check('{a,b}.ts', 'a.ts', true);
    check('src/a.ts', 'src/a.ts', true);
    check('a/b/**', 'a/*/c', true);
  });

  it('separates globs that cannot name the same file', () => {
    check('src/*.ts', 'test/*.ts', false);
    check('src/*.ts', 'src/a.js', false);
    check('{a,b}.ts', 'c.ts', false);
    check('docs/x.md', 'docs/y.md', false);
    check('src/*', 'src/a/b.ts', false);
    check('src/**/*.ts', 'src/a.js', false);
    check('src/?.ts', 'src/ab.ts', false);
    check('*.ts', '*.js', false);
  });

  it('errs towards an overlap for two wildcards it cannot decide exactly', () => {
    check('src/a*.ts', 'src/*b.ts', true);
  });

  it('never misses an overlap through a group spanning segments', () => {
    check('src/{a,b/c}.ts', 'src/b/c.ts', true);
    check('{src,lib/x}/**', 'lib/x/y.ts', true);
    check('{**,x}/y', 'a/b/y', true);
    check('src/{a,b/c}.ts', 'test/b/c.ts', false);
  });

  it('agrees with globMatches on paths', () => {
    for (const [pattern, path] of [
      ['src/**', 'src/a/b.ts'],
      ['src/*.ts', 'src/a.js'],
      ['{a,b}.ts', 'b.ts'],
      ['docs/*.md', 'docs/.hidden.md'],
    ] as const) {
      assert.equal(globsOverlap(pattern, path), globMatches(pattern, path), `${pattern} vs ${path}`);
    }
  });

  it('pairs up the overlapping globs of two lists', () => {
    assert.deepEqual(overlappingPairs(['src/**', 'docs/a.md'], ['test/x.ts', 'src/a.ts', 'docs/*']), [
      [0, 1],
      [1, 2],
    ]);
  });
});
