/** Small Redis chores shared by the tests and the benchmark: is a server there, and removing a key prefix. */
import { Redis } from 'ioredis';

/** Null when Redis answers PING at `url`, else why not. */
export async function redisUnreachable(url: string): Promise<string | null> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let cause: Error | undefined;
  redis.on('error', (err: Error) => (cause ??= err));
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    return (cause ?? (err instanceof Error ? err : new Error(String(err)))).message;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under the prefix (SCAN + UNLINK); returns how many. */
export async function deleteKeysUnder(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}
