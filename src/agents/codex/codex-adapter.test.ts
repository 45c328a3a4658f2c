import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Role } from '../../core/index.js';
import { formatMessages, rolePrompt } from '../../prompts/index.js';
import {
  createScriptedResponsesServer,
  type DecideTurn,
  type ScriptedResponsesServer,
} from '../../scripted-model/openai/index.js';
import {
  formatFencedBlock,
  nextTurn,
  type ScriptedTurn,
  type WireMessage,
} from '../../scripted-model/index.js';
import { TmuxDriver } from '../../tmux/index.js';
import { codexConfigToml, createCodexAdapter, mapCodexHook } from './index.js';
import { relayHook } from './hook-relay-core.js';
import { startStandInSupervisor, type StandInSupervisor } from './testing/stand-in-supervisor.js';
import { waitForExit } from './testing/wait-for-exit.js';

const CONFIG = {
  role: 'executive' as Role,
  cwd: '/work/a "quoted" dir',
  supervisorUrl: 'http://127.0.0.1:4000/',
  developerInstructions: 'Role: executive\nline "two"\u007f',
  modelBaseUrl: 'http://127.0.0.1:5000/v1',
  hookCommand: "'/usr/bin/node' '/x/hook-relay.js'",
  writableRoots: [],
};

void describe('codex config and hook mapping', () => {
  test('config.toml points MCP at /mcp with the token from TMUX_CLAUDE_TOKEN and holds no secret', () => {
    const toml = codexConfigToml(CONFIG);
    assert.match(toml, /\[mcp_servers\.tmux-claude\]\nurl = "http:\/\/127\.0\.0\.1:4000\/mcp"/);
    assert.match(toml, /bearer_token_env_var = "TMUX_CLAUDE_TOKEN"/);
    assert.match(toml, /default_tools_approval_mode = "approve"/);
    assert.match(toml, /\[projects\."\/work\/a \\"quoted\\" dir"\]\ntrust_level = "trusted"/);
    assert.match(toml, /developer_instructions = "Role: executive\\nline \\"two\\"\\u007F"/);
    assert.match(toml, /sandbox_mode = "read-only"/);
    assert.match(
      toml,
      /\[\[hooks\.Stop\.hooks\]\]\ntype = "command"\ncommand = "'\/usr\/bin\/node' '\/x\/hook-relay\.js'"/,
    );
    assert.match(codexConfigToml({ ...CONFIG, role: 'specialist' }), /sandbox_mode = "workspace-write"/);
  });

  test('Codex hooks map to Claude hook events; a failed model request ends the turn as StopFailure', () => {
    assert.deepEqual(mapCodexHook({ hook_event_name: 'UserPromptSubmit', prompt: 'hi\nthere' }), {
      hook_event_name: 'UserPromptSubmit',
      prompt: 'hi\nthere',
    });
    assert.deepEqual(
      mapCodexHook({ hook_event_name: 'Stop', last_assistant_message: 'done', stop_hook_active: false }),
      { hook_event_name: 'Stop', stop_hook_active: false, last_assistant_message: 'done' },
    );
    assert.deepEqual(
      mapCodexHook({ hook_event_name: 'PostModelRequest', status: 'failed', error: 'HTTP 400' }),
      {
        hook_event_name: 'StopFailure',
        error: 'HTTP 400',
      },
    );
    assert.equal(mapCodexHook({ hook_event_name: 'PostModelRequest', status: 'completed' }), null);
    assert.equal(mapCodexHook({ hook_event_name: 'SessionStart', source: 'startup' }), null);
  });

  test('the relay passes a Stop "block" answer back to the CLI and nothing else', async () => {
    const fetchWith =
      (answer: unknown): typeof fetch =>
      () =>
        Promise.resolve(new Response(JSON.stringify(answer), { status: 200 }));
    const env = { url: 'http://127.0.0.1:1', token: 't' };
    const stop = JSON.stringify({ hook_event_name: 'Stop', last_assistant_message: 'x' });
    const blocked = await relayHook(
      stop,
      mapCodexHook,
      env,
      fetchWith({ decision: 'block', reason: 'go on', x: 1 }),
    );
    assert.deepEqual(JSON.parse(blocked.stdout), { decision: 'block', reason: 'go on' });
    assert.equal((await relayHook(stop, mapCodexHook, env, fetchWith({ ok: true }))).stdout, '');
    const down = await relayHook(stop, mapCodexHook, env, () => Promise.reject(new Error('ECONNREFUSED')));
    assert.equal(down.stdout, '');
    assert.match(down.stderr, /Stop not delivered: ECONNREFUSED/);
  });
});

