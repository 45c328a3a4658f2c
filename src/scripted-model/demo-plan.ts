/** A file a specialist writes, relative to its worktree. */
export interface FileSpec {
  path: string;
  content: string;
}

/** One specialist's task: the files to write and the commit message. */
export interface SpecialistPlan {
  name: string;
  files: FileSpec[];
  commit: string;
}

/** One manager and the specialists it runs. */
export interface ManagerPlan {
  name: string;
  specialists: SpecialistPlan[];
}

/** What an Executive spawns: the ```plan block of a goal, or the demo plan. */
export interface OrgPlan {
  managers: ManagerPlan[];
}

// CommonJS so the modules and tests run in a fresh repository without a package.json.
function moduleSpec(name: string, source: string, testBody: string): SpecialistPlan {
  return {
    name,
    files: [
      { path: `src/${name}.js`, content: `'use strict';\n\n${source}\nmodule.exports = { ${name} };\n` },
      {
        path: `test/${name}.test.js`,
        content:
          `'use strict';\n\nconst { test } = require('node:test');\nconst assert = require('node:assert/strict');\n` +
          `const { ${name} } = require('../src/${name}.js');\n\n${testBody}`,
      },
    ],
    commit: `feat(${name}): add ${name}`,
  };
}

/** The built-in plan used when a goal carries no ```plan block. */
export const DEMO_PLAN: OrgPlan = {
  managers: [
    {
      name: 'text-utils',
      specialists: [
        moduleSpec(
          'slugify',
          `/** Lower-case, dash-separated form of a text, safe in a URL. */\nfunction slugify(text) {\n  return String(text)\n    .toLowerCase()\n    .normalize('NFKD')\n    .replace(/[\\u0300-\\u036f]/g, '')\n    .replace(/[^a-z0-9]+/g, '-')\n    .replace(/^-+|-+$/g, '');\n}\n`,
          `test('slugify makes a url-safe slug', () => {\n  assert.equal(slugify('Hello, World!'), 'hello-world');\n  assert.equal(slugify('  Crème brûlée  '), 'creme-brulee');\n});\n`,
        ),
        moduleSpec(
          'capitalize',
          `/** The text with its first character in upper case. */\nfunction capitalize(text) {\n  const s = String(text);\n  return s.charAt(0).toUpperCase() + s.slice(1);\n}\n`,
          `test('capitalize upper-cases the first letter only', () => {\n  assert.equal(capitalize('hello world'), 'Hello world');\n  assert.equal(capitalize(''), '');\n});\n`,
        ),
      ],
    },
    {
      name: 'math-utils',
      specialists: [
        moduleSpec(
          'sum',
          `/** The sum of a list of numbers (0 for an empty list). */\nfunction sum(numbers) {\n  return numbers.reduce((total, n) => total + n, 0);\n}\n`,
          `test('sum adds all numbers', () => {\n  assert.equal(sum([1, 2, 3]), 6);\n  assert.equal(sum([]), 0);\n});\n`,
        ),
        moduleSpec(
          'clamp',
          `/** The value limited to the range [min, max]. */\nfunction clamp(value, min, max) {\n  return Math.min(Math.max(value, min), max);\n}\n`,
          `test('clamp limits a value to a range', () => {\n  assert.equal(clamp(5, 0, 10), 5);\n  assert.equal(clamp(-1, 0, 10), 0);\n  assert.equal(clamp(11, 0, 10), 10);\n});\n`,
        ),
      ],
    },
  ],
};
