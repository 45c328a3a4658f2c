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
  formatFencedBlock,
  nextTurn,
  type ScriptedTurn,
  type WireMessage,
} from '../../scripted-model/index.js';
import { createScriptedGeminiServer, type ScriptedGeminiServer } from '../../scripted-model/gemini/index.js';
import type { DecideTurn } from '../../scripted-model/openai/index.js';
import { TmuxDriver } from '../../tmux/index.js';
import { startStandInSupervisor, type StandInSupervisor } from '../codex/testing/stand-in-supervisor.js';
import { waitForExit } from '../codex/testing/wait-for-exit.js';
import {
  createGeminiAdapter,
  excludedTools,
  geminiSettings,
  mapGeminiHook,
  unescapePastedAt,
} from './index.js';

void describe('gemini settings and hook mapping', () => {
  test('settings point MCP at /mcp with the token as a $VAR reference, and hooks get it the same way', () => {
    const s = geminiSettings({
      role: 'manager',
      supervisorUrl: 'http://127.0.0.1:4000/',
      hookCommand: 'relay',
    });
    const text = JSON.stringify(s);
    assert.deepEqual((s.mcpServers as Record<string, unknown>)['tmux-claude'], {
      httpUrl: 'http://127.0.0.1:4000/mcp',
      headers: { Authorization: 'Bearer $TMUX_CLAUDE_TOKEN' },
      trust: true,
      timeout: 3_600_000,
    });
    assert.match(
      text,
      /"env":\{"TMUX_CLAUDE_URL":"\$TMUX_CLAUDE_URL","TMUX_CLAUDE_TOKEN":"\$TMUX_CLAUDE_TOKEN"\}/,
    );
    assert.deepEqual(Object.keys(s.hooks as object), [
      'SessionStart',
      'BeforeAgent',
      'AfterAgent',
      'SessionEnd',
    ]);
  });

  test('an Executive or Manager is not offered the tools that change files; a Specialist is', () => {
    for (const role of ['executive', 'manager'] as const) {
      for (const t of ['write_file', 'replace', 'run_shell_command'])
        assert.ok(excludedTools(role).includes(t));
    }
    assert.ok(!excludedTools('specialist').includes('write_file'));
    assert.ok(excludedTools('specialist').includes('ask_user'), 'nobody gets a tool that waits for a person');
  });

  test('Gemini hooks map to Claude hook events; a reply-less turn is a StopFailure', () => {
    assert.deepEqual(mapGeminiHook({ hook_event_name: 'BeforeAgent', prompt: 'mail a\\@b.c, keep \\\\@x' }), {
      hook_event_name: 'UserPromptSubmit',
      prompt: 'mail a@b.c, keep \\\\@x',
    });
    assert.deepEqual(
      mapGeminiHook({ hook_event_name: 'AfterAgent', prompt_response: 'ok', stop_hook_active: false }),
      {
        hook_event_name: 'Stop',
        stop_hook_active: false,
        last_assistant_message: 'ok',
      },
    );
    assert.equal(
      mapGeminiHook({ hook_event_name: 'AfterAgent', prompt_response: '[no response text]' })
        ?.hook_event_name,
      'StopFailure',
    );
    assert.equal(mapGeminiHook({ hook_event_name: 'BeforeTool' }), null);
    assert.equal(unescapePastedAt('\\@a \\\\@b @c'), '@a \\\\@b @c');
  });
});

/** Tool results the model was shown and tool names it was offered, per role, newest last. */
const toolResults: string[] = [];
const offered = new Map<string, readonly string[]>();

/** The conversation of the latest model request. */
let lastConversation: readonly WireMessage[] = [];

/**
 * The model for these tests: "please call list", "please write <path>" and "please run: <cmd>" get exactly
 * that tool call; anything else goes to the role scenarios.
 */
const decide: DecideTurn = (role, messages, opts) => {
  lastConversation = messages;
  offered.set(String(role), opts.tools ?? []);
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
  const write = /please write (\S+)$/m.exec(text)?.[1];
  if (write) return tool('Write', { file_path: write, content: 'written by the model\n' });
  const run = /please run: (.+)$/m.exec(text)?.[1];
  if (run) return tool('Bash', { command: run, description: 'test command' });
  return nextTurn(role, messages, opts);
};

