import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { EventInput, TmuxClaudeError } from '../../core/index.js';
import { openStore } from '../index.js';
import { runKnowledgeStoreContract } from '../testing/knowledge-contract.js';
import { runStoreContract } from '../testing/store-contract.js';
import { runTaskStoreContract } from '../testing/task-contract.js';
import { parseRedisTarget } from './redis-common.js';
import { RedisStore } from './redis-store.js';
import {
  REDIS_URL,
  deleteKeys,
  randomPrefix,
  redisHarness,
  storeUrl,
  whenRedis,
} from './testing/redis-harness.js';

function orphanEvent(session: string): EventInput {
  return { kind: 'tmux.orphan', actor: 'supervisor', instanceId: null, data: { session } };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('redis store: configuration', () => {
  it('takes the key prefix from the URL, defaulting to tmux-claude:, and masks the password', () => {
    assert.deepEqual(parseRedisTarget('redis://127.0.0.1:6379/2?prefix=org-a:'), {
      url: 'redis://127.0.0.1:6379/2',
      display: 'redis://127.0.0.1:6379/2',
      prefix: 'org-a:',
    });
    assert.equal(parseRedisTarget('redis://h:1').prefix, 'tmux-claude:');
    assert.equal(parseRedisTarget('rediss://u:secret@h:1/0').display, 'rediss://u:***@h:1/0');
    assert.throws(
      () => parseRedisTarget('redis://h:1?prefix='),
      (e: unknown) => (e as TmuxClaudeError).code === 'INVALID_ARGUMENT',
    );
  });

  it('openStore returns the Redis store for redis:// URLs', async () => {
    const store = openStore({ store: 'redis://127.0.0.1:1/0?prefix=x:', home: '/nonexistent' });
    assert.equal(store.backend, 'redis');
    await store.close();
  });

  it('fails fast with UNAVAILABLE naming the URL when Redis is down, for ping and for calls', async () => {
    const url = `redis://127.0.0.1:${await closedPort()}/0`;
    const store = new RedisStore(`${url}?prefix=down:`);
    try {
      const unavailable = (e: unknown) =>
        (e as TmuxClaudeError).code === 'UNAVAILABLE' &&
        (e as Error).message.includes(url) &&
        typeof (e as TmuxClaudeError).hint === 'string';
      await assert.rejects(store.ping(), unavailable);
      await assert.rejects(store.meta.get('k'), unavailable);
      await assert.rejects(store.tasks.list({ runId: 'r' }), unavailable);
    } finally {
      await store.close();
    }
  });
});

await whenRedis('redis store', () => {
  runStoreContract('redis', () => redisHarness('store'));
  runTaskStoreContract('redis', () => redisHarness('tasks'));
  runKnowledgeStoreContract('redis', () => redisHarness('knowledge'));

  describe('redis store specifics', () => {
    const prefix = randomPrefix('specifics');
    let raw: Redis;
    before(() => {
      raw = new Redis(REDIS_URL);
    });
    after(async () => {
      raw.disconnect();
      await deleteKeys(prefix);
    });

    /** A store under its own prefix holding n events. */
    async function withEvents(n: number, fn: (store: RedisStore, p: string) => Promise<void>): Promise<void> {
      const p = `${prefix}${Math.random().toString(36).slice(2, 8)}:`;
      const store = new RedisStore(storeUrl(p));
      try {
        await Promise.all(Array.from({ length: n }, (_, i) => store.events.append(orphanEvent(`s${i + 1}`))));
        await fn(store, p);
      } finally {
        await store.close();
      }
    }

    it('keeps every key under its prefix, and two prefixes apart', async () => {
      const pa = `${prefix}a:`;
      const pb = `${prefix}b:`;
      const a = new RedisStore(storeUrl(pa));
      const b = new RedisStore(storeUrl(pb));
      try {
        await a.meta.set('k', 'a');
        await b.meta.set('k', 'b');
        await a.events.append(orphanEvent('x'));
        await a.tasks.create([
          {
            id: 't1',
            runId: 'r',
            title: 't',
            description: '',
            dependsOn: [],
            files: ['a.ts'],
            priority: 0,
            createdBy: 'user',
            assignee: null,
            maxAttempts: 1,
            createdAt: 1,
          },
        ]);
        assert.equal(await a.meta.get('k'), 'a');
        assert.equal(await b.meta.get('k'), 'b');
        assert.equal(await b.tasks.get('t1'), null);
        assert.equal(await b.events.lastSeq(), 0);
        const keys = await raw.keys(`${prefix}*`);
        assert.ok(keys.length > 3);
        assert.ok(keys.every((k) => k.startsWith(pa) || k.startsWith(pb)));
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('forms one chain from concurrent appends of several connections', async () => {
      const p = `${prefix}chain:`;
      const stores = [0, 1, 2].map(() => new RedisStore(storeUrl(p)));
      try {
        await Promise.all(
          stores.flatMap((s, i) =>
            Array.from({ length: 50 }, (_, j) => s.events.append(orphanEvent(`${i}-${j}`))),
          ),
        );
        const report = await stores[0]!.events.verify();
        assert.deepEqual(report.ok && [report.events, report.head.seq], [150, 150]);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
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

    it('verifies a log longer than one page', async () => {
      await withEvents(2_100, async (store) => {
        const report = await store.events.verify();
        assert.deepEqual(report.ok && [report.events, report.head.seq], [2_100, 2_100]);
      });
    });

    /** Rewrites the event stream through `change` (a stream entry cannot be edited in place). */
    async function rewrite(
      p: string,
      change: (seq: number, fields: string[]) => string[] | null,
    ): Promise<void> {
      const log = `${p}ev-log`;
      const entries = await raw.xrange(log, '-', '+');
      const copy = `${log}:copy`;
      for (const [id, fields] of entries) {
        const changed = change(Number(id.split('-')[0]), fields);
        if (changed) await raw.xadd(copy, id, ...changed);
      }
      await raw.rename(copy, log);
    }

    const tampering: Array<{
      what: string;
      change: (seq: number, fields: string[]) => string[] | null;
      seq: number;
      kind: string;
      events: number;
    }> = [
      {
        what: 'the data of a middle event',
        change: (seq, f) => (seq === 3 ? f.map((v, i) => (f[i - 1] === 'data' ? '{"session":"x"}' : v)) : f),
        seq: 3,
        kind: 'edited',
        events: 2,
      },
      {
        what: 'the kind of an event',
        change: (seq, f) => (seq === 2 ? f.map((v, i) => (f[i - 1] === 'kind' ? 'tool.called' : v)) : f),
        seq: 2,
        kind: 'edited',
        events: 1,
      },
      {
        what: 'a middle event deleted',
        change: (seq, f) => (seq === 3 ? null : f),
        seq: 3,
        kind: 'deleted',
        events: 2,
      },
      {
        what: 'the last event deleted',
        change: (seq, f) => (seq === 5 ? null : f),
        seq: 5,
        kind: 'head-mismatch',
        events: 4,
      },
    ];
    for (const t of tampering) {
      it(`detects ${t.what} outside tmux-claude: ${t.kind} at event #${t.seq}`, async () => {
        await withEvents(5, async (_store, p) => {
          await rewrite(p, t.change);
          const fresh = new RedisStore(storeUrl(p));
          try {
            const report = await fresh.events.verify();
            assert.equal(report.ok, false);
            assert.deepEqual(!report.ok && [report.problem.seq, report.problem.kind, report.events], [
              t.seq,
              t.kind,
              t.events,
            ]);
          } finally {
            await fresh.close();
          }
        });
      });
    }

    it('detects an event removed with XDEL, and keeps the evidence of a deleted newest one when appending goes on', async () => {
      await withEvents(3, async (store, p) => {
        await raw.xdel(`${p}ev-log`, '3-0');
        assert.equal((await store.events.append(orphanEvent('later'))).seq, 4);
        const report = await store.events.verify();
        assert.deepEqual(!report.ok && [report.problem.seq, report.problem.kind], [3, 'deleted']);
      });
    });

    it('refuses FTS5 syntax it does not implement (NEAR, ^, +) with INVALID_ARGUMENT', async () => {
      const store = new RedisStore(storeUrl(`${prefix}fts:`));
      try {
        for (const text of ['NEAR(a b)', '^start', 'a + b', '{key value}: x']) {
          await assert.rejects(
            store.knowledge.query({ runId: 'r', text, syntax: 'fts', limit: 5 }),
            (e: unknown) => (e as TmuxClaudeError).code === 'INVALID_ARGUMENT',
            text,
          );
        }
      } finally {
        await store.close();
      }
    });
  });
});
