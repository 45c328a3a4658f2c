import { mkdir, realpath, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CommandError, TmuxClaudeError, notFound, runCommand } from '../core/index.js';
import type { RunResult } from '../core/index.js';

export interface GitOptions {
  /** The git binary; default `git` (found on PATH). */
  gitBin?: string;
  /** Timeout for each git call; default 30000 ms. */
  timeoutMs?: number;
}

/** The result of {@link Git.merge}. */
export interface MergeResult {
  /** The commit the target branch points at afterwards. */
  commit: string;
  /** The source was already contained in the target; nothing changed. */
  alreadyMerged: boolean;
  /** The target branch was fast-forwarded to the source (no merge commit). */
  fastForward: boolean;
  /** Number of commits of the source that the target did not have before. */
  commits: number;
}

/** One entry of `git worktree list`. */
export interface WorktreeInfo {
  path: string;
  /** Commit checked out; undefined for a bare entry. */
  head: string | undefined;
  /** Short branch name, or null when detached (or bare). */
  branch: string | null;
  bare: boolean;
  /** Its directory is gone; `git worktree prune` will drop it. */
  prunable: boolean;
}

const DEFAULT_NAME = 'tmux-claude';
const DEFAULT_EMAIL = 'tmux-claude@localhost';

/** Variables that would point git at another repository than the one we pass with `-C`. */
const REPO_ENV_VARS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of REPO_ENV_VARS) delete env[name];
  // Never wait for a prompt or an editor; C locale so messages parse the same everywhere.
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_EDITOR = 'true';
  env.GIT_MERGE_AUTOEDIT = 'no';
  env.LC_ALL = 'C';
  return env;
}

const NOT_A_REPO = /not a git repository|cannot change to/;

interface RunOpts {
  allowExitCodes?: number[];
  env?: NodeJS.ProcessEnv;
  /** Do not turn "not a repository" into INVALID_ARGUMENT. */
  raw?: boolean;
}

/** Runs `git -C dir …`; exit 128 for a missing dir or non-repository becomes INVALID_ARGUMENT. */
async function runGit(
  git: { gitBin: string; timeoutMs: number },
  dir: string,
  args: string[],
  opts: RunOpts = {},
): Promise<RunResult> {
  try {
    // `-C dir` rather than spawn's cwd: a missing cwd would surface as ENOENT, i.e. "git is not installed".
    return await runCommand([git.gitBin, '-C', dir, ...args], {
      timeoutMs: git.timeoutMs,
      env: { ...gitEnv(), ...opts.env },
      ...(opts.allowExitCodes ? { allowExitCodes: opts.allowExitCodes } : {}),
    });
  } catch (err) {
    if (!opts.raw && err instanceof CommandError && err.exitCode === 128 && NOT_A_REPO.test(err.stderr)) {
      throw notARepo(dir, err);
    }
    throw err;
  }
}

/**
 * Thin wrapper over the git CLI. Every call runs `git -C <dir> …` from an argument array with a timeout.
 * Refs given by callers are resolved to commit ids before they reach any other git command, so a ref can
 * never be read as an option. Errors are TmuxClaudeError: DEPENDENCY_MISSING (no git), INVALID_ARGUMENT (not
 * a repository, bad name or path), NOT_FOUND (unknown ref), CONFLICT, MERGE_CONFLICT, UNMERGED_WORK, or
 * CommandError (EXTERNAL_COMMAND_FAILED) for anything else git refused.
 *
 * Merges into one repository are serialized inside an instance: share one Git per process.
 */
export class Git {
  readonly gitBin: string;
  readonly timeoutMs: number;
  private readonly repoChains = new Map<string, Promise<void>>();
  /** Orders the repository lookups so merges queue in call order. */
  private mergeEntry: Promise<unknown> = Promise.resolve();