const lastUserText = (messages: readonly WireMessage[]): string =>
  JSON.stringify(messages.at(-1)?.content ?? '');

void describe('gemini adapter with the real gemini binary in tmux', { timeout: 300_000 }, () => {
  const token = `tok-${randomUUID()}`;
  const tmux = new TmuxDriver({ socketName: `test-${randomUUID()}` });
  /** Agent processes started, so cleanup can wait for them to finish writing before removing files. */
  const pids: number[] = [];
  const adapter = createGeminiAdapter();
  let dir: string;
  let supervisor: StandInSupervisor;
  let model: ScriptedGeminiServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tc-gemini-'));
    supervisor = await startStandInSupervisor(token);
    model = await createScriptedGeminiServer({
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
      env: { GOOGLE_GEMINI_BASE_URL: model.url, TMUX_CLAUDE_MODEL: 'gemini-2.5-flash' },
      resume,
    });
    const settings = await readFile(join(instanceDir, 'gemini', '.gemini', 'settings.json'), 'utf8');
    assert.ok(!settings.includes(token), 'the token is never written to a file');
    const { pid } = await tmux.newSession({ name, cwd, command: spec.command, env: spec.env });
    if (pid !== null) pids.push(pid);
  }

  const hooksOf = (event: string) => supervisor.hooks.filter((h) => h.event === event);
  const hooksOfEvent = hooksOf;
  const nthHookOf = (event: string, n: number) =>
    supervisor.waitFor(`${event} hook #${n}`, () => hooksOf(event)[n - 1]);
  const nthHook = (event: string, n: number) =>
    supervisor.waitFor(`${event} hook #${n}`, () => hooksOf(event)[n - 1]);

  /** Waits; on failure the error carries the pane's screen, which says what Gemini was doing. */
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

  /** Ready as the supervisor sees it: SessionStart and the first MCP requests of the new instance. */
  async function ready(session: string, sessionStarts: number, lists: number): Promise<void> {
    await orScreen(session, nthHook('SessionStart', sessionStarts + 1));
    await orScreen(
      session,
      supervisor.waitFor('tools/list', () =>
        supervisor.mcp.filter((r) => r.method === 'tools/list').length > lists ? true : undefined,
      ),
    );
  }

  test('starts without any dialog, reports SessionStart and connects MCP with the bearer token', async () => {
    const cwd = join(dir, 'exec-work');
    await mkdir(cwd);
    await writeFile(join(cwd, 'README.md'), 'a file a pasted @README.md must not pull in\n');
    await launch('executive', 'exec-1', cwd);
    await ready('exec-1', 0, 0);
    assert.equal(hooksOf('SessionStart')[0]?.authorized, true);
    assert.equal(supervisor.mcp.find((r) => r.method === 'initialize')?.clientName, 'gemini-cli-mcp-client');
    assert.ok(
      supervisor.mcp.every((r) => r.authorized),
      'every MCP request carries the instance token',
    );
  });

  test('a pasted message lands verbatim (@ included), the model calls `list` over MCP, and Stop ends the turn', async () => {
    const text = await say(
      'exec-1',
      `please call list\n\nsee @README.md and @/etc/hostname, mail a@b.c\n  "quoted", long: ${'x'.repeat(300)}\n\tend`,
    );
    const landed = await orScreen('exec-1', nthHook('UserPromptSubmit', 1));
    assert.equal(landed.authorized, true);
    assert.equal(landed.body.prompt, text);
    await supervisor.waitFor('tools/call list', () => supervisor.toolCalls.find((c) => c.name === 'list'));
    const stop = await orScreen('exec-1', nthHook('Stop', 1));
    assert.equal(stop.body.stop_hook_active, false);
    // The model was shown the tool's own result. (The stand-in's `list` answers with an object: Gemini 0.61
    // turns a result whose text is a bare JSON array into an error.)
    assert.match(toolResults.at(-1) ?? '', /exec-test/);
    assert.ok(!(toolResults.at(-1) ?? '').includes('"is_error"'));
    assert.match(String(stop.body.last_assistant_message), /Done: .*exec-test/);
  });

  test('the role scenarios drive Gemini: the executive spawns the demo managers through MCP', async () => {
    const text = await say('exec-1', 'Build the demo');
    assert.equal((await nthHook('UserPromptSubmit', 2)).body.prompt, text);
    const stop = await orScreen('exec-1', nthHook('Stop', 2));
    const spawned = supervisor.toolCalls.filter((c) => c.name === 'spawn').map((c) => String(c.args.name));
    assert.deepEqual(spawned.sort(), ['math-utils', 'text-utils']);
    // The scenario read the children's ids back out of Gemini's tool results.
    assert.match(String(stop.body.last_assistant_message), /Waiting for 2 managers .*mgr-text-utils/);
  });

  test('an executive is not offered tools that write files or run commands', () => {
    const tools = offered.get('executive') ?? [];
    assert.ok(tools.includes('mcp__tmux-claude__list'));
    // Gemini's write_file, replace and run_shell_command, as the scenarios name them.
    for (const t of ['Write', 'Edit', 'Bash', 'ask_user', 'invoke_agent']) {
      assert.ok(!tools.includes(t), `${t} is not offered`);
    }
  });

  test('a model request that fails ends the turn with StopFailure', async () => {
    const stops = hooksOf('Stop').length;
    await say('exec-1', 'please fail');
    const failure = await orScreen('exec-1', nthHook('StopFailure', 1));
    assert.match(String(failure.body.error), /without a reply/);
    assert.equal(hooksOf('Stop').length, stops, 'a failed turn reports no Stop');
  });

  test('a specialist writes files inside its workspace, and Gemini refuses a path outside it', async () => {
    const cwd = join(dir, 'spec-work');
    await mkdir(cwd);
    await launch('specialist', 'spec-1', cwd);
    await ready(
      'spec-1',
      hooksOf('SessionStart').length,
      supervisor.mcp.filter((r) => r.method === 'tools/list').length,
    );
    let stops = hooksOf('Stop').length;
    await say('spec-1', `please write ${join(cwd, 'inside.txt')}`);
    await orScreen('spec-1', nthHook('Stop', stops + 1));
    assert.equal(await readFile(join(cwd, 'inside.txt'), 'utf8'), 'written by the model\n');
    for (const t of ['Write', 'Edit', 'Bash']) {
      assert.ok(offered.get('specialist')?.includes(t), `a specialist is offered ${t}`);
    }
    stops = hooksOf('Stop').length;
    await say('spec-1', `please write ${join(dir, 'outside.txt')}`);
    await orScreen('spec-1', nthHook('Stop', stops + 1));
    assert.equal(existsSync(join(dir, 'outside.txt')), false);
    assert.match(toolResults.at(-1) ?? '', /"is_error":true/);
  });

  test('shell commands the model runs do not see the instance token or the API key', async () => {
    const stops = hooksOf('Stop').length;
    await say('spec-1', 'please run: env | grep -c -e TMUX_CLAUDE_TOKEN -e GEMINI_API_KEY; echo checked');
    await orScreen('spec-1', nthHook('Stop', stops + 1));
    const result = toolResults.at(-1) ?? '';
    assert.match(result, /0\\nchecked/);
    assert.ok(!result.includes(token));
  });

  test('a restart with resume continues the conversation where it was', async () => {
    const earlier = JSON.stringify(lastConversation);
    assert.match(earlier, /please run: env/);
    await tmux.killSession('spec-1');
    const cwd = join(dir, 'spec-work');
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
    // Let this turn's Stop arrive before the next test counts Stop hooks (it can come late under load).
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
    // Gemini runs BeforeAgent again for the continuation: it lands as a UserPromptSubmit of the reason.
    assert.deepEqual(
      hooksOfEvent('UserPromptSubmit')
        .slice(prompts)
        .map((h) => h.body.prompt === reason),
      [false, true],
    );
  });
});
