import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TmuxClaudeError, runCommand } from '../core/index.js';
import { TmuxDriver } from './index.js';

const node = process.execPath;

/** Polls `check` until it returns a value other than undefined/false; fails with `what` after the deadline. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  return existsSync(file) ? readFile(file, 'utf8') : undefined;
}

/**
 * A program that records what a TUI would receive as submitted prompts: it enables bracketed paste, reads raw
 * stdin, strips the paste markers, and on a carriage return outside a paste appends the text so far (as a JSON
 * line) to the file in argv[2]. It writes argv[3] once it is ready to read.
 */
const PASTE_RECORDER = `
const fs = require('node:fs');
const [out, ready] = process.argv.slice(2);
const START = '\\x1b[200~', END = '\\x1b[201~';
let raw = '';
let recorded = 0;
process.stdin.setRawMode(true);
process.stdin.setEncoding('utf8');
process.stdout.write('\\x1b[?2004h');
process.stdin.on('data', (chunk) => {
  raw += chunk;
  // Re-parse from the start each time, so markers split across chunks need no special care.
  const submissions = [];
  let text = '';
  let inPaste = false;
  for (let i = 0; i < raw.length; ) {
    if (!inPaste && raw.startsWith(START, i)) { inPaste = true; i += START.length; }
    else if (inPaste && raw.startsWith(END, i)) { inPaste = false; i += END.length; }
    else if (!inPaste && raw[i] === '\\r') { submissions.push(text); text = ''; i++; }
    else { text += raw[i]; i++; }
  }
  for (; recorded < submissions.length; recorded++) {
    fs.appendFileSync(out, JSON.stringify(submissions[recorded]) + '\\n');
  }
});
fs.writeFileSync(ready, 'ready');
`;

/** Prints line-1..line-N, then on each keypress prints the next two numbered lines (raw mode, no echo). */
const LINE_PRINTER = `
const fs = require('node:fs');
const [count, ready] = [Number(process.argv[2]), process.argv[3]];
let n = 0;
for (; n < count; ) console.log('line-' + ++n);
process.stdin.setRawMode(true);
process.stdin.on('data', () => { console.log('line-' + ++n); console.log('line-' + ++n); });
fs.writeFileSync(ready, 'ready');
`;

const nasty = (() => {
  const piece =
    'echo "$HOME" `whoami` $(id -u) \'single\' "double" ; rm -rf / ; \\ back\\slash\n' +
    '\ttabbed\tline; CRLF here\r\nunicode: héllo wörld 日本語 🚀 e\u0301 ✓\n' +
    '%s %d #{pane_id} ## ~ * ? [a] {b} | & > < !! ;\n';
  let s = '';
  while (s.length < 10_000) s += piece;
  return `${s}end;`;
})();

