import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnSync } from 'node:child_process';
import { runCommand } from '../../core/index.js';
import { Git, initRepo } from '../../git/index.js';
import type { InstanceView } from '../../mcp/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../../scripted-model/index.js';
import type { RunStatus } from '../../supervisor/index.js';
import { CliHarness, eventually } from '../../testing/cli-harness.js';

/** Real Claude Code instances, driven by the scripted model; assertions go through the store and git. */
const API_KEY = 'sk-ant-scripted-0123456789abcdefghijklmnop';
const git = new Git();

async function status(h: CliHarness, runId: string): Promise<RunStatus> {
  const info = h.supervisorInfo()!;
  const res = await fetch(`${info.url}/api/runs/${runId}`, {
    headers: { authorization: `Bearer ${info.token}` },
  });
  return (await res.json()) as RunStatus;
}

describe('Claude Code end to end (real binary, scripted model)', () => {
  const h = new CliHarness();
  let model: ScriptedModelServer;
  let repo: string;
  const env = (): NodeJS.ProcessEnv => ({ ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: API_KEY });

  before(async () => {
    model = await createScriptedModelServer();
    const dir = mkdtempSync(join(tmpdir(), 'tc-claude-repo-'));
    h.track(dir);
    repo = join(dir, 'repo');
    await initRepo(repo, { 'README.md': '# sample\n' });
  });
  after(async () => {
    await h.cleanup();
    await model.close();
  });

  it('an Executive spawns a Manager, whose execute_parallel runs a Specialist that claims, edits, commits and completes its task; the work lands on main', async () => {
    const plan = {
      managers: [
        {
          name: 'docs',
          specialists: [
            {
              name: 'notes',
              files: [{ path: 'docs/notes.md', content: '# Notes\n\nWritten by Claude Code.\n' }],
              commit: 'docs: add notes',
            },
          ],
        },
      ],
    };
    const goal = `Write the project notes.\n\`\`\`plan\n${JSON.stringify(plan)}\n\`\`\``;
    const started = await h.json<{ run: { id: string } }>(
      ['run', goal, '--agent', 'claude', '--repo', repo, '--target', 'main'],
      { env: env(), timeoutMs: 120_000 },
    );
    const runId = started.run.id;
    const done = await eventually(
      'the manager to be merged and terminated',
      async () => {
        const s = await status(h, runId);
        const mgr = s.instances.find((i) => i.role === 'manager');
        return s.quiescent && mgr?.state === 'terminated' ? s : null;
      },
      240_000,
    );
    const roles = done.instances.map((i) => `${i.role}:${i.agent}`).sort();
    assert.deepEqual(roles, ['executive:claude', 'manager:claude', 'specialist:claude']);
    const spec = done.instances.find((i) => i.role === 'specialist')!;
    assert.ok(await git.isMerged(repo, spec.branch!, 'main'), 'the specialist’s commit is on main');
    const file = await runCommand(['git', '-C', repo, 'show', 'main:docs/notes.md']);
    assert.equal(file.stdout, '# Notes\n\nWritten by Claude Code.\n');
    const messages = await h.json<Array<{ from: string; to: string; body: string; state: string }>>([
      'messages',
    ]);
    const mgr = done.instances.find((i) => i.role === 'manager')!;
    const exec = done.instances.find((i) => i.role === 'executive')!;
    // The coordinator tells the manager that the specialist completed its task.
    assert.ok(
      messages.some(
        (m) =>
          m.from === 'supervisor' &&
          m.to === mgr.id &&
          m.body.includes(`"instance":"${spec.id}"`) &&
          m.state === 'delivered',
      ),
      'task.done reached the manager',
    );
    assert.ok(
      messages.some(
        (m) => m.from === mgr.id && m.to === exec.id && /^DONE/.test(m.body) && m.state === 'delivered',
      ),
    );
    const live = (await h.json<InstanceView[]>(['ls'])).filter((i) => i.state !== 'terminated');
    assert.deepEqual(
      live.map((i) => i.id),
      [exec.id],
      'only the executive is still running',
    );
  });

  it('refuses an Executive that tries to edit a file: Claude Code does not offer Edit to it', async () => {
    const goal =
      'Fix the README yourself.\n```scripted {"tryEdit": "README.md"}```\n```plan\n{"managers":[]}\n```';
    const started = await h.json<{ run: { id: string }; executive: { id: string } }>(
      ['run', goal, '--agent', 'claude', '--repo', repo],
      { env: env(), timeoutMs: 120_000 },
    );
    await eventually(
      'the executive to finish its turn',
      async () => (await status(h, started.run.id)).quiescent,
      120_000,
    );
    assert.equal(
      (await runCommand(['git', '-C', repo, 'status', '--porcelain'])).stdout,
      '',
      'nothing was edited',
    );
    // Claude Code writes its transcript file a moment after the turn ends.
    const transcript = await eventually('the refusal in the transcript', async () => {
      const t = await claudeTranscript(h, started.executive.id);
      return /EDIT REFUSED: Edit/.test(t) ? t : null;
    });
    assert.match(transcript, /No such tool available: Edit/);
  });

  it('delivers a long multi-line message to a busy Claude Code instance at its next Stop, confirmed', async () => {
    const goal = 'Think slowly.\n```scripted {"delayMs": 4000}```\n```plan\n{"managers":[]}\n```';
    const started = await h.json<{ run: { id: string }; executive: { id: string } }>(
      ['run', goal, '--agent', 'claude', '--repo', repo],
      { env: env(), timeoutMs: 120_000 },
    );
    const execId = started.executive.id;
    await eventually('the executive to be busy with its goal', async () => {
      const i = (await h.json<InstanceView[]>(['ls'])).find((x) => x.id === execId);
      return i?.state === 'busy';
    });
    const text = Array.from({ length: 120 }, (_, n) => `line ${n}: "quoted" $HOME \`cmd\` ; done`).join('\n');
    const sent = await h.json<{ messageId: string; delivered: boolean }>(
      ['send', execId, text, '--timeout', '120'],
      {
        timeoutMs: 180_000,
      },
    );
    assert.equal(sent.delivered, true);
    const log = (await h.run(['log', '--json', '--instance', execId])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; data: { to?: string; messageId?: string } });
    const deliveredAt = log.findIndex(
      (e) => e.kind === 'message.delivered' && e.data.messageId === sent.messageId,
    );
    assert.ok(deliveredAt > 0);
    const before = log.slice(0, deliveredAt).filter((e) => e.kind === 'instance.state');
    assert.equal(
      before.at(-1)?.data.to,
      'busy',
      'handed over while the agent was still in its turn (Stop hook)',
    );
    assert.match(await claudeTranscript(h, execId), new RegExp(sent.messageId));
  });

  it('restarts a Claude Code instance in place, resuming its conversation', async () => {
    const goal = 'Stay idle.\n```plan\n{"managers":[]}\n```';
    const started = await h.json<{ run: { id: string }; executive: { id: string; tmuxSession: string } }>(
      ['run', goal, '--agent', 'claude', '--repo', repo],
      { env: env(), timeoutMs: 120_000 },
    );
    const id = started.executive.id;
    await eventually(
      'the first turn to be over',
      async () => (await status(h, started.run.id)).quiescent,
      120_000,
    );
    const sessionId = readFileSync(join(h.home, 'instances', id, 'claude-session-id'), 'utf8').trim();
    const r = await h.run(['restart', id], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const inst = (await h.json<InstanceView[]>(['ls'])).find((i) => i.id === id);
    assert.equal(inst?.state, 'idle');
    const pane = spawnSync(
      'tmux',
      [
        '-L',
        h.paths.tmuxSocket,
        'list-panes',
        '-t',
        `=${started.executive.tmuxSession}:`,
        '-F',
        '#{pane_start_command}',
      ],
      { encoding: 'utf8' },
    );
    assert.match(pane.stdout, new RegExp(`--resume\\s+\\S*${sessionId}`));
  });

  it('shows a specialist stuck on a permission dialog as blocked and tells its parent', async () => {
    const goal = 'Stay idle.\n```plan\n{"managers":[]}\n```';
    const started = await h.json<{ run: { id: string }; executive: { id: string; tmuxSession: string } }>(
      ['run', goal, '--agent', 'claude', '--repo', repo],
      { env: env(), timeoutMs: 120_000 },
    );
    const outside = join(mkdtempSync(join(tmpdir(), 'tc-outside-')), 'x.txt');
    h.track(dirname(outside));
    const exec = await mcpAs(h, started.executive.tmuxSession);
    try {
      const res = await exec.callTool({
        name: 'spawn',
        arguments: {
          role: 'specialist',
          name: 'outsider',
          prompt: `Write outside your worktree.\n\`\`\`scripted {"tryEdit": ${JSON.stringify(outside)}, "tryTool": "Write"}\`\`\``,
        },
      });
      assert.equal(res.isError, undefined, JSON.stringify(res.content));
      const spec = JSON.parse((res.content as Array<{ text: string }>)[0]!.text) as { id: string };
      const blocked = await eventually(
        'the specialist to be blocked on the dialog',
        async () => {
          const i = (await h.json<InstanceView[]>(['ls'])).find((x) => x.id === spec.id);
          return i?.state === 'blocked' ? i : null;
        },
        60_000,
      );
      assert.match(blocked.error ?? '', /blocked on a dialog/);
      assert.ok(!existsSync(outside), 'nothing was written outside the worktree');
      const messages = await h.json<Array<{ from: string; to: string; body: string }>>(['messages']);
      assert.ok(
        messages.some(
          (m) => m.from === 'supervisor' && m.to === started.executive.id && m.body.includes(spec.id),
        ),
        'the parent is told',
      );
    } finally {
      await exec.close();
    }
  });
});

/** Claude Code's own session transcript of an instance (its private config dir), as text. */
async function claudeTranscript(h: CliHarness, id: string): Promise<string> {
  const root = join(h.home, 'instances', id, 'claude-config', 'projects');
  const out: string[] = [];
  for (const dir of readdirSync(root)) {
    for (const f of readdirSync(join(root, dir))) {
      if (f.endsWith('.jsonl')) out.push(readFileSync(join(root, dir, f), 'utf8'));
    }
  }
  return out.join('\n');
}

/** An MCP client acting as the instance in `session` (its token read from the tmux session's environment). */
async function mcpAs(h: CliHarness, session: string): Promise<Client> {
  const r = spawnSync(
    'tmux',
    ['-L', h.paths.tmuxSocket, 'show-environment', '-t', `=${session}`, 'TMUX_CLAUDE_TOKEN'],
    {
      encoding: 'utf8',
    },
  );
  const token = r.stdout.trim().split('=').slice(1).join('=');
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${h.supervisorInfo()!.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}
