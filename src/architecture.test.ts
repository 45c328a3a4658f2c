import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

/**
 * The component layering of ARCHITECTURE.md, checked on production code (tests and `testing/` helpers may
 * reach across). A component may import only the components listed for it.
 */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  store: ['core'],
  tmux: ['core'],
  git: ['core'],
  prompts: ['core'],
  bus: ['core', 'store'],
  coordinator: ['core', 'store'],
  knowledge: ['core', 'store'],
  mcp: ['core'],
  agents: ['core'],
  'scripted-model': ['core', 'prompts'],
  web: ['core'],
  supervisor: [
    'core',
    'store',
    'bus',
    'coordinator',
    'knowledge',
    'tmux',
    'git',
    'agents',
    'mcp',
    'prompts',
    'web',
  ],
  demo: ['core', 'git', 'mcp', 'scripted-model', 'supervisor'],
  cli: ['core', 'store', 'mcp', 'supervisor', 'demo'],
  bench: [
    'core',
    'store',
    'bus',
    'coordinator',
    'tmux',
    'git',
    'mcp',
    'supervisor',
    'demo',
    'scripted-model',
    'cli',
  ],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'testing' ? [] : sources(p);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('architecture', () => {
  it('every component imports only the components beneath it', () => {
    const violations: string[] = [];
    for (const file of sources('src')) {
      const component = relative('src', file).split('/')[0]!;
      if (!(component in ALLOWED)) {
        if (file.endsWith('.ts') && relative('src', file).includes('/'))
          violations.push(`${file}: unknown component`);
        continue;
      }
      for (const m of readFileSync(file, 'utf8').matchAll(/from '((?:\.\.\/)+)([a-z-]+)\//g)) {
        const depth = m[1]!.length / 3;
        const inComponent = relative('src', file).split('/').length - 1;
        if (depth < inComponent) continue; // a sibling folder inside the same component
        const target = m[2]!;
        if (target !== component && !ALLOWED[component]!.includes(target)) {
          violations.push(`${file} imports ${target}`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  it('components expose themselves through index.ts and import each other only through it', () => {
    const violations: string[] = [];
    for (const file of sources('src')) {
      const parts = relative('src', file).split('/');
      for (const m of readFileSync(file, 'utf8').matchAll(/from '((?:\.\.\/)+)([a-z-]+)\/([^']+)'/g)) {
        const depth = m[1]!.length / 3;
        if (depth < parts.length - 1) continue;
        if (m[3] !== 'index.js') violations.push(`${file} reaches into ${m[2]}/${m[3]}`);
      }
    }
    assert.deepEqual(violations, []);
  });
});
