import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger, TmuxClaudeError } from '../core/index.js';
import type { Store } from '../store/index.js';
import { RedisStore } from '../store/redis/redis-store.js';
import { deleteKeys, randomPrefix, storeUrl, whenRedis } from '../store/redis/testing/redis-harness.js';
import { HostRegistry } from './hosts.js';

await whenRedis('host placement on Redis', () => {
  describe('HostRegistry placement (real Redis)', () => {
    const prefix = randomPrefix('placement');
    let store: Store;
    let registry: HostRegistry;

    before(async () => {
      store = new RedisStore(storeUrl(prefix));
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

    it('honours a named host and refuses an unknown one', async () => {
      assert.equal(await registry.place('h3'), 'h3');
      await assert.rejects(
        registry.place('nowhere'),
        (err: unknown) => err instanceof TmuxClaudeError && err.code === 'NOT_FOUND',
      );
    });
  });
});
