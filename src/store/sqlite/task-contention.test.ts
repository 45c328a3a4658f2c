import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTaskContention } from '../testing/task-contention.js';

runTaskContention('sqlite', () => {
  const home = mkdtempSync(join(tmpdir(), 'tc-contention-'));
  return {
    config: { store: 'sqlite', home },
    dispose: () => Promise.resolve(rmSync(home, { recursive: true, force: true })),
  };
});
