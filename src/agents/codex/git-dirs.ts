import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';

async function readTrimmed(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * The directories outside a linked worktree that `git commit` in it writes: the worktree's admin dir
 * (`<common>/worktrees/<name>`: HEAD, index) and the shared object store, refs and reflogs. Codex's
 * workspace-write sandbox keeps anything under a `.git` read-only unless listed as a writable root, so a
 * Specialist could not commit without them. Empty for a cwd that is not a linked worktree (git's own layout:
 * a `.git` file saying `gitdir: <dir>`, and `<dir>/commondir`).
 */
export async function worktreeGitDirs(cwd: string): Promise<string[]> {
  const dotGit = join(cwd, '.git');
  const st = await stat(dotGit).catch(() => undefined);
  if (!st?.isFile()) return [];
  const pointer = /^gitdir:\s*(.+)$/m.exec((await readTrimmed(dotGit)) ?? '')?.[1];
  if (!pointer) return [];
  const gitDir = isAbsolute(pointer) ? pointer : resolve(cwd, pointer);
  const common = await readTrimmed(join(gitDir, 'commondir'));
  if (!common) return [gitDir];
  const commonDir = isAbsolute(common) ? common : resolve(gitDir, common);
  const dirs = [gitDir, join(commonDir, 'objects'), join(commonDir, 'refs'), join(commonDir, 'logs')];
  // A repository without reflogs has no logs/ yet; a writable root must exist.
  const exists = await Promise.all(
    dirs.map(async (d) => (await stat(d).catch(() => undefined))?.isDirectory()),
  );
  return dirs.filter((_, i) => exists[i] === true);
}
