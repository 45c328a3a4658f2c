import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TmuxClaudeError, runCommand } from '../core/index.js';
import type { ErrorCode } from '../core/index.js';
import { Git, initRepo } from './index.js';

const git = new Git();
let root = '';
let counter = 0;

before(async () => {
  // A space and a non-ASCII letter in every path proves nothing is split or quoted along the way.
  root = await realpath(await mkdtemp(join(tmpdir(), 'tmux claude git ü-')));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh repository on `main` with a README, plus a directory for its worktrees outside it. */
async function newRepo(files: Record<string, string> = { 'README.md': 'hello\n' }) {
  const base = join(root, `case ${++counter}`);
  const repo = join(base, 'repo');
  await initRepo(repo, files, git);
  return { repo, worktrees: join(base, 'worktrees') };
}

/** A specialist: its own branch from `from` in a worktree, with one commit writing `files`. */
async function specialist(
  repo: string,
  worktrees: string,
  name: string,
  files: Record<string, string>,
  from = 'main',
) {
  const path = join(worktrees, name);
  await git.addWorktree(repo, path, name, from);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(join(path, file, '..'), { recursive: true });
    await writeFile(join(path, file), content);
  }
  const sha = await git.commitAll(path, `${name}: work`);
  assert.ok(sha);
  return { path, branch: name, sha };
}

async function sh(dir: string, ...args: string[]): Promise<string> {
  return (await runCommand(['git', '-C', dir, ...args])).stdout;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<TmuxClaudeError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof TmuxClaudeError))
    assert.fail(`expected a TmuxClaudeError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

void describe('Git', () => {
  void it('initRepo creates a repository on main with the files in one commit by tmux-claude', async () => {
    const { repo } = await newRepo({ 'README.md': '# demo\n', 'src/app ü.ts': 'export {};\n' });
    assert.equal(await git.currentBranch(repo), 'main');
    assert.equal(await readFile(join(repo, 'src/app ü.ts'), 'utf8'), 'export {};\n');
    const log = await git.log(repo, 'main');
    assert.equal(log.length, 1);
    assert.equal(log[0]?.subject, 'Initial commit');
    assert.equal(
      (await sh(repo, 'log', '-1', '--format=%an <%ae>')).trim(),
      'tmux-claude <tmux-claude@localhost>',
    );
    assert.equal(await sh(repo, 'status', '--porcelain'), '');
    await rejectsWith(initRepo(repo, {}, git), 'CONFLICT');
  });

  void it('isRepo is false and assertRepo explains itself for a directory that is not a repository', async () => {
    const plain = join(root, 'plain dir');
    await mkdir(plain, { recursive: true });
    assert.equal(await git.isRepo(plain), false);
    assert.equal(await git.isRepo(join(root, 'missing')), false);
    await rejectsWith(
      git.assertRepo(plain),
      'INVALID_ARGUMENT',
      /is not a git repository \(run git init or pass --repo\)/,
    );
    await rejectsWith(git.currentBranch(plain), 'INVALID_ARGUMENT', /is not a git repository/);
    await rejectsWith(git.resolve(plain, 'main'), 'INVALID_ARGUMENT', /is not a git repository/);

    const { repo } = await newRepo({ 'src/a.ts': '' });
    assert.equal(await git.isRepo(join(repo, 'src')), true);
    assert.equal(await git.assertRepo(join(repo, 'src')), repo);
  });

  void it('resolve returns the commit id and NOT_FOUND for an unknown ref', async () => {
    const { repo } = await newRepo();
    assert.match(await git.resolve(repo, 'main'), /^[0-9a-f]{40}$/);
    await rejectsWith(git.resolve(repo, 'no-such-branch'), 'NOT_FOUND');
    await rejectsWith(git.resolve(repo, '--output=/tmp/x'), 'NOT_FOUND');
  });

  void it('createBranch creates a branch and refuses an existing one', async () => {
    const { repo } = await newRepo();
    assert.equal(await git.branchExists(repo, 'manager-m1'), false);
    await git.createBranch(repo, 'manager-m1', 'main');
    assert.equal(await git.branchExists(repo, 'manager-m1'), true);
    await rejectsWith(git.createBranch(repo, 'manager-m1', 'main'), 'CONFLICT', /already exists/);
    await rejectsWith(git.createBranch(repo, 'bad..name', 'main'), 'INVALID_ARGUMENT');
    await rejectsWith(git.createBranch(repo, 'other', 'nope'), 'NOT_FOUND');
  });

  void it('addWorktree creates the branch and its worktree outside the repository, and refuses a path inside', async () => {
    const { repo, worktrees } = await newRepo();
    const path = join(worktrees, 'spec ü 1');
    await git.addWorktree(repo, path, 'specialist-s1-t1-x', 'main');
    assert.equal(await git.currentBranch(path), 'specialist-s1-t1-x');
    assert.equal(await readFile(join(path, 'README.md'), 'utf8'), 'hello\n');
    assert.equal(await git.branchExists(repo, 'specialist-s1-t1-x'), true);
    assert.equal(await git.currentBranch(repo), 'main');

    await rejectsWith(
      git.addWorktree(repo, join(repo, 'inside'), 'specialist-s2', 'main'),
      'INVALID_ARGUMENT',
      /inside the repository/,
    );
    await rejectsWith(
      git.addWorktree(repo, join(repo, '.git', 'wt'), 'specialist-s2', 'main'),
      'INVALID_ARGUMENT',
    );
    assert.equal(await git.branchExists(repo, 'specialist-s2'), false);
    assert.equal(existsSync(join(repo, 'inside')), false);
    await rejectsWith(
      git.addWorktree(repo, join(worktrees, 'again'), 'specialist-s1-t1-x', 'main'),
      'CONFLICT',
    );
  });

  void it('many worktrees added and removed at once on one repository all succeed', async () => {
    const { repo, worktrees } = await newRepo();
    const names = Array.from({ length: 12 }, (_, i) => `specialist-par-${i}`);
    await Promise.all(names.map((n) => git.addWorktree(repo, join(worktrees, n), n, 'main')));
    assert.equal((await git.listWorktrees(repo)).length, names.length + 1);
    await Promise.all(
      names.map((n) => git.removeWorktree(repo, join(worktrees, n), { branch: n, mergedInto: 'main' })),
    );
    assert.equal((await git.listWorktrees(repo)).length, 1);
  });

  void it('commitAll commits every change and returns null when nothing changed', async () => {
    const { repo, worktrees } = await newRepo();
    const path = join(worktrees, 'w');
    await git.addWorktree(repo, path, 'work', 'main');
    assert.equal(await git.commitAll(path, 'nothing'), null);
    await writeFile(join(path, 'new file ü.txt'), 'x\n');
    await unlink(join(path, 'README.md'));
    const sha = await git.commitAll(path, 'add and delete');
    assert.equal(sha, await git.resolve(repo, 'work'));
    assert.equal(await git.commitAll(path, 'nothing again'), null);
    assert.deepEqual(await git.changedFiles(repo, 'work', 'main'), ['README.md', 'new file ü.txt']);
    assert.equal((await git.log(repo, 'work', 1))[0]?.subject, 'add and delete');
  });

  void it('uncommittedFiles lists modified, untracked, deleted and renamed paths of a worktree', async () => {
    const { repo, worktrees } = await newRepo();
    const path = join(worktrees, 'dirty');
    await git.addWorktree(repo, path, 'dirty', 'main');
    assert.deepEqual(await git.uncommittedFiles(path), []);
    await writeFile(join(path, 'new file ü.txt'), 'x\n');
    await writeFile(join(path, 'README.md'), 'changed\n');
    assert.deepEqual(await git.uncommittedFiles(path), ['README.md', 'new file ü.txt']);
    await git.commitAll(path, 'both');
    await sh(path, 'mv', 'new file ü.txt', 'renamed.txt');
    assert.deepEqual(await git.uncommittedFiles(path), ['new file ü.txt', 'renamed.txt']);
  });

  void it('changedSince tells whether later commits on a branch touched matching paths', async () => {
    const { repo, worktrees } = await newRepo({
      'README.md': 'hello\n',
      'src/a.ts': 'a\n',
      'src/b.ts': 'b\n',
    });
    const anchor = await git.resolve(repo, 'main');
    const path = join(worktrees, 'later');
    await git.addWorktree(repo, path, 'later', 'main');
    await writeFile(join(path, 'src', 'b.ts'), 'b2\n');
    await git.commitAll(path, 'change b');
    assert.equal(await git.changedSince(repo, anchor, 'later', ['src/a.ts']), false);
    assert.equal(await git.changedSince(repo, anchor, 'later', ['src/**']), true);
    assert.equal(await git.changedSince(repo, anchor, 'later', ['src/*.md']), false);
    assert.equal(await git.changedSince(repo, anchor, 'later', []), false);
  });

  void it('commits by tmux-claude use its own identity when git has none configured', async () => {
    const { repo, worktrees } = await newRepo();
    const saved = { global: process.env.GIT_CONFIG_GLOBAL, nosystem: process.env.GIT_CONFIG_NOSYSTEM };
    const emptyConfig = join(root, `empty config ${++counter}`);
    await writeFile(emptyConfig, '');
    process.env.GIT_CONFIG_GLOBAL = emptyConfig;
    process.env.GIT_CONFIG_NOSYSTEM = '1';
    try {
      await git.createBranch(repo, 'manager-m1', 'main');
      const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' });
      const b = await specialist(repo, worktrees, 'specialist-b', { 'b.txt': 'b\n' });
      await git.merge(repo, { source: a.branch, into: 'manager-m1', message: 'merge a' });
      const merged = await git.merge(repo, { source: b.branch, into: 'manager-m1', message: 'merge b' });
      for (const sha of [a.sha, merged.commit]) {
        assert.equal(
          (await sh(repo, 'log', '-1', '--format=%an <%ae>', sha)).trim(),
          'tmux-claude <tmux-claude@localhost>',
        );
      }
    } finally {
      for (const [name, value] of [
        ['GIT_CONFIG_GLOBAL', saved.global],
        ['GIT_CONFIG_NOSYSTEM', saved.nosystem],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  void it('merges two specialist branches into a manager branch without touching the checked-out tree', async () => {
    const { repo, worktrees } = await newRepo();
    await git.createBranch(repo, 'manager-m1', 'main');
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' }, 'manager-m1');
    const b = await specialist(repo, worktrees, 'specialist-b', { 'b.txt': 'b\n' }, 'manager-m1');
    // The user is mid-edit on main; nothing of theirs may change.
    await writeFile(join(repo, 'README.md'), 'user edit\n');
    await writeFile(join(repo, 'scratch.txt'), 'untracked\n');
    const mainBefore = await git.resolve(repo, 'main');
    const statusBefore = await sh(repo, 'status', '--porcelain');

    const first = await git.merge(repo, { source: a.branch, into: 'manager-m1', message: 'merge a' });
    assert.deepEqual(first, { commit: a.sha, alreadyMerged: false, fastForward: true, commits: 1 });
    const second = await git.merge(repo, { source: b.branch, into: 'manager-m1', message: 'merge b' });
    assert.equal(second.fastForward, false);
    assert.equal(second.commits, 1);
    assert.equal(await git.resolve(repo, 'manager-m1'), second.commit);

    assert.equal(await git.isMerged(repo, a.branch, 'manager-m1'), true);
    assert.equal(await git.isMerged(repo, b.branch, 'manager-m1'), true);
    // Commits made within the same second have no defined order among themselves.
    const subjects = (await git.log(repo, 'manager-m1')).map((c) => c.subject);
    assert.equal(subjects[0], 'merge b');
    assert.deepEqual(subjects.slice().sort(), [
      'Initial commit',
      'merge b',
      'specialist-a: work',
      'specialist-b: work',
    ]);
    assert.deepEqual(await git.changedFiles(repo, 'manager-m1', 'main'), ['a.txt', 'b.txt']);

    assert.equal(await git.resolve(repo, 'main'), mainBefore);
    assert.equal(await git.currentBranch(repo), 'main');
    assert.equal(await sh(repo, 'status', '--porcelain'), statusBefore);
    assert.equal(await readFile(join(repo, 'README.md'), 'utf8'), 'user edit\n');
    assert.equal(existsSync(join(repo, 'a.txt')), false);
    // The specialists' own worktrees stay where they were.
    assert.equal(await git.resolve(a.path, 'HEAD'), a.sha);
    assert.equal(await sh(b.path, 'status', '--porcelain'), '');
  });

  void it('merging into the checked-out main updates the branch and its files', async () => {
    const { repo, worktrees } = await newRepo();
    const a = await specialist(repo, worktrees, 'specialist-a', { 'docs/a ü.md': 'a\n' });
    await writeFile(join(repo, 'untracked.txt'), 'keep me\n');
    const res = await git.merge(repo, { source: a.branch, into: 'main', message: 'merge a' });
    assert.equal(res.commit, a.sha);
    assert.equal(await git.resolve(repo, 'main'), a.sha);
    assert.equal(await readFile(join(repo, 'docs/a ü.md'), 'utf8'), 'a\n');
    assert.equal(await readFile(join(repo, 'untracked.txt'), 'utf8'), 'keep me\n');
    assert.equal(await sh(repo, 'status', '--porcelain', '--untracked-files=no'), '');

    // A true merge (main moved on meanwhile) also lands in the working tree.
    const b = await specialist(repo, worktrees, 'specialist-b', { 'b.txt': 'b\n' }, 'main~1');
    const merged = await git.merge(repo, { source: b.branch, into: 'main', message: 'merge b' });
    assert.equal(merged.fastForward, false);
    assert.equal(await git.resolve(repo, 'HEAD'), merged.commit);
    assert.equal(await readFile(join(repo, 'b.txt'), 'utf8'), 'b\n');
    assert.equal(await sh(repo, 'status', '--porcelain', '--untracked-files=no'), '');
  });

  void it('refuses to merge into a checked-out branch whose worktree has uncommitted changes', async () => {
    const { repo, worktrees } = await newRepo();
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' });
    const before = await git.resolve(repo, 'main');
    await writeFile(join(repo, 'README.md'), 'user edit\n');
    await rejectsWith(
      git.merge(repo, { source: a.branch, into: 'main', message: 'merge a' }),
      'CONFLICT',
      /branch main is checked out in .* with uncommitted changes/,
    );
    assert.equal(await git.resolve(repo, 'main'), before);
    assert.equal(await readFile(join(repo, 'README.md'), 'utf8'), 'user edit\n');
    assert.equal(existsSync(join(repo, 'a.txt')), false);
  });

  void it('a conflicting merge throws MERGE_CONFLICT naming the file and leaves the target unchanged', async () => {
    const { repo, worktrees } = await newRepo({ 'shared ü.txt': 'base\n', 'other.txt': 'o\n' });
    await git.createBranch(repo, 'manager-m1', 'main');
    const a = await specialist(repo, worktrees, 'specialist-a', { 'shared ü.txt': 'from a\n' }, 'manager-m1');
    const b = await specialist(
      repo,
      worktrees,
      'specialist-b',
      { 'shared ü.txt': 'from b\n', 'b.txt': 'b\n' },
      'manager-m1',
    );
    await git.merge(repo, { source: a.branch, into: 'manager-m1', message: 'merge a' });
    const before = await git.resolve(repo, 'manager-m1');

    const err = await rejectsWith(
      git.merge(repo, { source: b.branch, into: 'manager-m1', message: 'merge b' }),
      'MERGE_CONFLICT',
      /shared ü\.txt/,
    );
    assert.deepEqual(err.details?.files, ['shared ü.txt']);
    assert.ok(Array.isArray(err.details?.messages) && err.details.messages.length > 0);
    assert.equal(await git.resolve(repo, 'manager-m1'), before);
    assert.equal(await git.isMerged(repo, b.branch, 'manager-m1'), false);
  });

  void it('reports alreadyMerged for a source the target already contains', async () => {
    const { repo, worktrees } = await newRepo();
    await git.createBranch(repo, 'manager-m1', 'main');
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' }, 'manager-m1');
    await git.merge(repo, { source: a.branch, into: 'manager-m1', message: 'merge a' });
    const tip = await git.resolve(repo, 'manager-m1');
    const again = await git.merge(repo, { source: a.branch, into: 'manager-m1', message: 'merge a again' });
    assert.deepEqual(again, { commit: tip, alreadyMerged: true, fastForward: false, commits: 0 });
    assert.equal(await git.resolve(repo, 'manager-m1'), tip);
    await rejectsWith(git.merge(repo, { source: a.branch, into: 'no-such', message: 'x' }), 'NOT_FOUND');
  });

  for (const target of ['manager-m1', 'main']) {
    void it(`concurrent merges into ${target === 'main' ? 'the checked-out main' : 'a manager branch'} all land`, async () => {
      const { repo, worktrees } = await newRepo();
      const base = await git.resolve(repo, 'main');
      if (target !== 'main') await git.createBranch(repo, target, 'main');
      const specs = [];
      for (const n of [1, 2, 3]) {
        specs.push(
          await specialist(repo, worktrees, `specialist-${n}`, { [`file-${n}.txt`]: `${n}\n` }, target),
        );
      }
      const results = await Promise.all(
        specs.map((s) => git.merge(repo, { source: s.branch, into: target, message: `merge ${s.branch}` })),
      );
      assert.equal(results.filter((r) => r.fastForward).length, 1);
      for (const s of specs) assert.equal(await git.isMerged(repo, s.branch, target), true);
      assert.equal(await git.resolve(repo, target), results[2]?.commit);
      assert.deepEqual(await git.changedFiles(repo, target, base), [
        'file-1.txt',
        'file-2.txt',
        'file-3.txt',
      ]);
      if (target === 'main') {
        for (const n of [1, 2, 3])
          assert.equal(await readFile(join(repo, `file-${n}.txt`), 'utf8'), `${n}\n`);
      }
    });
  }

  void it('removeWorktree refuses unmerged or uncommitted work and succeeds once merged', async () => {
    const { repo, worktrees } = await newRepo();
    await git.createBranch(repo, 'manager-m1', 'main');
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' }, 'manager-m1');
    const opts = { branch: a.branch, mergedInto: 'manager-m1' };

    const err = await rejectsWith(
      git.removeWorktree(repo, a.path, opts),
      'UNMERGED_WORK',
      /1 commit not merged/,
    );
    assert.equal(err.details?.commits, 1);
    assert.equal(existsSync(a.path), true);

    await git.merge(repo, { source: a.branch, into: 'manager-m1', message: 'merge a' });
    await writeFile(join(a.path, 'late.txt'), 'not committed\n');
    await rejectsWith(git.removeWorktree(repo, a.path, opts), 'UNMERGED_WORK', /uncommitted changes/);
    assert.equal(await readFile(join(a.path, 'late.txt'), 'utf8'), 'not committed\n');
    await unlink(join(a.path, 'late.txt'));

    await git.removeWorktree(repo, a.path, opts);
    assert.equal(existsSync(a.path), false);
    assert.doesNotMatch(await sh(repo, 'worktree', 'list', '--porcelain'), /specialist-a/);
    assert.equal(await git.branchExists(repo, a.branch), true);
    await git.removeWorktree(repo, a.path, opts);

    await rejectsWith(git.removeWorktree(repo, repo, opts), 'INVALID_ARGUMENT', /main working tree/);
  });

  void it('removeWorktree with force discards the worktree but keeps the branch and its commits', async () => {
    const { repo, worktrees } = await newRepo();
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' });
    await writeFile(join(a.path, 'dirty.txt'), 'x\n');
    await git.removeWorktree(repo, a.path, { branch: a.branch, mergedInto: 'main', force: true });
    assert.equal(existsSync(a.path), false);
    assert.equal(await git.resolve(repo, a.branch), a.sha);
  });

  void it('removeWorktree prunes a worktree whose directory is already gone', async () => {
    const { repo, worktrees } = await newRepo();
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' });
    await rm(a.path, { recursive: true, force: true });
    await git.removeWorktree(repo, a.path, { branch: a.branch, mergedInto: 'main' });
    assert.doesNotMatch(await sh(repo, 'worktree', 'list', '--porcelain'), /specialist-a/);
    assert.equal(await git.resolve(repo, a.branch), a.sha);
  });

  void it('deleteBranch refuses unmerged work and deletes once merged', async () => {
    const { repo, worktrees } = await newRepo();
    await git.createBranch(repo, 'manager-m1', 'main');
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' }, 'manager-m1');
    await rejectsWith(
      git.deleteBranch(repo, a.branch, { mergedInto: 'manager-m1' }),
      'CONFLICT',
      /checked out/,
    );
    await git.removeWorktree(repo, a.path, { branch: a.branch, mergedInto: 'manager-m1', force: true });

    await rejectsWith(git.deleteBranch(repo, a.branch, { mergedInto: 'manager-m1' }), 'UNMERGED_WORK');
    assert.equal(await git.branchExists(repo, a.branch), true);
    assert.equal(await git.commitsAhead(repo, a.branch, 'manager-m1'), 1);

    await git.merge(repo, { source: a.branch, into: 'manager-m1', message: 'merge a' });
    assert.equal(await git.commitsAhead(repo, a.branch, 'manager-m1'), 0);
    await git.deleteBranch(repo, a.branch, { mergedInto: 'manager-m1' });
    assert.equal(await git.branchExists(repo, a.branch), false);
    await git.deleteBranch(repo, a.branch, { mergedInto: 'manager-m1' });
  });

  void it('deleteBranch with force discards an unmerged branch', async () => {
    const { repo, worktrees } = await newRepo();
    const a = await specialist(repo, worktrees, 'specialist-a', { 'a.txt': 'a\n' });
    await git.removeWorktree(repo, a.path, { branch: a.branch, mergedInto: 'main', force: true });
    await git.deleteBranch(repo, a.branch, { mergedInto: 'main', force: true });
    assert.equal(await git.branchExists(repo, a.branch), false);
  });

  void it('changedFiles lists what the branch changed since it forked, not what the base did since', async () => {
    const { repo, worktrees } = await newRepo({ 'a.txt': 'a\n', 'c.txt': 'c\n', 'd.txt': 'd\n' });
    const path = join(worktrees, 'w');
    await git.addWorktree(repo, path, 'work', 'main');
    await writeFile(join(path, 'a.txt'), 'changed\n');
    await mkdir(join(path, 'dir ü'));
    await writeFile(join(path, 'dir ü', 'b.txt'), 'b\n');
    await unlink(join(path, 'c.txt'));
    await git.commitAll(path, 'work');
    await writeFile(join(repo, 'd.txt'), 'main moved on\n');
    await git.commitAll(repo, 'main work');
    assert.deepEqual(await git.changedFiles(repo, 'work', 'main'), ['a.txt', 'c.txt', 'dir ü/b.txt']);
    assert.deepEqual(await git.changedFiles(repo, 'main', 'main'), []);
  });

  void it('log lists subjects newest first up to the limit', async () => {
    const { repo } = await newRepo();
    for (const n of [1, 2, 3]) {
      await writeFile(join(repo, 'README.md'), `v${n}\n`);
      await git.commitAll(repo, `change ${n}: with spaces and ü`);
    }
    const log = await git.log(repo, 'main', 2);
    assert.deepEqual(
      log.map((c) => c.subject),
      ['change 3: with spaces and ü', 'change 2: with spaces and ü'],
    );
    assert.equal(log[0]?.sha, await git.resolve(repo, 'main'));
  });

  void it('a missing git binary gives DEPENDENCY_MISSING', async () => {
    const missing = new Git({ gitBin: join(root, 'no-such-git') });
    await rejectsWith(missing.version(), 'DEPENDENCY_MISSING');
    await rejectsWith(missing.isRepo(root), 'DEPENDENCY_MISSING');
    assert.match(await git.version(), /^\d+\.\d+/);
  });
});
