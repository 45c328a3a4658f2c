import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TmuxClaudeError } from '../../core/index.js';
import { runKnowledgeStoreContract } from '../testing/knowledge-contract.js';
import { runStoreContract, type StoreHarness } from '../testing/store-contract.js';
import { runTaskStoreContract } from '../testing/task-contract.js';
import { SqliteStore } from './sqlite-store.js';

function sqliteHarness(): StoreHarness {
  const dir = mkdtempSync(join(tmpdir(), 'tc-store-'));
  return {
    open: () => Promise.resolve(new SqliteStore(join(dir, 'store.db'))),
    dispose: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

runStoreContract('sqlite', sqliteHarness);
runTaskStoreContract('sqlite', sqliteHarness);
runKnowledgeStoreContract('sqlite', sqliteHarness);

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

  it('carries messages of the first release (one row per message) into messages and deliveries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-store-'));
    try {
      const file = join(dir, 'store.db');
      const old = new Database(file);
      old.exec(`CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL,
        sender TEXT NOT NULL, recipient TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, delivered_at INTEGER);
        INSERT INTO messages (id, run_id, sender, recipient, body, state, attempts, created_at)
          VALUES ('m1', 'r', 'a', 'b', 'first', 'pending', 0, 1), ('m2', 'r', 'a', 'b', 'second', 'failed', 5, 2);`);
      old.close();
      const store = new SqliteStore(file);
      const envelopes = await store.messages.list({ recipient: 'b' });
      assert.deepEqual(
        envelopes.map((e) => [e.message.id, e.message.body, e.delivery.state, e.delivery.attempts]),
        [
          ['m1', 'first', 'pending', 0],
          ['m2', 'second', 'dead', 5],
        ],
      );
      await store.close();
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