const lastUserText = (messages: readonly WireMessage[]): string =>
  JSON.stringify(messages.at(-1)?.content ?? '');

/** Tool results the model was shown, newest last. */
const toolResults: string[] = [];

/** The conversation of the latest model request. */
let lastConversation: readonly WireMessage[] = [];

/**
 * The model for these tests: prompts containing "please call list" or "please run: <cmd>" get exactly that
 * tool call; anything else goes to the role scenarios.
 */
const decide: DecideTurn = (role, messages, opts) => {
  lastConversation = messages;
  const last = messages.at(-1);
  const blocks = Array.isArray(last?.content) ? last.content : [];
  for (const b of blocks) if (b.type === 'tool_result') toolResults.push(JSON.stringify(b));
  const text = blocks.map((b) => (b.type === 'text' ? (b as { text: string }).text : '')).join('\n');
  // The result of a test's own tool call ends the turn (the scenarios would carry on with the demo).
  const prev = messages.at(-2);
  const ownCall =
    prev?.role === 'assistant' &&
    Array.isArray(prev.content) &&
    prev.content.some((b) => b.type === 'text' && (b as { text: string }).text.startsWith('Calling '));
  if (ownCall)
    return {
      content: [{ type: 'text', text: `Done: ${toolResults.at(-1) ?? ''}` }],
      stop_reason: 'end_turn',
    };
  const tool = (name: string, input: Record<string, unknown>): ScriptedTurn => ({
    content: [
      { type: 'text', text: `Calling ${name}.` },
      { type: 'tool_use', id: `call_${randomUUID()}`, name, input },
    ],
    stop_reason: 'tool_use',
  });
  const listTool = opts.tools?.find((t) => t.endsWith('__list'));
  if (text.includes('please call list') && listTool) return tool(listTool, {});
  const run = /please run: (.+)$/m.exec(text)?.[1];
  if (run) return tool('exec_command', { cmd: run, login: false });
  return nextTurn(role, messages, opts);
};

