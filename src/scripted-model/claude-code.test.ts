import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { runCommand } from '../core/index.js';
import { createScriptedModelServer, type RequestLogEntry, type ScriptedModelServer } from './server.js';

/**
 * The scripted model driving the real Claude Code binary (the pinned devDependency) in tmux, against a small
 * MCP server of this test's own that records tool calls. Every wait is bounded and event-driven.
 */

const CLAUDE = resolve(dirname(fileURLToPath(import.meta.url)), '../../node_modules/.bin/claude');
const API_KEY = 'sk-ant-scripted-test-0123456789abcdefghij';
const WAIT_MS = 90_000;

interface ToolCallRecord {
  name: string;
  args: Record<string, unknown>;
}

/** Resolves when `pick` returns a value for the current state; re-checked on every `notify()`. */
class Waiters {
  private readonly pending = new Set<() => void>();

  notify(): void {
    for (const check of [...this.pending]) check();
  }

  until<T>(
    what: string,
    pick: () => T | undefined,
    timeoutMs = WAIT_MS,
    onTimeout?: () => string,
  ): Promise<T> {
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}${onTimeout ? `\n${onTimeout()}` : ''}`,
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        const v = pick();
        if (v === undefined) return;
        clearTimeout(timer);
        this.pending.delete(check);
        resolvePromise(v);
      };
      this.pending.add(check);
      check();
    });
  }
}

/** A stateless Streamable HTTP MCP server with tmux-claude's delegation tools, recording every call. */
async function startTestMcp(waiters: Waiters): Promise<{
  url: string;
  calls: ToolCallRecord[];
  listed: () => number;
  close: () => Promise<void>;
}> {
  const calls: ToolCallRecord[] = [];
  let listed = 0;
  let spawned = 0;
  const record = (name: string, args: Record<string, unknown>, result: unknown) => {
    calls.push({ name, args });
    waiters.notify();
    return { content: [{ type: 'text' as const, text: JSON.stringify(result) }] };
  };
  const build = (): McpServer => {
    const s = new McpServer({ name: 'tmux-claude-test', version: '0.0.0' });
    s.registerTool(
      'spawn',
      {
        description: 'Spawn an instance',
        inputSchema: { role: z.string(), name: z.string(), prompt: z.string() },
      },
      (a) => {
        spawned += 1;
        const id = `${a.role}-${a.name}-${spawned}`;
        return record('spawn', a, { id, role: a.role, branch: `b-${id}`, tmuxSession: id });
      },
    );
    s.registerTool(
      'send',
      { description: 'Send a message', inputSchema: { to: z.string(), text: z.string() } },
      (a) => record('send', a, { messageId: `msg-${calls.length + 1}`, delivered: true }),
    );
    s.registerTool(
      'merge_branch',
      { description: 'Merge a branch', inputSchema: { instance_id: z.string() } },
      (a) => record('merge_branch', a, { merged: true, commit: 'abc1234', into: 'run', commits: 1 }),
    );
    s.registerTool(
      'terminate',
      {
        description: 'Terminate an instance',
        inputSchema: { id: z.string(), cascade: z.boolean().optional() },
      },
      (a) => record('terminate', a, { terminated: true }),
    );
    return s;
  };
  const readJson = async (req: IncomingMessage): Promise<unknown> => {
    const parts: Buffer[] = [];
    for await (const chunk of req) parts.push(chunk as Buffer);
    const text = Buffer.concat(parts).toString('utf8');
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  const http: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    void (async () => {
      const body = await readJson(req);
      const messages = Array.isArray(body) ? body : [body];
      if (messages.some((m) => (m as { method?: unknown } | undefined)?.method === 'tools/list')) {
        listed += 1;
        waiters.notify();
      }
      const server = build();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls,
    listed: () => listed,
    close: () =>
      new Promise<void>((ok) => {
        http.close(() => ok());
        http.closeAllConnections();
      }),
  };
}

/** The environment for tmux and Claude Code: nothing of the caller's Anthropic/Claude settings leaks in. */
function cleanEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(ANTHROPIC_|CLAUDE|NODE_TEST|TMUX)/.test(k)) continue;
    env[k] = v;
  }
  env.HOME = home;
  return env;
}

const available =
  existsSync(CLAUDE) &&
  (await runCommand(['tmux', '-V']).then(
    () => true,
    () => false,
  ));

void describe(
  'scripted model with the real Claude Code binary',
  { skip: available ? false : 'claude or tmux missing' },
  () => {
    const waiters = new Waiters();
    const log: RequestLogEntry[] = [];
    let dir: string;
    let model: ScriptedModelServer;
    let mcp: Awaited<ReturnType<typeof startTestMcp>>;
    let env: NodeJS.ProcessEnv;

    // A private tmux server whose socket lives in the test's temp dir (tmux leaves socket files behind).
    let socket: string;
    const tmux = (...args: string[]) =>
      runCommand(['tmux', '-S', socket, '-f', '/dev/null', ...args], { env });
    const screen = async (session: string): Promise<string> =>
      (await tmux('capture-pane', '-p', '-t', session).catch(() => ({ stdout: '(no pane)' }))).stdout;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tc-sm-claude-'));
      socket = join(dir, `tmux-${randomUUID().slice(0, 8)}.sock`);
      env = cleanEnv(join(dir, 'home'));
      await mkdir(join(dir, 'home'), { recursive: true });
      model = await createScriptedModelServer({
        onRequest: (e) => {
          log.push(e);
          waiters.notify();
        },
      });
      mcp = await startTestMcp(waiters);
    });

    after(async () => {
      if (socket) {
        // Claude Code writes its session files as it exits: wait for the panes' processes before removing dirs.
        const panes = await tmux('list-panes', '-a', '-F', '#{pane_pid}').catch(() => ({ stdout: '' }));
        const pids = panes.stdout
          .split('\n')
          .map(Number)
          .filter((n) => n > 0);
        await tmux('kill-server').catch(() => undefined);
        await waitForExit(pids, 15_000);
      }
      await mcp?.close();
      await model?.close();
      if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    });

    /**
     * Starts Claude Code in a new tmux session of the private socket, with the flags the Claude adapter uses for
     * the role, and waits until its MCP tools are listed (it connects after start).
     */
    async function launch(opts: {
      name: string;
      role: string;
      cwd: string;
      claudeArgs: string[];
    }): Promise<void> {
      const configDir = join(dir, `config-${opts.name}`);
      await mkdir(configDir, { recursive: true });
      await writeFile(
        join(configDir, '.claude.json'),
        JSON.stringify({
          hasCompletedOnboarding: true,
          projects: { [opts.cwd]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
          customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
        }),
      );
      const rolePrompt = join(dir, `${opts.name}-role.md`);
      await writeFile(
        rolePrompt,
        `You are ${opts.name}, part of a tmux-claude organisation.\n${opts.role}\n`,
      );
      const mcpConfig = join(dir, `${opts.name}-mcp.json`);
      await writeFile(
        mcpConfig,
        JSON.stringify({ mcpServers: { 'tmux-claude': { type: 'http', url: mcp.url } } }),
      );
      const listedBefore = mcp.listed();
      const vars = {
        CLAUDE_CONFIG_DIR: configDir,
        ANTHROPIC_BASE_URL: model.url,
        ANTHROPIC_API_KEY: API_KEY,
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        ENABLE_TOOL_SEARCH: 'false',
      };
      await tmux(
        'new-session',
        '-d',
        '-s',
        opts.name,
        '-x',
        '200',
        '-y',
        '50',
        '-c',
        opts.cwd,
        ...Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        '--',
        CLAUDE,
        '--append-system-prompt-file',
        rolePrompt,
        '--mcp-config',
        mcpConfig,
        '--strict-mcp-config',
        ...opts.claudeArgs,
      );
      await waiters
        .until(`${opts.name} to list the MCP tools`, () => (mcp.listed() > listedBefore ? true : undefined))
        .catch(async (err: Error) => {
          throw new Error(`${err.message}\nscreen:\n${await screen(opts.name)}`);
        });
    }

    /** Pastes a prompt (bracketed paste) and submits it; re-sends Enter once if no model request follows. */
    async function prompt(session: string, text: string): Promise<void> {
      const before = log.length;
      await runCommand(['tmux', '-S', socket, 'load-buffer', '-b', 'prompt', '-'], { env, input: text });
      await tmux('paste-buffer', '-p', '-r', '-d', '-b', 'prompt', '-t', session);
      await new Promise((r) => setTimeout(r, 300));
      await tmux('send-keys', '-t', session, 'Enter');
      const landed = (): true | undefined => (log.length > before ? true : undefined);
      await waiters.until(`${session} to submit its prompt`, landed, 5_000).catch(async () => {
        await tmux('send-keys', '-t', session, 'Enter');
        await waiters.until(`${session} to submit its prompt`, landed, 10_000);
      });
    }

    void test('a specialist writes its files with Write, commits with Bash and reports DONE <sha> over MCP', async () => {
      const repo = join(dir, 'repo');
      await mkdir(repo, { recursive: true });
      const git = (...args: string[]) => runCommand(['git', '-C', repo, ...args], { env });
      await git('init', '-q', '-b', 'main');
      await git('config', 'user.email', 'test@example.com');
      await git('config', 'user.name', 'Test');
      await writeFile(join(repo, 'README.md'), '# sample\n');
      await git('add', '-A');
      await git('commit', '-q', '-m', 'init');

      // The Claude adapter's specialist flags: edits accepted in the worktree, git plumbing pre-approved.
      await launch({
        name: 'spec',
        role: `Role: specialist\nParent: mgr-1\nWorktree: ${repo}`,
        cwd: repo,
        claudeArgs: [
          '--permission-mode',
          'acceptEdits',
          '--allowedTools',
          'mcp__tmux-claude__*',
          'Bash(git add:*)',
          'Bash(git commit:*)',
          'Bash(git rev-parse:*)',
          '--disallowedTools',
          'Agent',
          'SendMessage',
        ],
      });
      const task = {
        name: 'greet',
        files: [
          { path: 'src/greet.js', content: "'use strict';\nmodule.exports = (n) => `hello ${n}`;\n" },
          { path: 'README.md', content: "# sample\n\nIt's greeting time.\n" },
        ],
        commit: "feat(greet): add greet, it's small",
      };
      await prompt(
        'spec',
        'You are the specialist "greet". Write the files of the task below, commit them with the given message, ' +
          'then send "DONE <commit sha>" to your parent.\n\n```task\n' +
          JSON.stringify(task) +
          '\n```',
      );
      const done = await waiters.until(
        'the specialist to send DONE over MCP',
        () => mcp.calls.find((c) => c.name === 'send' && String(c.args.text).startsWith('DONE ')),
        WAIT_MS,
        () => `calls: ${JSON.stringify(mcp.calls)}\nrequests: ${log.map((e) => e.kind).join(', ')}`,
      );
      assert.equal(done.args.to, 'parent');
      const sha = String(done.args.text).slice('DONE '.length);
      assert.match(sha, /^[0-9a-f]{40}$/);
      assert.equal((await git('rev-parse', 'HEAD')).stdout.trim(), sha);
      assert.equal((await git('log', '-1', '--format=%s')).stdout.trim(), task.commit);
      assert.equal((await git('status', '--porcelain')).stdout, '');
      for (const f of task.files) assert.equal(await readFile(join(repo, f.path), 'utf8'), f.content);
      assert.equal((await git('show', `${sha}:src/greet.js`)).stdout, task.files[0]!.content);

      // The turn ends with text once the report went out; nothing was refused as malformed.
      await waiters.until('the final reply', () =>
        log.some((e) => e.kind === 'scenario:specialist' && lastUserHasResultOf(e, 'mcp__tmux-claude__send'))
          ? true
          : undefined,
      );
      assert.deepEqual(
        log.filter((e) => e.kind === 'invalid' || e.kind === 'not_found'),
        [],
      );
    });

    void test('an Executive whose goal carries the tryEdit knob is refused Edit and quotes the error', async () => {
      const cwd = join(dir, 'exec');
      await mkdir(cwd, { recursive: true });
      // The Claude adapter's executive flags: no file-editing tools at all.
      await launch({
        name: 'exec',
        role: 'Role: executive\nParent: the user',
        cwd,
        claudeArgs: [
          '--permission-mode',
          'default',
          '--allowedTools',
          'mcp__tmux-claude__*',
          '--disallowedTools',
          'Edit',
          'Write',
          'NotebookEdit',
          'Bash',
          'Agent',
          'SendMessage',
        ],
      });
      const from = log.length;
      await prompt('exec', 'Plan the work.\n\n```scripted\n{"tryEdit": "NOTES.md"}\n```\n');
      const reply = await waiters.until('the executive to report the refused edit', () =>
        log.slice(from).find((e) => e.kind === 'scenario:executive' && lastUserHasResultOf(e, 'Edit')),
      );
      const offered = ((reply.body as { tools?: { name: string }[] }).tools ?? []).map((t) => t.name);
      assert.ok(!offered.includes('Edit') && !offered.includes('Write'), 'Edit and Write are not offered');
      assert.ok(offered.includes('mcp__tmux-claude__spawn'));
      const result = toolResults(reply).find((r) => r.name === 'Edit');
      assert.equal(result?.isError, true);
      assert.match(result?.text ?? '', /No such tool available: Edit/);
      assert.ok(!existsSync(join(cwd, 'NOTES.md')));
      // The scripted executive ends its turn quoting Claude Code's error.
      assert.equal(reply.reply?.stop_reason, 'end_turn');
      assert.match(
        reply.reply?.content.map((b) => (b.type === 'text' ? b.text : '')).join('') ?? '',
        new RegExp(`^EDIT REFUSED: Edit ${cwd}/NOTES\\.md: .*No such tool available: Edit`),
      );
    });
  },
);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded) for processes that are not our children to exit; there is no event for that, so it polls. */
async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

interface ResultView {
  name: string;
  text: string;
  isError: boolean;
}

/** The tool results of a request's last user message, each with the name of the tool_use it answers. */
function toolResults(entry: RequestLogEntry): ResultView[] {
  const messages = (entry.body as { messages?: { role: string; content: unknown }[] }).messages ?? [];
  const names = new Map<string, string>();
  for (const m of messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    for (const b of m.content as { type: string; id?: string; name?: string }[]) {
      if (b.type === 'tool_use' && b.id && b.name) names.set(b.id, b.name);
    }
  }
  const last = [...messages].reverse().find((m) => m.role === 'user');
  if (!last || !Array.isArray(last.content)) return [];
  return (last.content as { type: string; tool_use_id?: string; content?: unknown; is_error?: boolean }[])
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      name: names.get(b.tool_use_id ?? '') ?? '',
      text:
        typeof b.content === 'string'
          ? b.content
          : Array.isArray(b.content)
            ? (b.content as { text?: string }[]).map((c) => c.text ?? '').join('\n')
            : '',
      isError: b.is_error === true,
    }));
}

function lastUserHasResultOf(entry: RequestLogEntry, tool: string): boolean {
  return toolResults(entry).some((r) => r.name === tool);
}
