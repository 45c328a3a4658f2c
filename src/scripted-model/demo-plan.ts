/** A file a specialist writes, relative to its worktree. */
export interface FileSpec {
  path: string;
  content: string;
  /**
   * Add `content` to the end of the file as it is in the specialist's worktree (a missing file is created)
   * instead of replacing it: how tasks share a file such as an index or a changelog.
   */
  append?: boolean;
}

/** One specialist's task: the files to write and the commit message. */
export interface SpecialistPlan {
  name: string;
  files: FileSpec[];
  commit: string;
  /** Names of entries of the same plan that must be done and merged first (execute_parallel depends_on). */
  depends_on?: string[];
  /** Higher runs first (execute_parallel priority). */
  priority?: number;
}

/** One manager and the specialists it runs. */
export interface ManagerPlan {
  name: string;
  specialists: SpecialistPlan[];
  /** Specialists running at once (execute_parallel max_active); the coordinator's default when absent. */
  max_active?: number;
  /** The manager's budget, passed to `spawn` by the executive (e.g. {"max_instances": 3}). */
  budget?: Record<string, number>;
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

/** Options of {@link generatedProject}. */
export interface GeneratedProjectOptions {
  /** Specialist entries (tasks) in the plan, at least 1. */
  tasks: number;
  /** Seeds the modules' constants and where the dependency chains sit (default 1). */
  seed?: number;
  /**
   * Shared files: task `i` also appends its export line to `src/index.js` when `i % sharedEvery === 0`, and
   * a line to `CHANGELOG.md` when `i % (2 * sharedEvery) === sharedEvery - 1`; 0 shares no file (default 4).
   */
  sharedEvery?: number;
}

/** Each block of this many tasks holds one dependency chain of {@link CHAIN_LENGTH} consecutive tasks. */
const CHAIN_BLOCK = 10;
const CHAIN_LENGTH = 3;

/** A small deterministic PRNG (mulberry32): the same seed gives the same plan on every platform. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A generated project for scale tests of the work coordinator: one manager plan with `tasks` specialists,
 * each adding its own module `src/gen<i>.js` and test `test/gen<i>.test.js` (as in the demo plan). A known
 * share of tasks also append one line of their own to a shared file (see
 * {@link GeneratedProjectOptions.sharedEvery}); a missing shared file is created by the first task that
 * appends to it, and since every appended line is distinct, the appends merge cleanly in any serial order.
 * Every block of 10 tasks holds one chain of 3 consecutive tasks, each depending on the previous one (its
 * module requires the one it depends on, so its test passes only on top of that work); chain heads get
 * priority 1. Deterministic for a seed.
 */
export function generatedProject(opts: GeneratedProjectOptions): ManagerPlan {
  const { tasks, seed = 1, sharedEvery = 4 } = opts;
  if (!Number.isInteger(tasks) || tasks < 1)
    throw new RangeError(`tasks must be an integer ≥ 1 (got ${tasks})`);
  if (!Number.isInteger(sharedEvery) || sharedEvery < 0) {
    throw new RangeError(`sharedEvery must be an integer ≥ 0 (got ${sharedEvery})`);
  }
  const random = seededRandom(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const width = Math.max(3, String(tasks - 1).length);
  const nameOf = (i: number): string => `gen${String(i).padStart(width, '0')}`;

  const dependsOn = new Map<number, number>();
  for (let start = 0; start < tasks; start += CHAIN_BLOCK) {
    const head = start + int(0, CHAIN_BLOCK - CHAIN_LENGTH);
    for (let k = 1; k < CHAIN_LENGTH && head + k < tasks; k++) dependsOn.set(head + k, head + k - 1);
  }

  // What each module computes, so that its test can state the expected value.
  const compute: Array<(x: number) => number> = [];
  const specialists: SpecialistPlan[] = [];
  for (let i = 0; i < tasks; i++) {
    const name = nameOf(i);
    const [a, b, x] = [int(2, 9), int(1, 99), int(1, 20)];
    const dep = dependsOn.get(i);
    let source: string;
    if (dep === undefined) {
      compute.push((v) => v * a + b);
      source = `/** x times ${a}, plus ${b}. */\nfunction ${name}(x) {\n  return x * ${a} + ${b};\n}\n`;
    } else {
      const depName = nameOf(dep);
      const base = compute[dep] as (x: number) => number;
      compute.push((v) => base(v) + b);
      source =
        `const { ${depName} } = require('./${depName}.js');\n\n` +
        `/** ${depName}(x) plus ${b}. */\nfunction ${name}(x) {\n  return ${depName}(x) + ${b};\n}\n`;
    }
    const expected = (compute[i] as (x: number) => number)(x);
    const spec = moduleSpec(
      name,
      source,
      `test('${name} computes its value', () => {\n  assert.equal(${name}(${x}), ${expected});\n});\n`,
    );
    if (sharedEvery > 0 && i % sharedEvery === 0) {
      spec.files.push({
        path: 'src/index.js',
        content: `exports.${name} = require('./${name}.js').${name};\n`,
        append: true,
      });
    }
    if (sharedEvery > 0 && i % (2 * sharedEvery) === sharedEvery - 1) {
      spec.files.push({ path: 'CHANGELOG.md', content: `- ${name}: ${spec.commit}\n`, append: true });
    }
    if (dep !== undefined) spec.depends_on = [nameOf(dep)];
    else if (dependsOn.get(i + 1) === i) spec.priority = 1;
    specialists.push(spec);
  }
  return { name: 'generated', specialists };
}

/**
 * Names of the plan's tasks that share at least one file path with another task of the plan, in plan
 * order: the tasks the coordinator has to serialise (for reporting the share of conflicting tasks).
 */
export function overlappingTasks(plan: {
  specialists: readonly Pick<SpecialistPlan, 'name' | 'files'>[];
}): string[] {
  const tasksByPath = new Map<string, Set<string>>();
  for (const s of plan.specialists) {
    for (const f of s.files) {
      const names = tasksByPath.get(f.path) ?? new Set<string>();
      names.add(s.name);
      tasksByPath.set(f.path, names);
    }
  }
  const shared = new Set<string>();
  for (const names of tasksByPath.values()) if (names.size > 1) for (const n of names) shared.add(n);
  return plan.specialists.map((s) => s.name).filter((n) => shared.has(n));
}
