import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { silentLogger, TmuxClaudeError } from '../core/index.js';
import type { Store } from '../store/index.js';
import { RedisStore } from '../store/redis/redis-store.js';
import {
  REDIS_URL,
  deleteKeys,
  randomPrefix,
  storeUrl,
  whenRedis,
} from '../store/redis/testing/redis-harness.js';
import { HostRegistry } from './hosts.js';

await whenRedis('host placement on Redis', () => {
  describe('HostRegistry placement and the host link (real Redis)', () => {
    const prefix = randomPrefix('placement');
    let store: Store;
    let registry: HostRegistry;
    let admin: Redis;

    before(async () => {
      store = new RedisStore(storeUrl(prefix));
      admin = new Redis(REDIS_URL);
      registry = new HostRegistry({
        store,
        config: { host: 'h1', hostTimeoutMs: 60_000, hostCapacity: 50 },
        log: silentLogger(),
      });
      await registry.start('http://127.0.0.1:1', {
        lost: async () => undefined,
        fenced: async () => undefined,
        registered: async () => undefined,
      });
      const now = Date.now();
      for (const id of ['h2', 'h3']) {
        await store.hosts.register(
          {
            id,
            incarnation: `${id}-1`,
            pid: process.pid,
            url: 'http://127.0.0.1:2',
            capacity: 50,
            startedAt: now,
          },
          now,
          0,
        );
      }
    });
    after(async () => {
      await registry?.stop(true);
      await store?.close();
      admin?.disconnect();
      await deleteKeys(prefix);
    });

    it('spreads spawns placed at the same moment over the hosts', async () => {
      const chosen: string[] = [];
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const spawns = Array.from({ length: 6 }, () =>
        registry.placed(undefined, async (host) => {
          chosen.push(host);
          await held; // every spawn is still in flight while the others are placed
          return host;
        }),
      );
      await new Promise((r) => setTimeout(r, 200));
      release();
      const hosts = await Promise.all(spawns);
      assert.deepEqual(hosts.sort(), chosen.sort());
      const per = new Map<string, number>();
      for (const h of hosts) per.set(h, (per.get(h) ?? 0) + 1);
      assert.deepEqual(Object.fromEntries([...per].sort()), { h1: 2, h2: 2, h3: 2 });
    });

    it('carries requests to another host and its answers or errors back, on reused connections', async () => {
      const link = store.link!;
      const seen: string[] = [];
      const stop = link.serve('h2', async (req) => {
        seen.push(req.kind);
        if (req.kind === 'fail')
          throw new TmuxClaudeError('NOT_FOUND', 'no such thing', { hint: 'look elsewhere' });
        return { echo: req.args };
      });
      try {
        const hostile = { text: `$(rm -rf /) "q" 'q' \n ünï ${'x'.repeat(10_000)}` };
        assert.deepEqual(await link.request('h2', 'echo', hostile, 5_000), { echo: hostile });
        await assert.rejects(
          link.request('h2', 'fail', {}, 5_000),
          (err: unknown) =>
            err instanceof TmuxClaudeError && err.code === 'NOT_FOUND' && err.hint === 'look elsewhere',
        );
        const connections = async (): Promise<number> =>
          Number(/total_connections_received:(\d+)/.exec(await admin.info('stats'))![1]);
        const before = await connections();
        for (let i = 0; i < 20; i++) await link.request('h2', 'echo', { i }, 5_000);
        assert.ok((await connections()) - before <= 1, 'requests wait on pooled connections');
        assert.equal(seen.length, 22);
      } finally {
        stop();
      }
    });

    it('says UNAVAILABLE when the host does not answer, and the late request is never run', async () => {
      const link = store.link!;
      await assert.rejects(
        link.request('h3', 'echo', {}, 1_000),
        (err: unknown) =>
          err instanceof TmuxClaudeError && err.code === 'UNAVAILABLE' && /h3/.test(err.message),
      );
      const ran: string[] = [];
      const stop = link.serve('h3', async (req) => void ran.push(req.kind));
      try {
        await link.request('h3', 'fresh', {}, 5_000);
        assert.deepEqual(ran, ['fresh'], 'the request past its deadline was dropped');
      } finally {
        stop();
      }
    });

    it('honours a named host and refuses an unknown one', async () => {
      assert.equal(await registry.place('h3'), 'h3');
      await assert.rejects(
        registry.place('nowhere'),
        (err: unknown) => err instanceof TmuxClaudeError && err.code === 'NOT_FOUND',
      );
    });
  });
});
