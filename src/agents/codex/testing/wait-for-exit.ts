import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function running(pid: number): boolean {
  try {
    // Field 3 of /proc/<pid>/stat is the state; a zombie has exited, it only waits to be reaped.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Waits until none of the processes runs any more (bounded; resolves either way). Agent CLIs write their
 * session files while they shut down, so a test removes its temp dir only after they are gone.
 */
export async function waitForExit(pids: readonly number[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(running) && Date.now() < deadline) await sleep(50);
}