void describe('TmuxDriver (real tmux)', () => {
  let socketName: string;
  let driver: TmuxDriver;
  let dir: string;

  beforeEach(async () => {
    socketName = `test-${randomUUID()}`;
    driver = new TmuxDriver({ socketName });
    dir = await mkdtemp(join(tmpdir(), 'tmux-driver-test-'));
  });

  afterEach(async () => {
    await driver.killServer();
    await rm(dir, { recursive: true, force: true });
  });

  async function serverRunning(): Promise<boolean> {
    const res = await runCommand(['tmux', '-L', socketName, 'display-message', '-p', '#{pid}'], {
      allowExitCodes: [1],
      timeoutMs: 5_000,
    });
    return res.exitCode === 0;
  }

  /** Runs a node program in a new session and waits until it reports ready. */
  async function startProgram(
    name: string,
    source: string,
    args: string[],
    size?: { width: number; height: number },
  ) {
    const script = join(dir, `${name}.cjs`);
    const ready = join(dir, `${name}.ready`);
    await writeFile(script, source);
    const session = await driver.newSession({
      name,
      cwd: dir,
      command: [node, script, ...args, ready],
      ...(size ?? {}),
    });
    await waitFor(`${name} to start`, () => existsSync(ready));
    return session;
  }

  void test('version reports the tmux version', async () => {
    assert.match(await driver.version(), /^tmux \d+\.\d+/);
  });

  void test('a missing tmux binary is DEPENDENCY_MISSING', async () => {
    const missing = new TmuxDriver({ socketName, tmuxBin: '/nonexistent/tmux' });
    for (const call of [
      () => missing.version(),
      () => missing.ensureServer(),
      () => missing.listSessions(),
    ]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof TmuxClaudeError, 'a TmuxClaudeError');
        assert.equal(err.code, 'DEPENDENCY_MISSING');
        assert.match(err.message, /\/nonexistent\/tmux/);
        return true;
      });
    }
  });

  void test('ensureServer is idempotent and the server outlives its last session', async () => {
    assert.equal(await serverRunning(), false);
    await driver.ensureServer();
    await driver.ensureServer();
    assert.equal(await serverRunning(), true);
    assert.deepEqual(await driver.listSessions(), []);

    await driver.newSession({ name: 'only', cwd: dir, command: [node, '-e', 'setTimeout(() => {}, 60000)'] });
    await driver.killSession('only');
    assert.equal(await driver.hasSession('only'), false);
    assert.equal(await serverRunning(), true, 'exit-empty off keeps the server alive');
    await driver.ensureServer();
    assert.equal(await serverRunning(), true);
  });

  void test('listSessions is empty when no server is running', async () => {
    assert.deepEqual(await driver.listSessions(), []);
  });

  void test('newSession runs argv directly in cwd with the given environment and size', async () => {
    const out = join(dir, 'env.json');
    const weird = 'spaces and $HOME `x` "q" \'s\' ;\nsecond line;';
    const info = await driver.newSession({
      name: 'env-test',
      cwd: dir,
      env: { FOO: weird, BAR: 'bar;' },
      width: 90,
      height: 30,
      command: [
        node,
        '-e',
        'require("fs").writeFileSync(process.argv[1], JSON.stringify({ env: [process.env.FOO, process.env.BAR], cwd: process.cwd(), argv: process.argv.slice(2) })); setTimeout(() => {}, 60000)',
        out,
        'ends-with;',
        ';',
        '{',
        '$HOME',
        '',
      ],
    });
    assert.match(info.paneId, /^%\d+$/);
    assert.equal(typeof info.pid, 'number');
    assert.equal(info.name, 'env-test');
    const written = JSON.parse(await waitFor('the program to write its env', () => readIfExists(out))) as {
      env: string[];
      cwd: string;
      argv: string[];
    };
    assert.deepEqual(written.env, [weird, 'bar;']);
    assert.equal(written.cwd, dir);
    assert.deepEqual(written.argv, ['ends-with;', ';', '{', '$HOME', '']);

    const screen = await driver.screen('env-test');
    assert.equal(screen.split('\n').length - 1, 30, 'one line per row');
  });

  void test('a single-word command is executed, not handed to a shell', async () => {
    const spaced = join(dir, 'dir with spaces; and $dollar');
    await mkdir(spaced);
    const program = join(spaced, 'prog');
    const out = join(dir, 'ran');
    await writeFile(program, `#!/bin/sh\necho ran > '${out}'\nsleep 60\n`);
    await chmod(program, 0o755);
    await driver.newSession({ name: 'single', cwd: dir, command: [program] });
    assert.equal(await waitFor('the program to run', () => readIfExists(out)), 'ran\n');
  });

  void test('newSession refuses a duplicate, a bad name and a missing cwd', async () => {
    const sleeper = [node, '-e', 'setTimeout(() => {}, 60000)'];
    await driver.newSession({ name: 'dup', cwd: dir, command: sleeper });
    await assert.rejects(driver.newSession({ name: 'dup', cwd: dir, command: sleeper }), {
      code: 'CONFLICT',
    });
    await assert.rejects(driver.newSession({ name: 'a.b', cwd: dir, command: sleeper }), {
      code: 'INVALID_ARGUMENT',
    });
    await assert.rejects(driver.newSession({ name: 'nocwd', cwd: join(dir, 'missing'), command: sleeper }), {
      code: 'INVALID_ARGUMENT',
    });
    await assert.rejects(driver.newSession({ name: 'noargv', cwd: dir, command: [] }), {
      code: 'INVALID_ARGUMENT',
    });
  });

  void test('hasSession matches names exactly', async () => {
    await driver.newSession({
      name: 'tc-10',
      cwd: dir,
      command: [node, '-e', 'setTimeout(() => {}, 60000)'],
    });
    assert.equal(await driver.hasSession('tc-10'), true);
    assert.equal(await driver.hasSession('tc-1'), false);
    await assert.rejects(driver.screen('tc-1'), { code: 'NOT_FOUND' });
  });

  void test('a pane whose program exited stays, dead, with its exit status', async () => {
    const info = await driver.newSession({
      name: 'exits',
      cwd: dir,
      command: [node, '-e', 'process.exit(3)'],
    });
    assert.equal(info.dead, false);
    const dead = await waitFor('the pane to be dead', async () =>
      (await driver.listSessions()).find((s) => s.name === 'exits' && s.dead),
    );
    assert.equal(dead.paneId, info.paneId);
    assert.equal(dead.deadStatus, 3);
    assert.equal(dead.deadSignal, null);
    assert.equal(await driver.hasSession('exits'), true);
  });

  void test('a pane killed by a signal reports the signal', async () => {
    const info = await driver.newSession({ name: 'killed', cwd: dir, command: ['sleep', '60'] });
    assert.ok(info.pid !== null, 'the pane has a pid');
    process.kill(info.pid, 'SIGTERM');
    const dead = await waitFor('the pane to be dead', async () =>
      (await driver.listSessions()).find((s) => s.name === 'killed' && s.dead),
    );
    assert.equal(dead.deadStatus, null);
    assert.equal(dead.deadSignal, 15);
  });

  void test('the pane-died hook fires with the pane id, exit status and session name', async () => {
    const log = join(dir, 'died.log');
    await driver.ensureServer();
    await driver.setPaneDiedHook(`echo "replaced" >> '${log}'`);
    await driver.setPaneDiedHook(`echo "#{pane_id} #{pane_dead_status} #{session_name} it's" >> '${log}'`);
    const info = await driver.newSession({
      name: 'dies',
      cwd: dir,
      command: [node, '-e', 'process.exit(7)'],
    });
    // listSessions is the supervisor's sweep; it also recovers an exit that tmux failed to collect.
    const content = await waitFor('the hook to write', async () => {
      await driver.listSessions();
      return readIfExists(log);
    });
    assert.equal(content, `${info.paneId} 7 dies it's\n`);
  });

  void test('paste delivers text byte for byte and Enter separately', async () => {
    const out = join(dir, 'received.jsonl');
    await startProgram('paste', PASTE_RECORDER, [out]);
    await driver.paste('paste', nasty);
    const lines = await waitFor('the submission', () => readIfExists(out));
    assert.equal(lines.split('\n').length, 2, 'exactly one submission');
    assert.equal(JSON.parse(lines.split('\n')[0] ?? '') as string, nasty);
  });

  void test('paste without submit leaves the text unsent until Enter', async () => {
    const out = join(dir, 'received.jsonl');
    const session = await startProgram('nosubmit', PASTE_RECORDER, [out]);
    await driver.paste(session.paneId, 'draft; "kept"', { submit: false });
    await driver.sendKeys(session.paneId, ['x']);
    await driver.sendEnter('nosubmit');
    const lines = await waitFor('the submission', () => readIfExists(out));
    assert.deepEqual(lines, `${JSON.stringify('draft; "kept"x')}\n`);
  });

  void test('concurrent pastes to one pane do not interleave', async () => {
    const out = join(dir, 'received.jsonl');
    await startProgram('serial', PASTE_RECORDER, [out]);
    const texts = [nasty, 'second;', 'third\nline'];
    await Promise.all(texts.map((t) => driver.paste('serial', t, { enterDelayMs: 50 })));
    const lines = await waitFor('three submissions', async () => {
      const s = await readIfExists(out);
      return s !== undefined && s.split('\n').length > texts.length ? s : undefined;
    });
    assert.deepEqual(
      lines
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as string),
      texts,
    );
  });

  void test('paste to an unknown session is NOT_FOUND and names it', async () => {
    await driver.ensureServer();
    await assert.rejects(driver.paste('tc-missing', 'hello'), (err: unknown) => {
      assert.ok(err instanceof TmuxClaudeError, 'a TmuxClaudeError');
      assert.equal(err.code, 'NOT_FOUND');
      assert.match(err.message, /tmux session tc-missing not found/);
      return true;
    });
    // Also without any server.
    await driver.killServer();
    await assert.rejects(driver.paste('tc-missing', 'hello'), { code: 'NOT_FOUND' });
    await assert.rejects(driver.capture('%999'), { code: 'NOT_FOUND' });
  });

  void test('capture returns each line once and then only newer lines', async () => {
    await startProgram('printer', LINE_PRINTER, ['3']);
    const first = await waitFor('three lines', async () => {
      const c = await driver.capture('printer');
      return c.lines.includes('line-3') ? c : undefined;
    });
    assert.deepEqual(first.lines, ['line-1', 'line-2', 'line-3']);

    const none = await driver.capture('printer', first.cursor);
    assert.deepEqual(none, { cursor: first.cursor, lines: [] });

    await driver.sendKeys('printer', ['x']);
    const next = await waitFor('two more lines', async () => {
      const c = await driver.capture('printer', first.cursor);
      return c.lines.includes('line-5') ? c : undefined;
    });
    assert.deepEqual(next.lines, ['line-4', 'line-5']);
    assert.equal(next.cursor, first.cursor + 2);
  });

  void test('capture reaches into the scrollback', async () => {
    const session = await startProgram('scroll', LINE_PRINTER, ['200'], { width: 80, height: 20 });
    const all = await waitFor('200 lines', async () => {
      const c = await driver.capture(session.paneId);
      return c.lines.includes('line-200') ? c : undefined;
    });
    assert.equal(all.lines.length, 200);
    assert.deepEqual(all.lines.slice(0, 2), ['line-1', 'line-2']);
    assert.equal(all.cursor, 200);

    const tail = await driver.capture(session.paneId, 150);
    assert.deepEqual(
      tail.lines,
      Array.from({ length: 50 }, (_, i) => `line-${151 + i}`),
    );

    await driver.sendKeys(session.paneId, ['x']);
    const more = await waitFor('two more lines', async () => {
      const c = await driver.capture(session.paneId, all.cursor);
      return c.lines.length === 2 ? c : undefined;
    });
    assert.deepEqual(more.lines, ['line-201', 'line-202']);
  });

  void test('killSession on a missing session is harmless; killServer cleans up and is repeatable', async () => {
    await driver.killSession('never-existed');
    await driver.ensureServer();
    await driver.killSession('never-existed');
    const { stdout } = await runCommand([
      'tmux',
      '-L',
      socketName,
      'display-message',
      '-p',
      '#{socket_path}',
    ]);
    const socketPath = stdout.trim();
    assert.ok(existsSync(socketPath), 'the server has a socket');
    await driver.killServer();
    assert.equal(existsSync(socketPath), false, 'killServer removes the socket file');
    await driver.killServer();
  });
});
