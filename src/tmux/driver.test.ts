import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
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
// The text after the mode tells whoever reads the screen that tmux has seen the mode too.
process.stdout.write('\\x1b[?2004hrecorder ready\\r\\n');
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

for (const controlMode of [false, true]) {
  void describe(`TmuxDriver (real tmux, ${controlMode ? 'control mode' : 'a client per call'})`, () => {
    let socketName: string;
    let driver: TmuxDriver;
    let dir: string;

    beforeEach(async () => {
      socketName = `test-${randomUUID()}`;
      driver = new TmuxDriver({ socketName, controlMode });
      dir = await mkdtemp(join(tmpdir(), 'tmux-driver-test-'));
    });

    afterEach(async () => {
      await driver.close();
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

      await driver.newSession({
        name: 'only',
        cwd: dir,
        command: [node, '-e', 'setTimeout(() => {}, 60000)'],
      });
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
      await assert.rejects(
        driver.newSession({ name: 'nocwd', cwd: join(dir, 'missing'), command: sleeper }),
        {
          code: 'INVALID_ARGUMENT',
        },
      );
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
}

void describe('TmuxDriver control mode (real tmux)', () => {
  let socketName: string;
  let driver: TmuxDriver;
  let dir: string;
  /** Every tmux client the driver starts, one line of arguments each (see tmuxBin). */
  let log: string;

  beforeEach(async () => {
    socketName = `test-${randomUUID()}`;
    dir = await mkdtemp(join(tmpdir(), 'tmux-control-test-'));
    log = join(dir, 'tmux-calls.log');
    const tmuxBin = join(dir, 'tmux');
    await writeFile(tmuxBin, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec tmux "$@"\n`);
    await chmod(tmuxBin, 0o755);
    driver = new TmuxDriver({ socketName, tmuxBin, controlMode: true });
  });

  afterEach(async () => {
    await driver.close();
    await driver.killServer();
    // Whatever a test left (e.g. a stopped server) must not outlive it.
    spawnSync('tmux', ['-L', socketName, 'kill-server']);
    await rm(dir, { recursive: true, force: true });
  });

  const calls = async (): Promise<string[]> => ((await readIfExists(log)) ?? '').split('\n').filter(Boolean);

  /** Session names on the server as tmux itself lists them (the hidden control session included). */
  function rawSessions(): string[] {
    const r = spawnSync('tmux', ['-L', socketName, 'list-sessions', '-F', '#{session_name}'], {
      encoding: 'utf8',
    });
    return r.status === 0 ? r.stdout.split('\n').filter(Boolean) : [];
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async function recorder(name: string): Promise<{ paneId: string; out: string }> {
    const out = join(dir, `${name}.jsonl`);
    const script = join(dir, 'recorder.cjs');
    const ready = join(dir, `${name}.ready`);
    await writeFile(script, PASTE_RECORDER);
    const info = await driver.newSession({ name, cwd: dir, command: [node, script, out, ready] });
    // Bracketed paste is on once tmux has seen the program ask for it.
    await waitFor(`${name} to start`, async () =>
      (await driver.screen(info.paneId)).includes('recorder ready'),
    );
    return { paneId: info.paneId, out };
  }

  async function submissions(out: string, count: number): Promise<string[]> {
    const text = await waitFor(`${count} submission(s) in ${out}`, async () => {
      const s = await readIfExists(out);
      return s !== undefined && s.split('\n').length > count ? s : undefined;
    });
    return text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as string);
  }

  void test('the hot path starts no tmux client, and the hidden session is never reported', async () => {
    const { out } = await recorder('hot');
    const before = (await calls()).length;
    await driver.paste('hot', nasty);
    assert.deepEqual(await submissions(out, 1), [nasty]);
    await driver.sendKeys('hot', ['x']);
    await driver.capture('hot');
    await driver.screen('hot');
    await driver.screenWithStyle('hot');
    assert.equal(await driver.hasSession('hot'), true);
    assert.deepEqual(
      (await driver.listSessions()).map((s) => s.name),
      ['hot'],
    );
    const started = (await calls()).slice(before);
    assert.deepEqual(started, [], 'no tmux client of its own for any of it');
    // The whole test so far: newSession (no session known before it) and the one control client.
    const all = await calls();
    assert.equal(all.length, 2, all.join('\n'));
    assert.match(all[0] ?? '', / new-session /);
    assert.match(all[1] ?? '', /(^| )-C /);
    const controlPid = driver.controlClientPid;
    assert.ok(controlPid !== null && alive(controlPid), 'a control client is connected');
    assert.equal(rawSessions().length, 2, 'the control session exists beside the agent');

    // The last session gone: the connection and its session go too.
    await driver.killSession('hot');
    assert.deepEqual(rawSessions(), []);
    assert.equal(driver.controlClientPid, null);
    assert.equal(alive(controlPid), false);
    assert.deepEqual(await driver.listSessions(), []);
  });

  void test('hostile text arrives byte for byte: every control character, quotes, unicode, NUL, 200 KB', async () => {
    const { out } = await recorder('bytes');
    let controls = '';
    // Not ESC [ 2 0 1 ~ (the end-of-paste marker), which the recorder would take for the end of the paste.
    for (let c = 1; c < 0x20; c++) controls += String.fromCharCode(c);
    const texts = [
      `${controls}\x7f'"\`$(x)\${y};\\;;'\n\n'  ${nasty}`,
      `a NUL: \0 (pasted from stdin)`,
      Array.from({ length: 4000 }, (_, i) => `line ${i}: 'q' "d" \u00e9\u{1F680}\t;`).join('\n'),
      "'",
      ';',
      '\\',
    ];
    for (const text of texts) await driver.paste('bytes', text, { enterDelayMs: 50 });
    assert.deepEqual(await submissions(out, texts.length), texts);
  });

  void test('concurrent pastes to several panes keep each pane in order and intact', async () => {
    // Several clients starting a server at once race for the socket (not this test's subject).
    await driver.ensureServer();
    const panes = await Promise.all(['p0', 'p1', 'p2', 'p3'].map((n) => recorder(n)));
    const textsFor = (i: number): string[] => [`${i}: ${nasty}`, `${i}: second;`, `${i}: third\nline`];
    await Promise.all(
      panes.flatMap((p, i) =>
        textsFor(i).map((t, j) =>
          // Half by session name, half by pane id: one writer per pane whatever it is called.
          driver.paste(j % 2 === 0 ? `p${i}` : p.paneId, t, { enterDelayMs: 20 }),
        ),
      ),
    );
    for (const [i, p] of panes.entries()) assert.deepEqual(await submissions(p.out, 3), textsFor(i));
  });

  void test('missing targets are NOT_FOUND and leave the connection in use', async () => {
    await recorder('here');
    await driver.listSessions();
    const pid = driver.controlClientPid;
    assert.ok(pid !== null);
    for (const call of [
      () => driver.paste('%999', 'x'),
      () => driver.paste('gone', 'x'),
      () => driver.capture('%999'),
      () => driver.sendKeys('gone', ['Enter']),
      () => driver.screen('gone'),
      () => driver.sendBytes('%999', 'abc'),
    ]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof TmuxClaudeError, String(err));
        assert.equal(err.code, 'NOT_FOUND');
        assert.match(err.message, /tmux (pane %999|session gone) not found/);
        return true;
      });
    }
    await assert.rejects(
      driver.newSession({ name: 'here', cwd: dir, command: [node, '-e', 'setTimeout(() => {}, 60000)'] }),
      { code: 'CONFLICT' },
    );
    assert.equal(await driver.hasSession('gone'), false);
    assert.equal(driver.controlClientPid, pid, 'the same connection');
  });

  void test('the server killed mid-use: calls in flight fail cleanly, then everything recovers', async () => {
    const hook = join(dir, 'died.log');
    await driver.setPaneDiedHook(`echo "#{session_name}" >> '${hook}'`);
    const first = await recorder('victim');
    await driver.listSessions();
    const oldPid = driver.controlClientPid;
    assert.ok(oldPid !== null);
    const inFlight = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0
        ? driver.paste('victim', `${i} ${nasty}`, { enterDelayMs: 10 })
        : driver.capture(first.paneId),
    );
    await sleep(5);
    assert.equal(spawnSync('tmux', ['-L', socketName, 'kill-server']).status, 0);
    const settled = await Promise.allSettled(inFlight);
    for (const r of settled) {
      if (r.status === 'fulfilled') continue;
      const err: unknown = r.reason;
      assert.ok(err instanceof TmuxClaudeError, `a TmuxClaudeError: ${String(err)}`);
      // As with a client per call: the target is gone with the server; a client that was talking to the
      // server as it went may see it go.
      assert.ok(
        err.code === 'NOT_FOUND' || /server exited unexpectedly/.test(err.message),
        `${err.code}: ${err.message}`,
      );
    }
    assert.ok(
      settled.some((r) => r.status === 'rejected'),
      'the kill landed while calls were in flight',
    );
    assert.deepEqual(await driver.listSessions(), []);
    await waitFor('the control client to exit', () => !alive(oldPid));
    assert.equal(driver.controlClientPid, null);
    await assert.rejects(driver.paste('victim', 'x'), { code: 'NOT_FOUND' });

    // A new server, with the hook, and a new connection.
    const again = await recorder('victim');
    await driver.paste('victim', nasty);
    assert.deepEqual(await submissions(again.out, 1), [nasty]);
    const newPid = driver.controlClientPid;
    assert.ok(newPid !== null && newPid !== oldPid, 'a new control client');
    await driver.newSession({ name: 'dies', cwd: dir, command: [node, '-e', 'process.exit(1)'] });
    await waitFor('the pane-died hook on the new server', async () => {
      await driver.listSessions();
      return (await readIfExists(hook))?.includes('dies');
    });
  });

  void test('a command that times out does not shift the replies of later ones', async () => {
    const slow = new TmuxDriver({ socketName, controlMode: true, timeoutMs: 300 });
    try {
      const info = await recorder('frozen');
      // The first finds the session, the second goes through the connection this opens.
      await slow.listSessions();
      await slow.listSessions();
      const pid = slow.knownServerPid;
      assert.ok(pid !== null && slow.controlClientPid !== null);
      process.kill(pid, 'SIGSTOP');
      try {
        await assert.rejects(slow.screenWithStyle('frozen'), (err: unknown) => {
          assert.ok(err instanceof TmuxClaudeError);
          assert.equal((err as { timedOut?: boolean }).timedOut, true);
          return true;
        });
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const sessions = await slow.listSessions();
      assert.deepEqual(
        sessions.map((s) => [s.name, s.paneId]),
        [['frozen', info.paneId]],
      );
      assert.equal(await slow.hasSession('frozen'), true);
    } finally {
      await slow.close();
    }
  });

  void test('close leaves no process and no session behind, and the driver still works', async () => {
    await recorder('stay');
    await driver.listSessions();
    const pid = driver.controlClientPid;
    assert.ok(pid !== null);
    await driver.close();
    assert.equal(alive(pid), false);
    assert.deepEqual(rawSessions(), ['stay']);
    const before = (await calls()).length;
    assert.deepEqual(
      (await driver.listSessions()).map((s) => s.name),
      ['stay'],
    );
    assert.equal(driver.controlClientPid, null);
    assert.equal((await calls()).length, before + 1, 'a client of its own');
  });
});
