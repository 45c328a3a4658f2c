import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Git } from '../git/index.js';
import { TOOLS_BY_ROLE, type InstanceView } from '../mcp/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../scripted-model/index.js';
import { CliHarness, eventually, processesOfHome } from '../testing/cli-harness.js';
import { api, mcpClient, resultText, sampleRepo, tokenOf } from '../testing/org-helpers.js';
import { isProcessAlive } from './run-file.js';
import type { RunStatus } from './organisation.js';

const git = new Git();

describe('tmux-claude demo through the built CLI', () => {
  const h = new CliHarness();
  after(() => h.cleanup());

  it('runs 1 executive → 2 managers → 4 specialists, merges every specialist commit into main, and cleans up', async () => {
    const r = await h.run(['demo', '--json'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as {
      repo: string;
      instances: Array<{
        id: string;
        role: string;
        parentId: string | null;
        state: string;
        branch: string | null;
      }>;
      mergedCommits: number;
      wallSeconds: number;
      messages: number;
      discoveries: number;
      executiveReport: string | null;
    };
    h.track(dirname(summary.repo));
    assert.ok(r.stderr.includes('+ mgr-'), 'the hierarchy was printed as it grew');

    const byRole = (role: string) => summary.instances.filter((i) => i.role === role);
    const [exec] = byRole('executive');
    assert.ok(exec);
    assert.equal(byRole('executive').length, 1);
    assert.equal(exec.parentId, null);
    assert.equal(exec.branch, 'main');
    const managers = byRole('manager');
    assert.equal(managers.length, 2);
    for (const m of managers) assert.equal(m.parentId, exec.id);
    const specialists = byRole('specialist');
    assert.ok(specialists.length >= 4, `at least 4 specialists, got ${specialists.length}`);
    for (const s of specialists) {
      assert.ok(
        managers.some((m) => m.id === s.parentId),
        `${s.id} reports to a manager`,
      );
      assert.match(s.branch ?? '', new RegExp(`^specialist-${s.id}-t[a-z0-9]+-[a-z0-9-]+$`));
      assert.ok(
        await git.isMerged(summary.repo, s.branch!, 'main'),
        `main holds every commit of ${s.branch}`,
      );
    }
    assert.ok(summary.instances.every((i) => i.state === 'terminated'));
    assert.ok(summary.mergedCommits >= specialists.length);
    assert.equal(typeof summary.wallSeconds, 'number');
    assert.ok(summary.messages >= specialists.length + managers.length);
    // Every specialist recorded a discovery, and the executive, querying last, sees every one of them.
    assert.equal(summary.discoveries, 4);
    assert.match(
      summary.executiveReport ?? '',
      /^ALL DONE: merged 2 managers .*; knowledge: 4 entries visible\.$/,
    );

    // The specialists' files are really on main, and the repo's checked-out tree follows it.
    const files = readdirSync(join(summary.repo, 'src'));
    assert.deepEqual(files.sort(), ['capitalize.js', 'clamp.js', 'slugify.js', 'sum.js']);
    assert.equal(
      spawnSync('git', ['-C', summary.repo, 'status', '--porcelain'], { encoding: 'utf8' }).stdout,
      '',
    );

    // Nothing of the demo is left behind: sessions, worktrees, processes, the supervisor.
    assert.deepEqual(h.tmuxSessions(), []);
    assert.equal((await git.listWorktrees(summary.repo)).length, 1);
    assert.deepEqual(existsSync(h.paths.worktrees) ? readdirSync(h.paths.worktrees) : [], []);
    await eventually('demo processes to exit', () => processesOfHome(h.home).length === 0);
    assert.equal(h.supervisorInfo(), null);
  });
});

describe('supervisor restart after kill -9 in the middle of a run', () => {
  const h = new CliHarness();
  let model: ScriptedModelServer;
  before(async () => {
    model = await createScriptedModelServer({ delayMs: 1500 });
  });
  after(async () => {
    await h.cleanup();
    await model.close();
  });

  it('adopts the live instances: none duplicated, none lost, and the run still completes', async () => {
    const repo = await sampleRepo(h);
    const started = await h.json<{ run: { id: string } }>(
      ['run', 'build the demo library', '--repo', repo, '--target', 'main'],
      {
        env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test' },
      },
    );
    const runId = started.run.id;
    // Kill while all four specialists work (each waits on the slow model) and no delivery is in flight.
    const mid = await eventually(
      'four busy specialists',
      async () => {
        const s = await api<RunStatus>(h, 'GET', `/runs/${runId}`);
        const specs = s.instances.filter((i) => i.role === 'specialist');
        return specs.length === 4 && specs.every((i) => i.state === 'busy') && s.pendingMessages === 0
          ? s
          : null;
      },
      120_000,
    );
    const old = h.supervisorInfo()!;
    process.kill(old.pid, 'SIGKILL');
    await eventually('the supervisor to die', () => !isProcessAlive(old.pid));
    const up = await h.run(['up']);
    assert.equal(up.code, 0, up.stderr);
    const fresh = h.supervisorInfo()!;
    assert.notEqual(fresh.pid, old.pid);

    const after = await h.json<InstanceView[]>(['ls']);
    const beforeIds = mid.instances.map((i) => i.id).sort();
    assert.deepEqual(after.map((i) => i.id).sort(), beforeIds, 'the same instances, none duplicated or lost');
    for (const inst of after) {
      const was = mid.instances.find((i) => i.id === inst.id)!;
      if (was.state !== 'terminated') assert.notEqual(inst.state, 'dead', `${inst.id} was adopted, not lost`);
    }
    assert.equal(new Set(h.tmuxSessions()).size, h.tmuxSessions().length);

    const done = await eventually(
      'the run to finish after the restart',
      async () => {
        const s = await api<RunStatus>(h, 'GET', `/runs/${runId}`);
        return s.quiescent &&
          s.instances.filter((i) => i.role === 'manager').every((i) => i.state === 'terminated')
          ? s
          : null;
      },
      180_000,
    );
    const specialists = done.instances.filter((i) => i.role === 'specialist');
    assert.equal(specialists.length, 4, 'no specialist was spawned twice');
    for (const s of specialists)
      assert.ok(await git.isMerged(repo, s.branch!, 'main'), `${s.branch} is on main`);
  });
});

describe('messages and roles against live agents', () => {
  const h = new CliHarness();
  let model: ScriptedModelServer;
  let execId: string;
  let execSession: string;
  before(async () => {
    model = await createScriptedModelServer();
    const repo = await sampleRepo(h);
    const goal = 'idle executive\n```plan\n{"managers":[]}\n```';
    const res = await h.json<{ executive: { id: string; tmuxSession: string } }>(
      ['run', goal, '--repo', repo],
      {
        env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test' },
      },
    );
    execId = res.executive.id;
    execSession = res.executive.tmuxSession;
  });
  after(async () => {
    await h.cleanup();
    await model.close();
  });

  it('delivers a message with shell metacharacters, tabs, unicode and 10 KB byte-for-byte', async () => {
    const nasty = `$HOME \`id\` "double" 'single' ; rm -rf / && echo $(whoami)\n\ttabbed\nünïcødé ✓ 🚀 中文\n${'0123456789'.repeat(1024)}`;
    const sent = await h.json<{ messageId: string; delivered: boolean }>(['send', execId, nasty]);
    assert.equal(sent.delivered, true);
    const transcript = readFileSync(join(h.home, 'instances', execId, 'transcript.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; text?: string });
    const prompts = transcript.filter((e) => e.type === 'prompt').map((e) => e.text);
    assert.ok(
      prompts.includes(`[tmux-claude] message ${sent.messageId} from user (user):\n${nasty}`),
      'the agent received the exact text',
    );
    const messages = await h.json<Array<{ id: string; state: string; body: string }>>(['messages']);
    const stored = messages.find((m) => m.id === sent.messageId);
    assert.equal(stored?.state, 'delivered');
    assert.equal(stored?.body, nasty);
  });

  it('enforces the role table from the token: a specialist cannot spawn, whatever its arguments claim', async () => {
    const url = h.supervisorInfo()!.url;
    const exec = await mcpClient(url, tokenOf(h, execSession));
    try {
      const execTools = (await exec.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(execTools, [...TOOLS_BY_ROLE.executive].sort());

      const malformed = await exec.callTool({ name: 'spawn', arguments: { role: 'ceo', name: 42 } });
      assert.equal(malformed.isError, true);
      assert.match(resultText(malformed), /role|name/i);

      const spawned = await exec.callTool({
        name: 'spawn',
        arguments: { role: 'specialist', name: 'probe' },
      });
      assert.equal(spawned.isError, undefined, resultText(spawned));
      const probe = JSON.parse(resultText(spawned)) as { id: string; tmuxSession: string; branch: string };
      assert.match(probe.branch, new RegExp(`^specialist-${probe.id}-`));

      const spec = await mcpClient(url, tokenOf(h, probe.tmuxSession));
      try {
        assert.deepEqual(
          (await spec.listTools()).tools.map((t) => t.name).sort(),
          [...TOOLS_BY_ROLE.specialist].sort(),
        );
        const refused = await spec.callTool({
          name: 'spawn',
          arguments: { role: 'specialist', name: 'x', caller_role: 'executive', as: execId },
        });
        assert.equal(refused.isError, true);
        const badSend = await spec.callTool({ name: 'send', arguments: { to: 'someone-else', text: 'hi' } });
        assert.equal(badSend.isError, true);
        assert.match(resultText(badSend), /only to its parent/);
      } finally {
        await spec.close();
      }

      const unknown = await exec.callTool({ name: 'terminate', arguments: { id: 'spec-nope' } });
      assert.equal(unknown.isError, true);
      assert.match(resultText(unknown), /not found/);

      const killed = await exec.callTool({ name: 'terminate', arguments: { id: probe.id } });
      assert.equal(killed.isError, undefined, resultText(killed));
      assert.ok(!h.tmuxSessions().includes(probe.tmuxSession));
    } finally {
      await exec.close();
    }
  });

  it('reads terminal output with cursors: --since returns only what came after', async () => {
    const first = await h.json<{ cursor: number; text: string }>(['read', execId]);
    assert.ok(first.cursor > 0);
    const sent = await h.json<{ messageId: string }>(['send', execId, 'cursor-probe-message']);
    const next = await eventually('new output after the cursor', async () => {
      const r = await h.json<{ cursor: number; text: string }>([
        'read',
        execId,
        '--since',
        String(first.cursor),
      ]);
      return r.text.includes(sent.messageId) ? r : null;
    });
    assert.ok(next.cursor > first.cursor);
    assert.ok(!next.text.includes('tmux-claude lite'), 'the banner before the cursor is not repeated');
  });

  it('detects a killed agent within seconds, restarts it in place with backoff, and gives up after the cap', async () => {
    const url = h.supervisorInfo()!.url;
    const exec = await mcpClient(url, tokenOf(h, execSession));
    const ls = async (): Promise<InstanceView[]> => h.json<InstanceView[]>(['ls', '--all']);
    const toldAbout = async (id: string, count: number) =>
      eventually(`the parent to be told of death ${count}`, async () => {
        const rows = await h.json<Array<{ from: string; body: string }>>(['messages']);
        const deaths = rows.filter(
          (m) => m.from === 'supervisor' && m.body.startsWith(`${id} (specialist) died:`),
        );
        return deaths.length >= count ? deaths[count - 1] : null;
      });
    try {
      const spawned = await exec.callTool({
        name: 'spawn',
        arguments: { role: 'specialist', name: 'crashy' },
      });
      const probe = JSON.parse(resultText(spawned)) as { id: string };
      for (let attempt = 1; attempt <= 4; attempt++) {
        const before = (await ls()).find((i) => i.id === probe.id)!;
        assert.equal(before.state, 'idle');
        assert.ok(before.pid);
        process.kill(before.pid, 'SIGKILL');
        const told = await toldAbout(probe.id, attempt);
        assert.match(told.body, /died: agent process exited .*It held no task\.\n/);
        assert.match(told.body, /\nIts last output:\n/);
        if (attempt <= 3) {
          assert.match(
            told.body,
            new RegExp(`restarts it in place in ${2 ** (attempt - 1)} s \\(attempt ${attempt} of 3\\)`),
          );
          const back = await eventually(
            `the automatic restart ${attempt}`,
            async () => {
              const i = (await ls()).find((x) => x.id === probe.id);
              return i?.state === 'idle' && i.pid !== before.pid ? i : null;
            },
            30_000,
          );
          assert.ok(back.pid);
        } else {
          assert.match(told.body, /gave up after 3 restarts/);
        }
      }
      await new Promise((r) => setTimeout(r, 1_500));
      const last = (await ls()).filter((i) => i.id === probe.id);
      assert.equal(last.length, 1, 'restarts never duplicate the instance');
      assert.equal(last[0]!.state, 'dead', 'left dead for its parent after the cap');
      const events = (await h.run(['log', '--json'])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; actor: string; instanceId: string | null });
      assert.equal(
        events.filter(
          (e) => e.kind === 'instance.restarted' && e.instanceId === probe.id && e.actor === 'supervisor',
        ).length,
        3,
      );
      // The parent can still bring it back by hand.
      const restarted = await h.run(['restart', probe.id]);
      assert.equal(restarted.code, 0, restarted.stderr);
    } finally {
      await exec.close();
    }
  });

  it('records spawns, tool calls and deliveries in the audit log', async () => {
    const events = (await h.run(['log', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; seq: number });
    const kinds = new Set(events.map((e) => e.kind));
    for (const k of [
      'run.created',
      'instance.spawned',
      'instance.state',
      'message.sent',
      'message.delivered',
      'tool.called',
    ]) {
      assert.ok(kinds.has(k), `log has ${k}`);
    }
    const seqs = events.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
  });

  it('spawns many specialists at once: every one gets ready with its own worktree', async () => {
    const url = h.supervisorInfo()!.url;
    const exec = await mcpClient(url, tokenOf(h, execSession));
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          exec.callTool({ name: 'spawn', arguments: { role: 'specialist', name: `par-${i}` } }),
        ),
      );
      for (const r of results) assert.equal(r.isError, undefined, resultText(r));
      const spawned = results.map((r) => JSON.parse(resultText(r)) as { id: string; worktree: string });
      assert.equal(new Set(spawned.map((s) => s.worktree)).size, 8);
      const live = await h.json<InstanceView[]>(['ls']);
      for (const s of spawned) assert.equal(live.find((i) => i.id === s.id)?.state, 'idle');
      await Promise.all(spawned.map((s) => exec.callTool({ name: 'terminate', arguments: { id: s.id } })));
    } finally {
      await exec.close();
    }
  });

  it('takes progress from an agent’s todo-list hook and rolls it up in get_progress and ls', async () => {
    const url = h.supervisorInfo()!.url;
    const token = tokenOf(h, execSession);
    const res = await fetch(`${url}/hooks/PostToolUse`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        hook_event_name: 'PostToolUse',
        tool_name: 'TodoWrite',
        tool_input: {
          todos: [
            { content: 'plan', status: 'completed' },
            { content: 'delegate', status: 'in_progress' },
            { content: 'merge', status: 'pending' },
            { content: 'report', status: 'pending' },
          ],
        },
      }),
    });
    assert.equal(res.status, 200);
    const exec = (await h.json<InstanceView[]>(['ls'])).find((i) => i.id === execId)!;
    assert.deepEqual(
      { percent: exec.progress?.percent, note: exec.progress?.note },
      { percent: 25, note: 'delegate' },
    );
    assert.match((await h.run(['ls'])).stdout, /25% delegate/);
    const client = await mcpClient(url, token);
    try {
      const report = JSON.parse(
        resultText(await client.callTool({ name: 'get_progress', arguments: {} })),
      ) as {
        root: string;
        instances: Array<{ id: string; progress: { percent: number } | null }>;
      };
      assert.equal(report.root, execId);
      assert.equal(report.instances.find((i) => i.id === execId)?.progress?.percent, 25);
    } finally {
      await client.close();
    }
  });

  it('keeps a worktree with unmerged commits when its specialist is terminated', async () => {
    const url = h.supervisorInfo()!.url;
    const exec = await mcpClient(url, tokenOf(h, execSession));
    try {
      const spawned = await exec.callTool({
        name: 'spawn',
        arguments: { role: 'specialist', name: 'keeper' },
      });
      const probe = JSON.parse(resultText(spawned)) as { id: string; worktree: string };
      spawnSync(
        'sh',
        [
          '-c',
          'echo work > work.txt && git add work.txt && git -c user.name=t -c user.email=t@t commit -qm work',
        ],
        {
          cwd: probe.worktree,
        },
      );
      const killed = await exec.callTool({ name: 'terminate', arguments: { id: probe.id } });
      const res = JSON.parse(resultText(killed)) as { keptWorktrees: string[] };
      assert.deepEqual(res.keptWorktrees, [probe.worktree]);
      assert.ok(existsSync(join(probe.worktree, 'work.txt')), 'unmerged work is never deleted');
    } finally {
      await exec.close();
    }
  });
  it('refuses to terminate a parent with live children unless cascading, then stops the whole subtree', async () => {
    const url = h.supervisorInfo()!.url;
    const exec = await mcpClient(url, tokenOf(h, execSession));
    try {
      await exec.callTool({ name: 'spawn', arguments: { role: 'specialist', name: 'child' } });
    } finally {
      await exec.close();
    }
    const refused = await h.run(['kill', execId]);
    assert.equal(refused.code, 5);
    assert.match(refused.stderr, /live children/);
    const res = await h.json<{ terminated: string[] }>(['kill', execId, '--cascade']);
    assert.ok(res.terminated.includes(execId));
    assert.deepEqual(h.tmuxSessions(), []);
    assert.ok((await h.json<InstanceView[]>(['ls', '--all'])).every((i) => i.state === 'terminated'));
  });
});

describe('a spawn that cannot start', () => {
  const h = new CliHarness();
  after(() => h.cleanup());

  it('fails with the reason and the pane’s last lines instead of hanging, and leaves nothing running', async () => {
    const repo = await sampleRepo(h);
    assert.equal((await h.run(['up'])).code, 0);
    const info = h.supervisorInfo()!;
    const res = await fetch(`${info.url}/api/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        goal: 'never starts',
        repo,
        agentEnv: { NODE_OPTIONS: '--require /nonexistent/boom.js' },
      }),
    });
    const body = (await res.json()) as {
      error: { code: string; message: string; details?: { screen?: string } };
    };
    assert.equal(res.status, 503);
    assert.equal(body.error.code, 'UNAVAILABLE');
    assert.match(body.error.message, /died while starting/);
    assert.match(body.error.details?.screen ?? '', /boom\.js/);
    assert.deepEqual(h.tmuxSessions(), []);
    const all = await h.json<InstanceView[]>(['ls', '--all']);
    assert.ok(all.every((i) => i.state === 'terminated'));
  });
});
