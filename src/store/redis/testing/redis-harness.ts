import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { StoreHarness } from '../../testing/store-contract.js';
import { deleteKeysUnder, redisUnreachable as unreachable } from '../redis-admin.js';
import { RedisStore } from '../redis-store.js';

/** The Redis the tests use: REDIS_URL, else the machine's own. */
export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** Null when Redis answers PING at `url`, else why not. */
export function redisUnreachable(url = REDIS_URL): Promise<string | null> {
  return unreachable(url);
}

/** A key prefix no other test uses. */
export function randomPrefix(name = 'test'): string {
  return `tc-${name}-${randomBytes(5).toString('hex')}:`;
}

/** The store URL for a prefix on the test Redis. */
export function storeUrl(prefix: string, url = REDIS_URL): string {
  const u = new URL(url);
  u.searchParams.set('prefix', prefix);
  return u.href;
}

/** Deletes every key under the prefix (SCAN + UNLINK), e.g. after a test file. */
export function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  return deleteKeysUnder(url, prefix);
}

/** A fresh prefix per suite run, its keys deleted afterwards. */
export function redisHarness(name = 'store'): StoreHarness {
  const prefix = randomPrefix(name);
  return {
    open: () => Promise.resolve(new RedisStore(storeUrl(prefix))),
    dispose: async () => {
      await deleteKeys(prefix);
    },
  };
}

/**
 * Registers Redis-backed suites when Redis answers. Otherwise a local run shows a skipped test with the reason
 * (and a notice on stderr); with CI set, the run fails instead: CI must run the Redis suites.
 */
export async function whenRedis(name: string, register: () => void): Promise<void> {
  const reason = await redisUnreachable();
  if (reason === null) {
    register();
    return;
  }
  const notice = `Redis at ${REDIS_URL} is not reachable (${reason}): start redis-server or set REDIS_URL`;
  if (process.env.CI) {
    describe(name, () => {
      it('needs a reachable Redis in CI', () => assert.fail(notice));
    });
    return;
  }
  process.stderr.write(`NOTICE: skipping ${name}: ${notice}\n`);
  describe(name, () => {
    it(`${name} (skipped)`, { skip: notice }, () => {});
  });
}
