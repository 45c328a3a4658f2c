import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TmuxClaudeError } from '../../core/index.js';
import { runStoreContract } from '../testing/store-contract.js';
import { SqliteStore } from './sqlite-store.js';

runStoreContract('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tc-store-'));
  return {
    open: () => Promise.resolve(new SqliteStore(join(dir, 'store.db'))),
    dispose: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
});

describe('sqlite store specifics', () => {
  it('keeps data across reopen (a restarted supervisor sees everything)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-store-'));
    try {
      const file = join(dir, 'store.db');
      const a = new SqliteStore(file);
      await a.meta.set('k', 'v');
      await a.close();
      const b = new SqliteStore(file);
      assert.equal(await b.meta.get('k'), 'v');
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with UNAVAILABLE and a hint when the file cannot be opened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-store-'));
    try {
      const notADir = join(dir, 'file');
      writeFileSync(notADir, 'x');
      assert.throws(
        () => new SqliteStore(join(notADir, 'store.db')),
        (e: unknown) => (e as TmuxClaudeError).code === 'UNAVAILABLE',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
