import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, pathsFor, recoveryPolicy } from './config.js';
import { CommandError, TmuxClaudeError } from './errors.js';
import { hashToken, newInstanceId, newTaskId, newToken, slugify, specialistBranch } from './ids.js';
import { runCommand } from './process.js';
import { ROLES } from './types.js';

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

async function isValidBranchName(name: string): Promise<boolean> {
  const res = await runCommand(['git', 'check-ref-format', `refs/heads/${name}`], { allowExitCodes: [1] });
  return res.exitCode === 0;
}

/** Runs a Node one-liner through runCommand. */
function node(script: string, opts: Parameters<typeof runCommand>[1] = {}): ReturnType<typeof runCommand> {
  return runCommand([process.execPath, '-e', script], opts);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

void describe('ids', () => {
  void test('instance ids carry the role prefix and are unique over 10k draws', () => {
    const prefixes = { executive: 'exec', manager: 'mgr', specialist: 'spec' } as const;
    for (const role of ROLES) {
      const ids = new Set<string>();
      for (let i = 0; i < 10_000; i++) {
        const id = newInstanceId(role);
        assert.ok(id.startsWith(`${prefixes[role]}-`), id);
        assert.match(id, SLUG);
        ids.add(id);
      }
      assert.equal(ids.size, 10_000, `${role} ids collided`);
    }
  });

  void test('slugify turns nasty input into a lower-case dash-separated name that git accepts', async () => {
    const nasty = [
      '',
      '   ',
      '..',
      '.',
      '/',
      '../../etc/passwd',
      'feature/auth',
      'a..b',
      '-leading and trailing-',
      'name.lock',
      '@{-1}',
      'HEAD',
      'x~1^2:?*[\\ y',
      'tab\there\nnewline\0nul',
      'Crème Brûlée',
      'İstanbul',
      'ＡＢＣ１２３',
      '日本語のタスク',
      '🚀🚀🚀',
      'refs/heads/main',
      'a'.repeat(31) + '-b',
      'x'.repeat(500),
    ];
    for (const text of nasty) {
      const slug = slugify(text);
      assert.match(slug, SLUG, `slugify(${JSON.stringify(text)}) = ${JSON.stringify(slug)}`);
      assert.ok(slug.length <= 32, `slugify(${JSON.stringify(text)}) is too long`);
      assert.ok(await isValidBranchName(slug), `git refuses ${JSON.stringify(slug)}`);
    }
  });

  void test('slugify keeps the readable part of its input', () => {
    assert.equal(slugify('Auth API!'), 'auth-api');
    assert.equal(slugify('feature/auth'), 'feature-auth');
    assert.equal(slugify('../../etc/passwd'), 'etc-passwd');
    assert.equal(slugify('a..b'), 'a-b');
    assert.equal(slugify('Crème Brûlée'), 'creme-brulee');
    assert.equal(slugify('ＡＢＣ１２３'), 'abc123');
    assert.equal(slugify('a'.repeat(31) + '-b'), 'a'.repeat(31), 'no trailing dash after truncation');
    assert.equal(slugify('x'.repeat(500)).length, 32);
    assert.equal(slugify('hello world', 5), 'hello');
  });

  void test('slugify gives "work" for input with nothing usable', () => {
    for (const text of ['', '   ', '..', '/', '---', '日本語', '🚀']) assert.equal(slugify(text), 'work');
  });

  void test('specialistBranch follows specialist-<instanceId>-<taskId>-<feature> and is a valid branch', async () => {
    const instanceId = newInstanceId('specialist');
    const taskId = newTaskId();
    const branch = specialistBranch(instanceId, taskId, 'Auth API / login..flow');
    assert.equal(branch, `specialist-${instanceId}-${taskId}-auth-api-login-flow`);
    assert.ok(await isValidBranchName(branch));
    assert.equal(specialistBranch(instanceId, taskId, ''), `specialist-${instanceId}-${taskId}-work`);
  });

  void test('hashToken is stable, hex sha256, never the token itself, and differs per token', () => {
    const a = newToken();
    const b = newToken();
    assert.notEqual(a, b);
    assert.equal(hashToken(a), hashToken(a));
    assert.match(hashToken(a), /^[0-9a-f]{64}$/);
    assert.ok(!hashToken(a).includes(a));
    assert.notEqual(hashToken(a), hashToken(b));
    assert.notEqual(hashToken('token'), hashToken('token '));
  });
});

void describe('config', () => {
  void test('loadConfig defaults home to ~/.tmux-claude, the store to sqlite and leaves the port open', () => {
    const config = loadConfig({});
    assert.equal(config.home, resolve(join(homedir(), '.tmux-claude')));
    assert.equal(config.store, 'sqlite');
    assert.equal(config.port, undefined);
    assert.ok(config.spawnTimeoutMs > 0 && config.sendTimeoutMs > 0 && config.commandTimeoutMs > 0);
  });

  void test('loadConfig honours TMUX_CLAUDE_HOME, TMUX_CLAUDE_STORE and TMUX_CLAUDE_PORT', () => {
    const config = loadConfig({
      TMUX_CLAUDE_HOME: '/tmp/tc-home',
      TMUX_CLAUDE_STORE: 'redis://127.0.0.1:6379/2',
      TMUX_CLAUDE_PORT: '7421',
    });
    assert.equal(config.home, '/tmp/tc-home');
    assert.equal(config.store, 'redis://127.0.0.1:6379/2');
    assert.equal(config.port, 7421);
    assert.equal(
      loadConfig({ TMUX_CLAUDE_STORE: 'rediss://cache.example:6380' }).store,
      'rediss://cache.example:6380',
    );
  });

  void test('loadConfig makes a relative TMUX_CLAUDE_HOME absolute', () => {
    const config = loadConfig({ TMUX_CLAUDE_HOME: 'relative/home' });
    assert.ok(isAbsolute(config.home));
    assert.equal(config.home, resolve('relative/home'));
  });

  void test('loadConfig rejects a bad port with INVALID_ARGUMENT naming TMUX_CLAUDE_PORT', () => {
    for (const port of ['abc', '0', '65536', '80.5', '-1']) {
      assert.throws(
        () => loadConfig({ TMUX_CLAUDE_PORT: port }),
        (err: unknown) =>
          err instanceof TmuxClaudeError &&
          err.code === 'INVALID_ARGUMENT' &&
          err.message.includes('TMUX_CLAUDE_PORT'),
        `port ${port}`,
      );
    }
  });

  void test('loadConfig rejects a store that is neither sqlite nor a redis URL, naming TMUX_CLAUDE_STORE', () => {
    for (const store of ['postgres://db', 'SQLITE', 'redis:/x', 'memory']) {
      assert.throws(
        () => loadConfig({ TMUX_CLAUDE_STORE: store }),
        (err: unknown) =>
          err instanceof TmuxClaudeError &&
          err.code === 'INVALID_ARGUMENT' &&
          err.message.includes('TMUX_CLAUDE_STORE'),
        `store ${store}`,
      );
    }
  });

  void test('TMUX_CLAUDE_RECOVERY overrides the recovery settings per role; the rest keep the globals', () => {
    const config = loadConfig({
      TMUX_CLAUDE_RESTART_LIMIT: '5',
      TMUX_CLAUDE_RECOVERY:
        'specialist.restartLimit=1, specialist.onDeath=replace,specialist.backoffS=0.5,manager.stuckAfterS=600',
    });
    assert.deepEqual(recoveryPolicy(config, 'specialist'), {
      restartLimit: 1,
      restartBackoffMs: 500,
      stuckAfterMs: 300_000,
      onDeath: 'replace',
    });
    assert.deepEqual(recoveryPolicy(config, 'manager'), {
      restartLimit: 5,
      restartBackoffMs: 1_000,
      stuckAfterMs: 600_000,
      onDeath: 'restart',
    });
    // Without the variable every role has today's global behaviour.
    assert.deepEqual(recoveryPolicy(loadConfig({}), 'executive'), {
      restartLimit: 3,
      restartBackoffMs: 1_000,
      stuckAfterMs: 300_000,
      onDeath: 'restart',
    });
  });

  void test('a bad TMUX_CLAUDE_RECOVERY is refused with INVALID_ARGUMENT naming the variable and the pair', () => {
    const cases: Array<[string, RegExp]> = [
      ['specialist.restartLimit', /"specialist.restartLimit" is not ROLE.KEY=VALUE/],
      ['boss.restartLimit=1', /names no role/],
      ['specialist.retries=1', /unknown key/],
      ['specialist.restartLimit=-1', /number ≥ 0/],
      ['specialist.stuckAfterS=soon', /number ≥ 0/],
      ['specialist.onDeath=explode', /onDeath=restart or onDeath=replace/],
      ['specialist.restartLimit=1.5', /TMUX_CLAUDE_RECOVERY/],
      ['manager.onDeath=replace', /replace is for specialists only/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => loadConfig({ TMUX_CLAUDE_RECOVERY: value }),
        (err: unknown) =>
          err instanceof TmuxClaudeError &&
          err.code === 'INVALID_ARGUMENT' &&
          err.message.includes('TMUX_CLAUDE_RECOVERY') &&
          message.test(err.message),
        value,
      );
    }
  });

  void test('pathsFor puts everything under the home and gives distinct tmux sockets to distinct homes', () => {
    const a = pathsFor('/tmp/home-a');
    const b = pathsFor('/tmp/home-b');
    assert.notEqual(a.tmuxSocket, b.tmuxSocket);
    assert.equal(pathsFor('/tmp/home-a').tmuxSocket, a.tmuxSocket, 'stable for the same home');
    assert.match(a.tmuxSocket, /^[A-Za-z0-9_-]+$/, 'a plain socket name, not a path');
    for (const [key, value] of Object.entries(a)) {
      if (key === 'tmuxSocket') continue;
      assert.ok(value.startsWith('/tmp/home-a'), `${key} = ${value}`);
    }
  });
});

void describe('errors', () => {
  void test('CommandError says how the command ended: exit code, timeout or failure to start', () => {
    const exited = new CommandError(['git', 'merge', 'feature', '--no-ff'], {
      exitCode: 128,
      stderr: 'fatal: not a git repository\nmore detail',
      timedOut: false,
    });
    assert.equal(exited.code, 'EXTERNAL_COMMAND_FAILED');
    assert.match(exited.message, /exited with 128/);
    assert.match(exited.message, /fatal: not a git repository/);
    assert.ok(!exited.message.includes('more detail'), 'only the first stderr line');
    assert.ok(exited.message.startsWith('git merge feature'));

    const timedOut = new CommandError(['tmux', 'ls'], { exitCode: null, stderr: '', timedOut: true });
    assert.match(timedOut.message, /timed out/);
    assert.equal(timedOut.timedOut, true);

    const cause = new Error('EACCES');
    const unstartable = new CommandError(['x'], { exitCode: null, stderr: '', timedOut: false, cause });
    assert.match(unstartable.message, /could not start/);
    assert.equal(unstartable.cause, cause);
    assert.ok(unstartable instanceof TmuxClaudeError);
  });

  void test('toJSON keeps the code, message and hint, and omits an absent hint', () => {
    const err = new TmuxClaudeError('NOT_FOUND', 'instance "x" not found', {
      hint: 'run tmux-claude ls',
      cause: new Error('inner'),
    });
    assert.deepEqual(JSON.parse(JSON.stringify(err)), {
      code: 'NOT_FOUND',
      message: 'instance "x" not found',
      hint: 'run tmux-claude ls',
    });
    assert.deepEqual(new TmuxClaudeError('CONFLICT', 'busy').toJSON(), { code: 'CONFLICT', message: 'busy' });
    const cmd = new CommandError(['git'], { exitCode: 1, stderr: '', timedOut: false });
    assert.equal(cmd.toJSON().code, 'EXTERNAL_COMMAND_FAILED');
  });
});

void describe('runCommand', () => {
  void test('returns stdout, stderr and exit code 0 of a successful command', async () => {
    const res = await node('process.stdout.write("out"); process.stderr.write("err")');
    assert.deepEqual(res, { stdout: 'out', stderr: 'err', exitCode: 0 });
  });

  void test('a non-zero exit rejects with a CommandError carrying the exit code and stderr', async () => {
    const err = await rejection(node('process.stderr.write("boom\\nsecond line\\n"); process.exit(3)'));
    assert.ok(err instanceof CommandError);
    assert.equal(err.exitCode, 3);
    assert.equal(err.stderr, 'boom\nsecond line\n');
    assert.equal(err.timedOut, false);
    assert.match(err.message, /exited with 3: boom/);
  });

  void test('a command that outlives its timeout is killed and rejects with timedOut', async () => {
    const err = await rejection(node('setTimeout(() => {}, 600000)', { timeoutMs: 200 }));
    assert.ok(err instanceof CommandError);
    assert.equal(err.timedOut, true);
    assert.equal(err.exitCode, null);
    assert.match(err.message, /timed out/);
  });

  void test('the timeout fires even when a grandchild keeps the output pipes open', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tc-core-'));
    const pidFile = join(dir, 'pid');
    try {
      const err = await rejection(
        runCommand(['sh', '-c', `sleep 600 & echo $! > '${pidFile}'; wait`], { timeoutMs: 300 }),
      );
      assert.ok(err instanceof CommandError);
      assert.equal(err.timedOut, true);
    } finally {
      const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  void test('a missing binary rejects with DEPENDENCY_MISSING and a hint', async () => {
    const err = await rejection(runCommand(['tmux-claude-no-such-binary-xyz', '--version']));
    assert.ok(err instanceof TmuxClaudeError);
    assert.equal(err.code, 'DEPENDENCY_MISSING');
    assert.match(err.message, /tmux-claude-no-such-binary-xyz/);
    assert.ok(err.hint);
  });

  void test('an empty argv rejects with INVALID_ARGUMENT', async () => {
    const err = await rejection(runCommand([]));
    assert.ok(err instanceof TmuxClaudeError);
    assert.equal(err.code, 'INVALID_ARGUMENT');
  });

  void test('stdin input reaches the command byte for byte', async () => {
    const input =
      'line one\n\n  indented\ttab\r\nCRLF line\n' +
      'unicode: ünïcødé 日本語 🚀\n' +
      '$HOME `whoami` $(id) "quotes" \'single\' \\ backslash\n' +
      'x'.repeat(1_000_000) +
      '\n\n\n';
    const res = await node('process.stdin.pipe(process.stdout)', { input });
    assert.equal(res.stdout.length, input.length);
    assert.ok(res.stdout === input, 'output differs from input');
  });

  void test('allowExitCodes resolves listed non-zero exits and still rejects others', async () => {
    const allowed = await node('process.stdout.write("diff"); process.exit(1)', { allowExitCodes: [1] });
    assert.deepEqual(allowed, { stdout: 'diff', stderr: '', exitCode: 1 });
    const err = await rejection(node('process.exit(2)', { allowExitCodes: [1] }));
    assert.ok(err instanceof CommandError);
    assert.equal(err.exitCode, 2);
  });

  void test('runs in the given cwd with the given environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tc-core-'));
    try {
      const res = await node('process.stdout.write(process.cwd() + "|" + process.env.TC_PROBE)', {
        cwd: dir,
        env: { ...process.env, TC_PROBE: 'probe-value' },
      });
      assert.equal(res.stdout, `${dir}|probe-value`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
