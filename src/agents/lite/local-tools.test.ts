import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../../core/index.js';
import { createLocalTools, type LocalTools } from './local-tools.js';

const never = new AbortController().signal;

void describe('local tools', () => {
  let root: string;
  let repo: string;
  let tools: LocalTools;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tc-lite-tools-'));
    repo = join(root, 'repo');
    await mkdir(repo);
    await writeFile(join(root, 'secret.txt'), 'outside');
    await runCommand(['git', 'init', '-q', '-b', 'main'], { cwd: repo });
    tools = createLocalTools({ cwd: repo, instanceId: 'spec-test01' });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const call = (name: string, input: Record<string, unknown>) =>
    tools.execute({ id: 't', name, input }, never);

  void test('write_file creates parent directories and writes the exact content; read_file reads it back', async () => {
    const content = 'const s = `$HOME`;\n\t"quoted" é🚀\n';
    const res = await call('write_file', { path: 'src/deep/a.js', content });
    assert.equal(res.isError, false);
    assert.equal(await readFile(join(repo, 'src/deep/a.js'), 'utf8'), content);
    assert.deepEqual(await call('read_file', { path: 'src/deep/a.js' }), { content, isError: false });
  });

  // Paths are built lazily: the temp dirs exist only once `before` has run.
  const outside: [string, () => string][] = [
    ['../secret.txt', () => '../secret.txt'],
    ['src/../../secret.txt', () => 'src/../../secret.txt'],
    ['/etc/passwd', () => '/etc/passwd'],
    ['<tmp>/secret.txt (absolute)', () => join(root, 'secret.txt')],
    ['.git/config (inside .git)', () => '.git/config'],
    ['"" (empty)', () => ''],
  ];
  for (const [label, path] of outside) {
    void test(`write_file and read_file refuse the path ${label}`, async () => {
      const w = await call('write_file', { path: path(), content: 'x' });
      assert.equal(w.isError, true);
      assert.match(w.content, /outside the working directory|inside \.git|non-empty string/);
      const r = await call('read_file', { path: path() });
      assert.equal(r.isError, true);
    });
  }

  void test('the outside file is untouched after the refused writes', async () => {
    assert.equal(await readFile(join(root, 'secret.txt'), 'utf8'), 'outside');
  });

  void test('a symlink that leads outside is refused', async () => {
    await symlink(root, join(repo, 'escape'));
    const res = await call('write_file', { path: 'escape/secret.txt', content: 'pwned' });
    assert.equal(res.isError, true);
    assert.match(res.content, /symlink/);
    assert.equal(await readFile(join(root, 'secret.txt'), 'utf8'), 'outside');
    await rm(join(repo, 'escape'));
  });

  void test('an absolute path inside the working directory is allowed', async () => {
    const res = await call('write_file', { path: join(repo, 'abs.txt'), content: 'ok' });
    assert.equal(res.isError, false);
  });

  void test('git_commit commits everything with the instance identity and returns the sha', async () => {
    const res = await call('git_commit', { message: 'feat(a): add a' });
    assert.equal(res.isError, false, res.content);
    const { commit } = JSON.parse(res.content) as { commit: string };
    const log = await runCommand(['git', 'log', '-1', '--format=%H%n%s%n%an <%ae>'], { cwd: repo });
    assert.equal(
      log.stdout.trim(),
      `${commit}\nfeat(a): add a\ntmux-claude-spec-test01 <spec-test01@tmux-claude.local>`,
    );
    const status = await runCommand(['git', 'status', '--porcelain'], { cwd: repo });
    assert.equal(status.stdout, '');
  });

  void test('git_commit with nothing to commit is an error result that says so', async () => {
    const res = await call('git_commit', { message: 'empty' });
    assert.equal(res.isError, true);
    assert.match(res.content, /nothing to commit/);
  });

  void test('git_commit of a commit that is already HEAD (same message, nothing new) returns its sha', async () => {
    const head = (await runCommand(['git', 'rev-parse', 'HEAD'], { cwd: repo })).stdout.trim();
    const res = await call('git_commit', { message: 'feat(a): add a' });
    assert.equal(res.isError, false, res.content);
    assert.deepEqual(JSON.parse(res.content), { commit: head, alreadyCommitted: true });
  });

  void test('an unknown local tool is an error result, not a throw', async () => {
    assert.equal((await call('rm_rf', {})).isError, true);
  });
});
