import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTaskContention } from '../testing/task-contention.js';
import { deleteKeys, randomPrefix, storeUrl, whenRedis } from './testing/redis-harness.js';

await whenRedis('task contention: redis', () => {
  runTaskContention('redis', () => {
    const home = mkdtempSync(join(tmpdir(), 'tc-contention-'));
    const prefix = randomPrefix('contention');
    return {
      config: { store: storeUrl(prefix), home },
      dispose: async () => {
        rmSync(home, { recursive: true, force: true });
        await deleteKeys(prefix);
      },
    };
  });
});