void describe('codex adapter with the real codex binary in tmux', { timeout: 300_000 }, () => {
  const token = `tok-${randomUUID()}`;
  const tmux = new TmuxDriver({ socketName: `test-${randomUUID()}` });
  /** Agent processes started, so cleanup can wait for them to finish writing before removing files. */
  const pids: number[] = [];
  let dir: string;
  let supervisor: StandInSupervisor;
  let model: ScriptedResponsesServer;
  // --strict-config: Codex refuses to start if the generated config.toml has a key it does not know.
  const adapter = createCodexAdapter({ extraArgs: ['--strict-config'] });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tc-codex-'));
    supervisor = await startStandInSupervisor(token);
    model = await createScriptedResponsesServer({
      decide,
      fault: (messages) =>
        lastUserText(messages).includes('please fail')
          ? { status: 400, message: 'scripted failure' }
          : undefined,
    });
  });
  after(async () => {
    await tmux.killServer().catch(() => undefined);
    await waitForExit(pids);
    await supervisor?.close();
    await model?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function launch(role: Role, name: string, cwd: string, resume = false): Promise<void> {
    const instanceDir = join(dir, 'instances', name);
    await mkdir(instanceDir, { recursive: true });
    const systemPromptFile = join(instanceDir, 'system-prompt.md');
    const prompt = rolePrompt({
      instanceId: name,
      role,
      parentId: null,
      branch: null,
      worktree: role === 'specialist' ? cwd : null,
      runGoal: 'test',
    });
    await writeFile(systemPromptFile, prompt);
    const spec = await adapter.prepare({
      instanceId: name,
      role,
      cwd,
      instanceDir,
      systemPromptFile,
      supervisorUrl: supervisor.url,
      token,
      env: { OPENAI_BASE_URL: model.url, TMUX_CLAUDE_MODEL: 'scripted' },
      resume,
    });
    const config = await readFile(join(instanceDir, 'codex', 'config.toml'), 'utf8');
    assert.ok(!config.includes(token), 'the token is never written to a file');
    const { pid } = await tmux.newSession({ name, cwd, command: spec.command, env: spec.env });
    if (pid !== null) pids.push(pid);
  }

  const hookCount = (event: string): number => supervisor.hooks.filter((h) => h.event === event).length;
  const hooksOfEvent = (event: string) => supervisor.hooks.filter((h) => h.event === event);
  const nthHookOf = (event: string, n: number) =>
    supervisor.waitFor(`${event} hook #${n}`, () => hooksOfEvent(event)[n - 1]);
  /** The n-th (1-based) hook of an event. */
  const nthHook = (event: string, n: number) =>
    supervisor.waitFor(`${event} hook #${n}`, () => supervisor.hooks.filter((h) => h.event === event)[n - 1]);

  /** Waits; on failure the error carries the pane's screen, which says what Codex was doing. */
  async function orScreen<T>(session: string, wait: Promise<T>): Promise<T> {
    try {
      return await wait;
    } catch (err) {
      const screen = await tmux.screen(session).catch(() => '(no screen)');
      throw new Error(`${String(err)}\n--- screen of ${session} ---\n${screen}`, { cause: err });
    }
  }

  /**
   * Delivers a message the way the supervisor does: paste, Enter after the adapter's delay, and one more
   * Enter if UserPromptSubmit has not confirmed the text within 5 s (a TUI that is busy right after start can
   * take the first Enter for part of the paste). Resolves with the text once it has landed.
   */
  async function say(session: string, body: string): Promise<string> {
    const text = formatMessages([
      { messageId: `msg-${randomUUID()}`, senderId: 'user', senderRole: 'user', body },
    ]);
    const landed = () =>
      supervisor.hooks.find((h) => h.event === 'UserPromptSubmit' && h.body.prompt === text)
        ? true
        : undefined;
    await tmux.paste(session, text, { enterDelayMs: adapter.enterDelayMs });
    try {
      await supervisor.waitFor('the prompt to land', landed, 5_000);
    } catch {
      await tmux.sendEnter(session);
      await orScreen(session, supervisor.waitFor('the prompt to land after a second Enter', landed));
    }
    return text;
  }

  test('starts without any dialog and connects the tmux-claude MCP server with the bearer token', async () => {
    const cwd = join(dir, 'exec-work');
    await mkdir(cwd);
    await launch('executive', 'exec-1', cwd);
    const listed = await supervisor.waitFor('tools/list from codex', () =>
      supervisor.mcp.find((r) => r.method === 'tools/list'),
    );
    assert.equal(listed.authorized, true);
    assert.equal(supervisor.mcp.find((r) => r.method === 'initialize')?.clientName, 'codex-mcp-client');
    assert.ok(
      supervisor.mcp.every((r) => r.authorized),
      'every MCP request carries the instance token',
    );
    assert.match(await tmux.screen('exec-1'), /›/, 'the composer is up');
  });

  test('a pasted message lands verbatim, the model calls `list` over MCP, and the turn ends with Stop', async () => {
    const text = await say(
      'exec-1',
      `please call list\n\n  indented, "quoted", long: ${'x'.repeat(300)}\n\tend`,
    );
    const landed = await nthHook('UserPromptSubmit', 1);
    assert.equal(landed.authorized, true);
    assert.equal(landed.body.prompt, text);
    await supervisor.waitFor('tools/call list', () => supervisor.toolCalls.find((c) => c.name === 'list'));
    const stop = await nthHook('Stop', 1);
    assert.equal(stop.body.stop_hook_active, false);
    assert.equal(typeof stop.body.last_assistant_message, 'string');
  });

  test('the role scenarios drive Codex: the executive spawns the demo managers through MCP', async () => {
    const text = await say('exec-1', 'Build the demo');
    assert.equal((await nthHook('UserPromptSubmit', 2)).body.prompt, text);
    const stop = await nthHook('Stop', 2);
    // The scenario read the children's ids back out of Codex's tool results.
    assert.match(String(stop.body.last_assistant_message), /Waiting for 2 managers .*mgr-text-utils/);
    // Codex runs the two calls in parallel: their order is not fixed.
    const spawned = supervisor.toolCalls.filter((c) => c.name === 'spawn').map((c) => String(c.args.name));
    assert.deepEqual(spawned.sort(), ['math-utils', 'text-utils']);
  });

  test('an executive runs shell commands in a read-only sandbox', async () => {
    await say('exec-1', 'please run: echo x > written.txt');
    await nthHook('Stop', 3);
    assert.match(toolResults.at(-1) ?? '', /written\.txt: Read-only file system/);
    assert.equal(existsSync(join(dir, 'exec-work', 'written.txt')), false);
  });

  test('a model request that fails ends the turn with StopFailure', async () => {
    const stops = hookCount('Stop');
    await say('exec-1', 'please fail');
    const failure = await nthHook('StopFailure', 1);
    assert.match(String(failure.body.error), /scripted failure/);
    assert.equal(hookCount('Stop'), stops, 'a failed turn reports no Stop');
  });

  test('a specialist writes and commits inside its worktree, and cannot write outside it', async () => {
    const repo = join(dir, 'repo');
    const worktree = join(dir, 'wt-spec');
    const git = (args: string[], cwd = repo): string => execFileSync('git', args, { cwd, encoding: 'utf8' });
    await mkdir(repo);
    git(['init', '-q', '-b', 'main']);
    git(['-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init']);
    git(['worktree', 'add', '-q', '-b', 'spec-branch', worktree]);
    const lists = supervisor.mcp.filter((r) => r.method === 'tools/list').length;
    await launch('specialist', 'spec-1', worktree);
    // Ready, as the supervisor sees it: the instance's first MCP requests have arrived.
    await supervisor.waitFor('the specialist MCP connection', () =>
      supervisor.mcp.filter((r) => r.method === 'tools/list').length > lists ? true : undefined,
    );
    const stops = hookCount('Stop');
    await say(
      'spec-1',
      'please run: echo hi > f.txt && git add f.txt && git -c user.email=t@t -c user.name=t commit -qm f; echo x > ../outside.txt',
    );
    await orScreen(
      'spec-1',
      supervisor.waitFor('the specialist Stop', () => (hookCount('Stop') > stops ? true : undefined)),
    );
    assert.equal(await readFile(join(worktree, 'f.txt'), 'utf8'), 'hi\n');
    assert.match(git(['log', '--format=%s', 'spec-branch']), /^f\n/);
    assert.equal(existsSync(join(dir, 'outside.txt')), false);
    assert.match(toolResults.at(-1) ?? '', /outside\.txt: Read-only file system/);
  });

  test('shell commands the model runs do not see the instance token or the API key', async () => {
    const stops = hookCount('Stop');
    await say('spec-1', 'please run: env | grep -c -e TMUX_CLAUDE_TOKEN -e OPENAI_API_KEY; echo checked');
    await supervisor.waitFor('the specialist Stop', () => (hookCount('Stop') > stops ? true : undefined));
    const result = toolResults.at(-1) ?? '';
    assert.match(result, /"content":"0\\nchecked/);
    assert.ok(!result.includes(token));
  });

  test('a restart with resume continues the conversation where it was', async () => {
    const earlier = JSON.stringify(lastConversation);
    assert.match(earlier, /please run: env/);
    await tmux.killSession('spec-1');
    const cwd = join(dir, 'wt-spec');
    const lists = supervisor.mcp.filter((r) => r.method === 'tools/list').length;
    await launch('specialist', 'spec-1', cwd, true);
    await orScreen(
      'spec-1',
      supervisor.waitFor('the restarted instance MCP connection', () =>
        supervisor.mcp.filter((r) => r.method === 'tools/list').length > lists ? true : undefined,
      ),
    );
    const stops = hooksOfEvent('Stop').length;
    await say('spec-1', 'please call list');
    await orScreen(
      'spec-1',
      supervisor.waitFor('the resumed turn', () =>
        JSON.stringify(lastConversation).includes('please call list') ? true : undefined,
      ),
    );
    assert.match(
      JSON.stringify(lastConversation),
      /please run: env/,
      'the earlier turns are in the resumed conversation',
    );
    // Let this turn's Stop arrive before the next test counts Stop hooks (it came late under load).
    await orScreen('spec-1', nthHookOf('Stop', stops + 1));
  });

  test('a specialist runs its task scenario: writes the files, commits on its branch, reports DONE <sha>', async () => {
    const repo = join(dir, 'task-repo');
    const worktree = join(dir, 'wt-task');
    const git = (args: string[], cwd = repo): string => execFileSync('git', args, { cwd, encoding: 'utf8' });
    await mkdir(repo);
    git(['init', '-q', '-b', 'main']);
    git(['-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init']);
    git(['config', 'user.email', 'specialist@test']);
    git(['config', 'user.name', 'specialist']);
    git(['worktree', 'add', '-q', '-b', 'task-branch', worktree]);
    const lists = supervisor.mcp.filter((r) => r.method === 'tools/list').length;
    await launch('specialist', 'spec-2', worktree);
    await orScreen(
      'spec-2',
      supervisor.waitFor('the MCP connection', () =>
        supervisor.mcp.filter((r) => r.method === 'tools/list').length > lists ? true : undefined,
      ),
    );
    const task = {
      name: 'hello',
      files: [{ path: 'src/hello.ts', content: "export const hello = 'it''s here';\n" }],
      commit: 'Add hello',
    };
    const stops = hooksOfEvent('Stop').length;
    await say('spec-2', `Do this task.\n\n${formatFencedBlock('task', JSON.stringify(task))}`);
    const done = await orScreen(
      'spec-2',
      supervisor.waitFor('DONE from the specialist', () =>
        supervisor.toolCalls.find((c) => c.name === 'send' && String(c.args.text).startsWith('DONE')),
      ),
    );
    const sha = git(['rev-parse', 'task-branch']).trim();
    assert.deepEqual(done.args, { to: 'parent', text: `DONE ${sha}` });
    assert.equal(git(['log', '-1', '--format=%s', 'task-branch']).trim(), 'Add hello');
    assert.equal(await readFile(join(worktree, 'src', 'hello.ts'), 'utf8'), task.files[0]!.content);
    const stop = await orScreen('spec-2', nthHookOf('Stop', stops + 1));
    assert.match(String(stop.body.last_assistant_message), /Task complete: DONE [0-9a-f]{40}/);
  });

  test('a Stop answered with "block" continues the turn with the reason as the next prompt', async () => {
    const stops = hooksOfEvent('Stop').length;
    const prompts = hooksOfEvent('UserPromptSubmit').length;
    const reason = formatMessages([
      {
        messageId: 'msg-handover',
        senderId: 'mgr-1',
        senderRole: 'manager',
        body: 'A note from your manager.',
      },
    ]);
    supervisor.stopAnswers.push({ decision: 'block', reason });
    await say('spec-2', 'Status?');
    const second = await orScreen('spec-2', nthHookOf('Stop', stops + 2));
    assert.equal(second.body.stop_hook_active, true);
    assert.match(JSON.stringify(lastConversation), /msg-handover/);
    // Codex reports no UserPromptSubmit for the continuation: only the typed prompt landed.
    assert.equal(hooksOfEvent('UserPromptSubmit').length, prompts + 1);
  });
});
