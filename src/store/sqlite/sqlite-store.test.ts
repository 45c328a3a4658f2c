import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { EventInput, TmuxClaudeError } from '../../core/index.js';
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

function orphanEvent(session: string): EventInput {
  return { kind: 'tmux.orphan', actor: 'supervisor', instanceId: null, data: { session } };
}

/** A store in a temp dir holding n events; `close` closes it early (to tamper with the file). */
async function withEvents(
  n: number,
  fn: (store: SqliteStore, file: string, close: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tc-store-'));
  const file = join(dir, 'store.db');
  const store = new SqliteStore(file);
  let open = true;
  const close = async (): Promise<void> => {
    if (open) await store.close();
    open = false;
  };
  try {
    for (let i = 1; i <= n; i += 1) await store.events.append(orphanEvent(`s${i}`));
    await fn(store, file, close);
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
}

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

  it('chains the events of a store from before the audit trail had hashes, once, and goes on from them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-store-'));
    try {
      const file = join(dir, 'store.db');
      const old = new Database(file);
      old.exec(`CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
        instance_id TEXT, data TEXT NOT NULL);
        INSERT INTO events (ts, kind, actor, instance_id, data) VALUES
          (1, 'tmux.orphan', 'supervisor', NULL, '{"session":"a"}'),
          (2, 'tool.called', 'exec-1', 'exec-1', '{"tool":"spawn","ok":true}'),
          (3, 'supervisor.stopped', 'supervisor', NULL, '{"pid":7}');`);
      old.close();
      const store = new SqliteStore(file);
      const events = await store.events.list();
      assert.deepEqual(
        events.map((e) => [e.seq, e.kind, e.data]),
        [
          [1, 'tmux.orphan', { session: 'a' }],
          [2, 'tool.called', { tool: 'spawn', ok: true }],
          [3, 'supervisor.stopped', { pid: 7 }],
        ],
      );
      assert.equal(events[0]?.prevHash, '0'.repeat(64));
      assert.equal(events[1]?.prevHash, events[0]?.hash);
      assert.deepEqual(await store.events.verify(), {
        ok: true,
        events: 3,
        head: { seq: 3, hash: events[2]?.hash },
      });
      const next = await store.events.append(orphanEvent('b'));
      assert.equal(next.seq, 4);
      assert.equal(next.prevHash, events[2]?.hash);
      await store.close();
      const again = new SqliteStore(file);
      assert.deepEqual(await again.events.verify(), {
        ok: true,
        events: 4,
        head: { seq: 4, hash: next.hash },
      });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('verifies an empty event log', async () => {
    await withEvents(0, async (store) => {
      assert.deepEqual(await store.events.verify(), {
        ok: true,
        events: 0,
        head: { seq: 0, hash: '0'.repeat(64) },
      });
    });
  });

  const tampering: Array<{ what: string; sql: string; seq: number; kind: string; events: number }> = [
    {
      what: 'the data of a middle event',
      sql: `UPDATE events SET data = '{"session":"x"}' WHERE seq = 3`,
      seq: 3,
      kind: 'edited',
      events: 2,
    },
    {
      what: 'the kind of an event',
      sql: `UPDATE events SET kind = 'tool.called' WHERE seq = 2`,
      seq: 2,
      kind: 'edited',
      events: 1,
    },
    {
      what: 'a middle event deleted',
      sql: 'DELETE FROM events WHERE seq = 3',
      seq: 3,
      kind: 'deleted',
      events: 2,
    },
    {
      what: 'the last event deleted',
      sql: 'DELETE FROM events WHERE seq = 5',
      seq: 5,
      kind: 'head-mismatch',
      events: 4,
    },
  ];
  for (const t of tampering) {
    it(`detects ${t.what} outside tmux-claude: ${t.kind} at event #${t.seq}`, async () => {
      await withEvents(5, async (_store, file, close) => {
        await close();
        const db = new Database(file);
        db.exec(t.sql);
        db.close();
        const store = new SqliteStore(file);
        try {
          const report = await store.events.verify();
          assert.equal(report.ok, false);
          assert.deepEqual(!report.ok && [report.problem.seq, report.problem.kind, report.events], [
            t.seq,
            t.kind,
            t.events,
          ]);
        } finally {
          await store.close();
        }
      });
    });
  }

  it('keeps the evidence of a deleted newest event when appending goes on', async () => {
    await withEvents(3, async (_store, file, close) => {
      await close();
      const db = new Database(file);
      db.exec('DELETE FROM events WHERE seq = 3');
      db.close();
      const store = new SqliteStore(file);
      try {
        assert.equal((await store.events.append(orphanEvent('later'))).seq, 4);
        const report = await store.events.verify();
        assert.deepEqual(!report.ok && [report.problem.seq, report.problem.kind], [3, 'deleted']);
      } finally {
        await store.close();
      }
    });
  });

  it('verifies a log longer than one page', async () => {
    await withEvents(2_100, async (store) => {
      const report = await store.events.verify();
      assert.deepEqual(report.ok && [report.events, report.head.seq], [2_100, 2_100]);
    });
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
