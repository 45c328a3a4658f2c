import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../../core/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../../scripted-model/index.js';
import { startFakeSupervisor, type FakeSupervisor } from './testing/fake-supervisor.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
// Absolute, because the child runs in a temp repo where `tsx` cannot be resolved by name.
const TSX = import.meta.resolve('tsx');
const TOKEN = 'lite-process-test-token';
const INSTANCE = 'spec-proc01';

const FILES = [
  {
    path: 'src/greet.js',
    content:
      "'use strict';\n// prints `$HOME`; \"quotes\" and 'single'\nmodule.exports = (n) => `héllo ${n} 🚀`;\n",
  },
  { path: 'test/greet.test.js', content: 'a\tb\tc\n' },
];
const COMMIT = 'feat(greet): add greet; with `ticks` & $VARS';
const PROMPT =
  `You are the specialist "greet". Write the files, commit, report DONE <sha>.\n\t(tab-indented line; $HOME \`x\`)\n\n` +
  '```task\n' +
  JSON.stringify({ name: 'greet', files: FILES, commit: COMMIT }) +
  '\n```';

void describe('lite runtime process (real scripted model, real MCP server, real git)', () => {
  let dir: string;
  let repo: string;
  let model: ScriptedModelServer | undefined;
  let sup: FakeSupervisor | undefined;
  let child: ChildProcessWithoutNullStreams | undefined;
  let exited: Promise<number | null>;
  let output = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tc-lite-proc-'));
    repo = join(dir, 'repo');
    await mkdir(repo);
    const git = (...args: string[]) =>
      runCommand(['git', '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo });
    await git('init', '-q', '-b', 'main');
    await writeFile(join(repo, 'README.md'), '# repo\n');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'init');
    await writeFile(join(dir, 'system.md'), 'You are a tmux-claude specialist.\nRole: specialist\n');

    model = await createScriptedModelServer();
    sup = await startFakeSupervisor({ token: TOKEN });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TMUX_CLAUDE_INSTANCE: INSTANCE,
      TMUX_CLAUDE_ROLE: 'specialist',
      TMUX_CLAUDE_URL: sup.url,
      TMUX_CLAUDE_TOKEN: TOKEN,
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'scripted-key',
      TMUX_CLAUDE_SYSTEM_PROMPT_FILE: join(dir, 'system.md'),
      TMUX_CLAUDE_TRANSCRIPT: join(dir, 'transcript.jsonl'),
    };
    delete env.NODE_TEST_CONTEXT;
    const proc = spawn(process.execPath, ['--import', TSX, MAIN], { cwd: repo, env, stdio: 'pipe' });
    child = proc;
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await sup?.close();
    await model?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Waits for `p`, failing with the child's output if the child exits first. */
  async function unlessExited<T>(p: Promise<T>): Promise<T> {
    const died = exited.then((code) => {
      throw new Error(`lite runtime exited with ${String(code)}:\n${output}`);
    });
    return Promise.race([p, died]);
  }

  void test(
    'a pasted specialist task is written, committed and reported, with hooks in order',
    { timeout: 60_000 },
    async () => {
      assert.ok(child && sup);
      await unlessExited(sup.waitForHook('SessionStart'));

      // Split the input mid-marker and mid-character, as a terminal may deliver it.
      const input = Buffer.from(`\x1b[200~${PROMPT}\x1b[201~\r`, 'utf8');
      const cut = input.indexOf(Buffer.from('🚀')) + 2;
      child.stdin.write(input.subarray(0, 3));
      child.stdin.write(input.subarray(3, cut));
      child.stdin.write(input.subarray(cut));
      const stop = await unlessExited(sup.waitForHook('Stop'));

      const transcript = (await readFile(join(dir, 'transcript.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; text?: string });
      assert.deepEqual(
        transcript.filter((e) => e.type === 'prompt').map((e) => e.text),
        [PROMPT],
      );

      for (const f of FILES) assert.equal(await readFile(join(repo, f.path), 'utf8'), f.content);
      const log = await runCommand(['git', 'log', '-1', '--format=%H%n%s'], { cwd: repo });
      const [sha, subject] = log.stdout.trim().split('\n');
      assert.equal(subject, COMMIT);
      assert.equal((await runCommand(['git', 'status', '--porcelain'], { cwd: repo })).stdout, '');

      assert.deepEqual(
        sup.toolCalls.filter((c) => c.name === 'send').map((c) => c.args),
        [{ to: 'parent', text: `DONE ${sha}` }],
      );
      assert.deepEqual(
        sup.hooks.map((h) => h.event),
        ['SessionStart', 'UserPromptSubmit', 'Stop'],
      );
      for (const h of sup.hooks) assert.equal(h.body.session_id, INSTANCE);
      assert.equal(sup.hooks[0]?.body.pid, child.pid);
      assert.equal(sup.hooks[1]?.body.prompt, PROMPT);
      assert.equal(stop.body.stop_hook_active, false);
      assert.equal(stop.body.last_assistant_message, `Task complete: DONE ${sha}`);
      assert.equal(sup.unauthorized, 0);

      // Ctrl-D on the empty line ends the session cleanly.
      child.stdin.write('\x04');
      assert.equal(await exited, 0);
    },
  );
});

void describe('lite runtime process resuming while the supervisor restarts', () => {
  let dir: string;
  let sup: FakeSupervisor | undefined;
  let child: ChildProcessWithoutNullStreams | undefined;

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await sup?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  void test(
    'waits for a supervisor that is down, then resumes the transcript and announces source resume',
    { timeout: 60_000 },
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'tc-lite-resume-'));
      const transcriptPath = join(dir, 'transcript.jsonl');
      // The previous process was killed while `send` ran, in the middle of writing a line.
      const before = [
        { type: 'session_start', instance: INSTANCE, role: 'specialist', pid: 1, source: 'startup' },
        { type: 'prompt', text: 'report to your parent', source: 'user' },
        {
          type: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_1', name: 'send', input: { to: 'parent', text: 'hi' } }],
          stop_reason: 'tool_use',
        },
        { type: 'tool_call', id: 'toolu_1', name: 'send', input: { to: 'parent', text: 'hi' } },
      ];
      const torn = '{"ts":"2025-01-01T00:00:00.000Z","type":"tool_res';
      await writeFile(transcriptPath, `${before.map((e) => JSON.stringify(e)).join('\n')}\n${torn}`);

      // A port nobody listens on yet: the supervisor is down.
      const gone = await startFakeSupervisor({ token: TOKEN });
      await gone.close();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TMUX_CLAUDE_INSTANCE: INSTANCE,
        TMUX_CLAUDE_ROLE: 'specialist',
        TMUX_CLAUDE_URL: gone.url,
        TMUX_CLAUDE_TOKEN: TOKEN,
        TMUX_CLAUDE_TRANSCRIPT: transcriptPath,
        TMUX_CLAUDE_RESUME: '1',
      };
      delete env.NODE_TEST_CONTEXT;
      const proc = spawn(process.execPath, ['--import', TSX, MAIN], { cwd: dir, env, stdio: 'pipe' });
      child = proc;
      let output = '';
      proc.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
      proc.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
      const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

      for (let waited = 0; !output.includes('supervisor unreachable, retrying'); waited += 50) {
        assert.ok(waited < 20_000 && proc.exitCode === null, `no retry notice:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      sup = await startFakeSupervisor({ token: TOKEN, port: gone.port });
      const started = await sup.waitForHook('SessionStart');
      assert.equal(started.body.source, 'resume');
      assert.match(output, /resumed 3 messages/);
      assert.match(output, /supervisor reachable again/);

      proc.stdin.write('\x04');
      assert.equal(await exited, 0, output);
      // Appended, not truncated: the old lines, the torn one, and this session's start on a line of its own.
      const lines = (await readFile(transcriptPath, 'utf8')).trimEnd().split('\n');
      assert.deepEqual(
        lines.slice(0, before.length).map((l) => (JSON.parse(l) as { type: string }).type),
        ['session_start', 'prompt', 'assistant', 'tool_call'],
      );
      assert.equal(lines[before.length], torn);
      const session = JSON.parse(lines[before.length + 1] ?? '{}') as Record<string, unknown>;
      assert.deepEqual([session.type, session.source, session.pid], ['session_start', 'resume', proc.pid]);
    },
  );
});
