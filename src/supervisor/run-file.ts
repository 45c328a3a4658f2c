import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { TmuxClaudeError, type Paths } from '../core/index.js';

/** What a running supervisor publishes in run/supervisor.json (mode 0600: it holds the admin token). */
export interface SupervisorInfo {
  pid: number;
  port: number;
  url: string;
  token: string;
  home: string;
  store: string;
  startedAt: number;
}

export function readSupervisorInfo(paths: Paths): SupervisorInfo | null {
  try {
    return JSON.parse(readFileSync(paths.supervisorFile, 'utf8')) as SupervisorInfo;
  } catch {
    return null;
  }
}

export function writeSupervisorInfo(paths: Paths, info: SupervisorInfo): void {
  mkdirSync(dirname(paths.supervisorFile), { recursive: true, mode: 0o700 });
  const tmp = `${paths.supervisorFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info, null, 2), { mode: 0o600 });
  renameSync(tmp, paths.supervisorFile);
}

export function removeSupervisorInfo(paths: Paths, pid: number): void {
  if (readSupervisorInfo(paths)?.pid === pid) rmSync(paths.supervisorFile, { force: true });
}

/**
 * True while `pid` runs. A zombie (killed, not yet reaped: a detached supervisor's parent is init, which in a
 * container may reap late or never) counts as dead, or a crashed supervisor's lock would never go stale.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name (which may itself hold spaces or parentheses).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ', 1)[0] !== 'Z';
  } catch {
    return !existsSync('/proc/self/stat'); // gone meanwhile; without procfs (macOS) signal 0 is all we have
  }
}

/**
 * Takes the per-home supervisor lock (a file holding the owner's pid, created with O_EXCL). A lock whose
 * owner is dead is stale and replaced. Throws CONFLICT when a live supervisor holds it.
 */
export function acquireSupervisorLock(paths: Paths): () => void {
  mkdirSync(dirname(paths.supervisorLock), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(paths.supervisorLock, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(paths.supervisorLock, 'utf8').trim() === String(process.pid))
            rmSync(paths.supervisorLock);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(paths.supervisorLock, 'utf8').trim());
      if (owner && owner !== process.pid && isProcessAlive(owner)) {
        throw new TmuxClaudeError(
          'CONFLICT',
          `a supervisor (pid ${owner}) is already running for ${paths.home}`,
          {
            hint: 'use it (`tmux-claude status`) or stop it with `tmux-claude down`',
          },
        );
      }
      rmSync(paths.supervisorLock, { force: true });
    }
  }
  throw new TmuxClaudeError('CONFLICT', `could not take the supervisor lock ${paths.supervisorLock}`);
}