  constructor(opts: GitOptions = {}) {
    this.gitBin = opts.gitBin ?? 'git';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** `git version`, e.g. `2.39.5`. Throws DEPENDENCY_MISSING when git is absent. */
  async version(): Promise<string> {
    const { stdout } = await runCommand([this.gitBin, 'version'], {
      timeoutMs: this.timeoutMs,
      env: gitEnv(),
    });
    const m = /git version (\S+)/.exec(stdout);
    return m?.[1] ?? stdout.trim();
  }

  /** True when dir is (inside) a git working tree. A missing dir is not a repository. */
  async isRepo(dir: string): Promise<boolean> {
    const res = await runGit(this, dir, ['rev-parse', '--is-inside-work-tree'], {
      allowExitCodes: [128],
      raw: true,
    });
    return res.exitCode === 0 && res.stdout.trim() === 'true';
  }

  /**
   * Returns the repository's top-level directory (real path).
   * Throws INVALID_ARGUMENT "<dir> is not a git repository (run git init or pass --repo)".
   */
  async assertRepo(dir: string): Promise<string> {
    if (!(await this.isRepo(dir))) throw notARepo(dir);
    const { stdout } = await this.run(dir, ['rev-parse', '--show-toplevel']);
    return realpath(stdout.replace(/\n$/, ''));
  }

  /** The branch checked out in dir's worktree, or null when HEAD is detached. */
  async currentBranch(repo: string): Promise<string | null> {
    const res = await this.run(repo, ['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowExitCodes: [1] });
    return res.exitCode === 0 ? res.stdout.trim() : null;
  }

  /** The commit id a ref (branch, tag, sha, `HEAD~2`…) names. Throws NOT_FOUND when it names no commit. */
  async resolve(repo: string, ref: string): Promise<string> {
    const res = await this.run(
      repo,
      ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`],
      {
        allowExitCodes: [1, 128],
      },
    );
    if (res.exitCode === 128 && NOT_A_REPO.test(res.stderr)) throw notARepo(repo);
    if (res.exitCode !== 0) throw notFound('git ref', ref, 'check the branch name with `git branch --list`');
    return res.stdout.trim();
  }

  async branchExists(repo: string, name: string): Promise<boolean> {
    await this.assertBranchName(repo, name);
    const res = await this.run(repo, ['show-ref', '--verify', '--quiet', `refs/heads/${name}`], {
      allowExitCodes: [1],
    });
    return res.exitCode === 0;
  }

  /** Creates branch `name` at `from`. Throws CONFLICT if it exists, NOT_FOUND if `from` is unknown. */
  async createBranch(repo: string, name: string, from: string): Promise<void> {
    await this.assertBranchName(repo, name);
    const sha = await this.resolve(repo, from);
    // An empty old value makes update-ref fail atomically if the branch already exists.
    const res = await this.run(
      repo,
      ['update-ref', '-m', `branch: Created from ${from}`, `refs/heads/${name}`, sha, ''],
      { allowExitCodes: [128] },
    );
    if (res.exitCode !== 0) {
      if (await this.branchExists(repo, name)) throw branchExistsError(name);
      throw new CommandError([this.gitBin, 'update-ref', `refs/heads/${name}`], {
        exitCode: res.exitCode,
        stderr: res.stderr,
        timedOut: false,
      });
    }
  }

  /**
   * `git worktree add -b branch path from`. The path must lie outside the repository (its working tree and
   * git dir): INVALID_ARGUMENT otherwise. Throws CONFLICT if the branch exists, NOT_FOUND if `from` is
   * unknown; git itself refuses a non-empty existing path. Parent directories are created.
   */
  async addWorktree(repo: string, path: string, branch: string, from: string): Promise<void> {
    const top = await this.assertRepo(repo);
    const target = resolve(path);
    const realTarget = await realpathOfNearest(target);
    const commonDir = await this.commonDir(top);
    for (const root of [top, commonDir]) {
      if (isWithin(root, realTarget)) {
        throw new TmuxClaudeError(
          'INVALID_ARGUMENT',
          `worktree path ${target} is inside the repository ${root}`,
          {
            hint: 'put worktrees outside the repository (tmux-claude keeps them under its home dir)',
          },
        );
      }
    }
    await this.assertBranchName(top, branch);
    const sha = await this.resolve(top, from);
    if (await this.branchExists(top, branch)) throw branchExistsError(branch);
    // Concurrent `worktree add`s on one repository trip over each other's half-made records: one at a time.
    await this.serialized(commonDir, () =>
      this.run(top, ['worktree', 'add', '--quiet', '-b', branch, '--', target, sha]),
    );
  }

  /**
   * Removes the worktree at `path` and prunes stale worktree records. A missing path is harmless (only the
   * prune runs). Unless `force`, refuses with UNMERGED_WORK when the worktree has uncommitted or untracked
   * changes, when `branch` has commits not in `mergedInto`, or when the worktree's HEAD is not in
   * `mergedInto`. Never deletes the branch. INVALID_ARGUMENT if path is the main worktree or not a worktree
   * of repo; NOT_FOUND if `mergedInto` is unknown.
   */
  async removeWorktree(
    repo: string,
    path: string,
    opts: { branch: string; mergedInto: string; force?: boolean },
  ): Promise<void> {
    const top = await this.assertRepo(repo);
    const target = resolve(path);
    const commonDir = await this.commonDir(top);
    if (!(await exists(target))) {
      await this.serialized(commonDir, () => this.run(top, ['worktree', 'prune']));
      return;
    }
    const realTarget = await realpath(target);
    const worktrees = await this.listWorktrees(top);
    const index = worktrees.findIndex((w) => w.path === realTarget || w.path === target);
    const entry = worktrees[index];
    if (!entry) {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `${target} is not a worktree of ${top}`, {
        hint: 'pass the path of a worktree listed by `git worktree list`',
      });
    }
    if (index === 0) {
      throw new TmuxClaudeError(
        'INVALID_ARGUMENT',
        `${target} is the main working tree of ${top}; refusing to remove it`,
      );
    }
    if (!opts.force) {
      const dirty = await this.dirtyFiles(entry.path, true);
      if (dirty.length > 0) {
        throw new TmuxClaudeError(
          'UNMERGED_WORK',
          `worktree ${entry.path} has uncommitted changes (${summarize(dirty)})`,
          {
            hint: 'commit the changes and merge the branch first, or discard them explicitly with force',
            details: { path: entry.path, files: dirty },
          },
        );
      }
      const into = await this.resolve(top, opts.mergedInto);
      if (await this.branchExists(top, opts.branch))
        await this.assertMerged(top, opts.branch, opts.mergedInto);
      if (entry.head && !(await this.isAncestor(top, entry.head, into))) {
        throw new TmuxClaudeError(
          'UNMERGED_WORK',
          `worktree ${entry.path} is at ${entry.head.slice(0, 12)}, which is not merged into ${opts.mergedInto}`,
          {
            hint: `merge it into ${opts.mergedInto} first, or discard it explicitly with force`,
            details: { path: entry.path, head: entry.head, mergedInto: opts.mergedInto },
          },
        );
      }
    }
    await this.serialized(commonDir, async () => {
      await this.run(top, ['worktree', 'remove', ...(opts.force ? ['--force'] : []), '--', entry.path]);
      await this.run(top, ['worktree', 'prune']);
    });
  }

  /** Commits in `branch` not reachable from `base` (`git rev-list --count base..branch`); merges excluded on request. */
  async commitsAhead(
    repo: string,
    branch: string,
    base: string,
    opts: { noMerges?: boolean } = {},
  ): Promise<number> {
    const [b, t] = await Promise.all([this.resolve(repo, branch), this.resolve(repo, base)]);
    return this.countBetween(repo, t, b, opts.noMerges);
  }

  /** True when every commit of `branch` is reachable from `into`. NOT_FOUND for an unknown ref. */
  async isMerged(repo: string, branch: string, into: string): Promise<boolean> {
    const [b, t] = await Promise.all([this.resolve(repo, branch), this.resolve(repo, into)]);
    return this.isAncestor(repo, b, t);
  }

  /**
   * `git add -A && git commit -m message` in dir (a worktree). Returns the new commit id, or null when there
   * was nothing to commit. A missing user.name/user.email is filled in with tmux-claude's own identity.
   * Hooks of the repository run; a failing hook rejects with CommandError.
   */
  async commitAll(dir: string, message: string): Promise<string | null> {
    await this.run(dir, ['add', '-A']);
    const staged = await this.run(dir, ['diff', '--cached', '--quiet'], { allowExitCodes: [1] });
    if (staged.exitCode === 0) return null;
    const ident = await this.identityArgs(dir);
    await this.run(dir, [...ident, 'commit', '--quiet', '--no-edit', '-m', message]);
    return (await this.run(dir, ['rev-parse', 'HEAD'])).stdout.trim();
  }

  /**
   * Merges `source` (any commit-ish) into branch `into` without touching any working tree but `into`'s own:
   * the merge is computed with `git merge-tree --write-tree` and `git commit-tree`, then the branch is moved.
   * If `into` is checked out in a worktree, that worktree must be clean (tracked files; untracked files are
   * kept and git refuses to overwrite them) and follows via `merge --ff-only`; otherwise the ref is moved
   * with a compare-and-swap `update-ref`.
   *
   * Merges into one repository are serialized within this Git instance. Throws MERGE_CONFLICT (details.files
   * = conflicting paths, details.messages = git's conflict messages) leaving `into` unchanged, CONFLICT when
   * the checked-out worktree is dirty or the branch moved concurrently, NOT_FOUND for unknown refs,
   * INVALID_ARGUMENT for histories without a common ancestor.
   */
  async merge(repo: string, opts: { source: string; into: string; message: string }): Promise<MergeResult> {
    const key = this.mergeEntry.then(() => this.commonDir(repo));
    this.mergeEntry = key.catch(() => undefined);
    return this.serialized(await key, () => this.mergeNow(repo, opts));
  }

  /**
   * Deletes branch `name`. Unless `force`, refuses with UNMERGED_WORK when it has commits not in
   * `mergedInto`. Throws CONFLICT when the branch is checked out in a worktree (remove the worktree first).
   * Deleting a branch that does not exist is a no-op, so cleanup can be retried.
   */
  async deleteBranch(
    repo: string,
    name: string,
    opts: { mergedInto: string; force?: boolean },
  ): Promise<void> {
    if (!(await this.branchExists(repo, name))) return;
    const sha = await this.resolve(repo, `refs/heads/${name}`);
    const holder = (await this.listWorktrees(repo)).find((w) => w.branch === name && !w.prunable);
    if (holder) {
      throw new TmuxClaudeError('CONFLICT', `branch ${name} is checked out in ${holder.path}`, {
        hint: 'remove that worktree first',
        details: { branch: name, path: holder.path },
      });
    }
    if (!opts.force) await this.assertMerged(repo, `refs/heads/${name}`, opts.mergedInto, name);
    // The old value makes the delete fail if commits landed on the branch after the check above.
    const res = await this.run(repo, ['update-ref', '-d', `refs/heads/${name}`, sha], {
      allowExitCodes: [128],
    });
    if (res.exitCode !== 0) {
      throw new TmuxClaudeError('CONFLICT', `branch ${name} changed while it was being deleted`, {
        hint: 'check its new commits and retry',
        details: { branch: name, stderr: res.stderr.trim() },
      });
    }
  }

  /**
   * Paths changed on `branch` since its merge-base with `base` (renames count as both paths), sorted.
   * Without a common ancestor, every path of `branch`.
   */
  async changedFiles(repo: string, branch: string, base: string): Promise<string[]> {
    const [b, t] = await Promise.all([this.resolve(repo, branch), this.resolve(repo, base)]);
    const mb = await this.run(repo, ['merge-base', t, b], { allowExitCodes: [1] });
    const args =
      mb.exitCode === 0
        ? ['diff-tree', '-r', '-z', '--name-only', '--no-renames', mb.stdout.trim(), b]
        : ['ls-tree', '-r', '-z', '--name-only', b];
    const { stdout } = await this.run(repo, args);
    return splitNul(stdout).sort();
  }

  /**
   * Paths with uncommitted changes in a worktree: modified, staged, deleted, untracked (not ignored), and both
   * sides of a rename. Sorted.
   */
  async uncommittedFiles(dir: string): Promise<string[]> {
    const { stdout } = await this.run(dir, ['status', '--porcelain=v1', '-z', '--untracked-files=all']);
    const fields = stdout.split('\0');
    const out = new Set<string>();
    for (let i = 0; i < fields.length; i++) {
      const entry = fields[i] ?? '';
      if (entry.length < 4) continue;
      out.add(entry.slice(3));
      // A rename or copy is followed by its source path as a field of its own.
      if (entry[0] === 'R' || entry[0] === 'C') out.add(fields[++i] ?? '');
    }
    out.delete('');
    return [...out].sort();
  }

  /**
   * True when a commit reachable from `ref` but not from `since` changed a path matching one of the globs
   * (repo-relative, `**` allowed): what `since` describes of those paths is out of date on `ref`.
   */
  async changedSince(repo: string, since: string, ref: string, globs: readonly string[]): Promise<boolean> {
    if (globs.length === 0) return false;
    const [a, b] = await Promise.all([this.resolve(repo, since), this.resolve(repo, ref)]);
    const { stdout } = await this.run(repo, [
      'rev-list',
      '-1',
      `${a}..${b}`,
      '--',
      ...globs.map((g) => `:(glob)${g}`),
    ]);
    return stdout.trim() !== '';
  }

  /** Subjects and commit ids reachable from `ref`, newest first (default limit 20). */
  async log(repo: string, ref: string, limit = 20): Promise<Array<{ sha: string; subject: string }>> {
    const sha = await this.resolve(repo, ref);
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    const { stdout } = await this.run(repo, [
      'log',
      '--no-color',
      '--no-show-signature',
      '-z',
      '--format=%H%x00%s',
      `--max-count=${n}`,
      sha,
      '--',
    ]);
    const parts = splitNul(stdout);
    const out: Array<{ sha: string; subject: string }> = [];
    for (let i = 0; i + 1 < parts.length; i += 2)
      out.push({ sha: parts[i] ?? '', subject: parts[i + 1] ?? '' });
    return out;
  }

  /** Worktrees of the repository, the main one first. */
  async listWorktrees(repo: string): Promise<WorktreeInfo[]> {
    const { stdout } = await this.run(repo, ['worktree', 'list', '--porcelain', '-z']);
    const out: WorktreeInfo[] = [];
    let cur: WorktreeInfo | undefined;
    for (const field of stdout.split('\0')) {
      if (field === '') {
        if (cur) out.push(cur);
        cur = undefined;
        continue;
      }
      const spaceAt = field.indexOf(' ');
      const name = spaceAt < 0 ? field : field.slice(0, spaceAt);
      const value = spaceAt < 0 ? '' : field.slice(spaceAt + 1);
      if (name === 'worktree') {
        if (cur) out.push(cur);
        cur = { path: value, head: undefined, branch: null, bare: false, prunable: false };
      } else if (cur) {
        if (name === 'HEAD') cur.head = value;
        else if (name === 'branch') cur.branch = value.replace(/^refs\/heads\//, '');
        else if (name === 'bare') cur.bare = true;
        else if (name === 'prunable') cur.prunable = true;
      }
    }
    if (cur) out.push(cur);
    return out;
  }

  private run(dir: string, args: string[], opts: RunOpts = {}): Promise<RunResult> {
    return runGit(this, dir, args, opts);
  }

  private async mergeNow(
    repo: string,
    opts: { source: string; into: string; message: string },
  ): Promise<MergeResult> {
    const into = opts.into.replace(/^refs\/heads\//, '');
    await this.assertBranchName(repo, into);
    if (!(await this.branchExists(repo, into))) {
      throw notFound('branch', into, 'merge targets must be local branches');
    }
    const [oldSha, sourceSha] = await Promise.all([
      this.resolve(repo, `refs/heads/${into}`),
      this.resolve(repo, opts.source),
    ]);
    if (await this.isAncestor(repo, sourceSha, oldSha)) {
      return { commit: oldSha, alreadyMerged: true, fastForward: false, commits: 0 };
    }
    const commits = await this.countBetween(repo, oldSha, sourceSha);
    const fastForward = await this.isAncestor(repo, oldSha, sourceSha);
    const newSha = fastForward
      ? sourceSha
      : await this.mergeCommit(repo, { ...opts, into, oldSha, sourceSha });
    await this.moveBranch(repo, into, oldSha, newSha);
    return { commit: newSha, alreadyMerged: false, fastForward, commits };
  }

  private async mergeCommit(
    repo: string,
    m: { source: string; into: string; message: string; oldSha: string; sourceSha: string },
  ): Promise<string> {
    const res = await this.run(
      repo,
      ['merge-tree', '--write-tree', '-z', '--name-only', '--messages', m.oldSha, m.sourceSha],
      {
        allowExitCodes: [1, 128],
      },
    );
    if (res.exitCode === 128) {
      if (/unrelated histories/.test(res.stderr)) {
        throw new TmuxClaudeError(
          'INVALID_ARGUMENT',
          `${m.source} and ${m.into} share no history; refusing to merge`,
          {
            details: { source: m.source, into: m.into },
          },
        );
      }
      throw new CommandError([this.gitBin, 'merge-tree', '--write-tree'], {
        exitCode: 128,
        stderr: res.stderr,
        timedOut: false,
      });
    }
    const parsed = parseMergeTree(res.stdout);
    if (res.exitCode === 1) {
      const files =
        parsed.files.length > 0 ? parsed.files : [...new Set(parsed.messages.flatMap((x) => x.paths))];
      throw new TmuxClaudeError(
        'MERGE_CONFLICT',
        `merging ${m.source} into ${m.into} conflicts in ${summarize(files)}`,
        {
          hint: `merge ${m.into} into ${m.source} in its worktree, resolve the conflicts, commit, then merge again`,
          details: {
            source: m.source,
            into: m.into,
            files,
            messages: parsed.messages.filter((x) => x.type.startsWith('CONFLICT')).map((x) => x.message),
          },
        },
      );
    }
    const ident = await this.identityArgs(repo);
    const { stdout } = await this.run(repo, [
      ...ident,
      'commit-tree',
      parsed.tree,
      '-p',
      m.oldSha,
      '-p',
      m.sourceSha,
      '-m',
      m.message,
    ]);
    return stdout.trim();
  }

  /** Moves refs/heads/<branch> from oldSha to newSha, updating its worktree if it is checked out. */
  private async moveBranch(repo: string, branch: string, oldSha: string, newSha: string): Promise<void> {
    const holder = (await this.listWorktrees(repo)).find(
      (w) => w.branch === branch && !w.prunable && !w.bare,
    );
    if (holder) {
      const dirty = await this.dirtyFiles(holder.path, false);
      if (dirty.length > 0) {
        throw new TmuxClaudeError(
          'CONFLICT',
          `branch ${branch} is checked out in ${holder.path} with uncommitted changes`,
          {
            hint: 'commit or stash the changes there, then merge again',
            details: { branch, path: holder.path, files: dirty },
          },
        );
      }
      const res = await this.run(holder.path, ['merge', '--ff-only', '--quiet', newSha], {
        allowExitCodes: [1, 128],
      });
      if (res.exitCode !== 0) {
        throw new TmuxClaudeError(
          'CONFLICT',
          `could not update ${branch} in ${holder.path}: ${firstLine(res.stderr)}`,
          {
            hint: 'move the untracked files that are in the way or commit there, then merge again',
            details: { branch, path: holder.path, stderr: res.stderr.trim() },
          },
        );
      }
      return;
    }
    const res = await this.run(
      repo,
      ['update-ref', '-m', `tmux-claude: merge into ${branch}`, `refs/heads/${branch}`, newSha, oldSha],
      { allowExitCodes: [128] },
    );
    if (res.exitCode !== 0) {
      throw new TmuxClaudeError('CONFLICT', `branch ${branch} moved while merging into it`, {
        hint: 'merge again',
        details: { branch, stderr: res.stderr.trim() },
      });
    }
  }

  /** Runs fn after every earlier merge or worktree change of the same repository (keyed by its git common dir). */
  private serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.repoChains.get(key) ?? Promise.resolve();
    const result = prev.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.repoChains.set(key, tail);
    void tail.then(() => {
      if (this.repoChains.get(key) === tail) this.repoChains.delete(key);
    });
    return result;
  }

  private async assertMerged(repo: string, ref: string, mergedInto: string, label = ref): Promise<void> {
    const ahead = await this.commitsAhead(repo, ref, mergedInto);
    if (ahead > 0) {
      throw new TmuxClaudeError(
        'UNMERGED_WORK',
        `branch ${label} has ${ahead} commit${ahead === 1 ? '' : 's'} not merged into ${mergedInto}`,
        {
          hint: `merge ${label} into ${mergedInto} first, or discard it explicitly with force`,
          details: { branch: label, mergedInto, commits: ahead },
        },
      );
    }
  }

  private async isAncestor(repo: string, ancestor: string, descendant: string): Promise<boolean> {
    const res = await this.run(repo, ['merge-base', '--is-ancestor', ancestor, descendant], {
      allowExitCodes: [1],
    });
    return res.exitCode === 0;
  }

  private async countBetween(
    repo: string,
    fromSha: string,
    toSha: string,
    noMerges = false,
  ): Promise<number> {
    const flags = noMerges ? ['--count', '--no-merges'] : ['--count'];
    const { stdout } = await this.run(repo, ['rev-list', ...flags, toSha, `^${fromSha}`, '--']);
    return Number.parseInt(stdout.trim(), 10);
  }

  /** Paths with changes in a worktree; untracked files count only when asked. */
  private async dirtyFiles(dir: string, includeUntracked: boolean): Promise<string[]> {
    // GIT_OPTIONAL_LOCKS=0 keeps status from taking index.lock in a tree someone else is working in.
    const { stdout } = await this.run(
      dir,
      ['status', '--porcelain=v1', '-z', `--untracked-files=${includeUntracked ? 'all' : 'no'}`],
      { env: { GIT_OPTIONAL_LOCKS: '0' } },
    );
    const files: string[] = [];
    const fields = stdout.split('\0');
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i] ?? '';
      if (f.length < 4) continue;
      files.push(f.slice(3));
      // A rename/copy entry is followed by its source path.
      if (f[0] === 'R' || f[0] === 'C') i++;
    }
    return files;
  }

  private async identityArgs(dir: string): Promise<string[]> {
    const [name, email] = await Promise.all([
      this.run(dir, ['config', '--get', 'user.name'], { allowExitCodes: [1] }),
      this.run(dir, ['config', '--get', 'user.email'], { allowExitCodes: [1] }),
    ]);
    return [
      ...(name.exitCode === 0 && name.stdout.trim() ? [] : ['-c', `user.name=${DEFAULT_NAME}`]),
      ...(email.exitCode === 0 && email.stdout.trim() ? [] : ['-c', `user.email=${DEFAULT_EMAIL}`]),
    ];
  }

  private async commonDir(repo: string): Promise<string> {
    const { stdout } = await this.run(repo, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
    return realpath(stdout.replace(/\n$/, ''));
  }

  private async assertBranchName(repo: string, name: string): Promise<void> {
    const bad = () =>
      new TmuxClaudeError('INVALID_ARGUMENT', `${JSON.stringify(name)} is not a valid branch name`, {
        hint: 'use letters, digits, dashes and slashes',
      });
    if (name === '' || name.startsWith('-') || name === 'HEAD') throw bad();
    const res = await this.run(repo, ['check-ref-format', `refs/heads/${name}`], { allowExitCodes: [1] });
    if (res.exitCode !== 0) throw bad();
  }
}

/**
 * Creates a new repository at dir (created if missing) on branch `main` with `files` (relative paths, nested
 * directories allowed) committed as one initial commit authored by tmux-claude. Throws CONFLICT if dir is
 * already a repository's top level, INVALID_ARGUMENT for a file path that leaves dir.
 */
export async function initRepo(
  dir: string,
  files: Record<string, string>,
  git: Git = new Git(),
): Promise<void> {
  const root = resolve(dir);
  if (await exists(join(root, '.git'))) {
    throw new TmuxClaudeError('CONFLICT', `${root} already contains a git repository`);
  }
  const writes = Object.entries(files).map(([name, content]) => {
    const target = resolve(root, name);
    if (isAbsolute(name) || !isWithin(root, target) || target === root) {
      throw new TmuxClaudeError(
        'INVALID_ARGUMENT',
        `file path ${JSON.stringify(name)} is not inside ${root}`,
      );
    }
    return { target, content };
  });
  await mkdir(root, { recursive: true });
  await runGit(git, root, ['init', '--quiet', '--initial-branch=main']);
  for (const w of writes) {
    await mkdir(dirname(w.target), { recursive: true });
    await writeFile(w.target, w.content);
  }
  await runGit(git, root, ['add', '-A']);
  await runGit(git, root, [
    '-c',
    `user.name=${DEFAULT_NAME}`,
    '-c',
    `user.email=${DEFAULT_EMAIL}`,
    'commit',
    '--quiet',
    '--allow-empty',
    '--no-verify',
    '-m',
    'Initial commit',
  ]);
}

interface MergeTreeMessage {
  paths: string[];
  type: string;
  message: string;
}

/**
 * Parses `git merge-tree --write-tree -z --name-only --messages` output:
 * `<tree> NUL (<path> NUL)* NUL (<n> NUL <path> NUL ×n <type> NUL <message> NUL)*`.
 * The file list is only present on conflicts, and `-z` is what keeps paths unquoted.
 */
export function parseMergeTree(stdout: string): {
  tree: string;
  files: string[];
  messages: MergeTreeMessage[];
} {
  const fields = stdout.split('\0');
  const tree = (fields[0] ?? '').trim();
  let i = 1;
  const files: string[] = [];
  while (i < fields.length && fields[i] !== '') files.push(fields[i++] ?? '');
  i++;
  const messages: MergeTreeMessage[] = [];
  while (i < fields.length) {
    const count = Number.parseInt(fields[i] ?? '', 10);
    if (!Number.isFinite(count)) break;
    const paths = fields.slice(i + 1, i + 1 + count);
    const type = fields[i + 1 + count] ?? '';
    const message = (fields[i + 2 + count] ?? '').trim();
    messages.push({ paths, type, message });
    i += count + 3;
  }
  return { tree, files: [...new Set(files)], messages };
}

function splitNul(text: string): string[] {
  return text.split('\0').filter((x) => x !== '');
}

function isWithin(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** realpath of path, or of its nearest existing ancestor joined with the rest (path may not exist yet). */
async function realpathOfNearest(path: string): Promise<string> {
  let head = path;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(head), ...rest.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return path;
      rest.push(basename(head));
      head = parent;
    }
  }
}

function notARepo(dir: string, cause?: unknown): TmuxClaudeError {
  return new TmuxClaudeError(
    'INVALID_ARGUMENT',
    `${dir} is not a git repository (run git init or pass --repo)`,
    cause === undefined ? {} : { cause },
  );
}

function branchExistsError(name: string): TmuxClaudeError {
  return new TmuxClaudeError('CONFLICT', `branch ${name} already exists`, {
    hint: 'pick another branch name or delete the old branch once it is merged',
    details: { branch: name },
  });
}

function summarize(paths: string[]): string {
  const shown = paths.slice(0, 5).join(', ');
  return paths.length > 5 ? `${shown} and ${paths.length - 5} more` : shown || 'unknown files';
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
