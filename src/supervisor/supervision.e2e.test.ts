import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../core/index.js';
import type { InstanceView } from '../mcp/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../scripted-model/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, mcpClient, resultText, sampleRepo, tokenOf } from '../testing/org-helpers.js';

describe('supervision of host-level faults', () => {
  const h = new CliHarness();
  const ids: string[] = [];

  before(async () => {
    const repo = await sampleRepo(h);
    const res = await h.json<{ executive: { id: string; tmuxSession: string } }>(
      ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo],
      { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', ANTHROPIC_API_KEY: 'test' } },
    );
    ids.push(res.executive.id);
    const exec = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, res.executive.tmuxSession));
    try {
      for (const name of ['one', 'two']) {
        const r = await exec.callTool({ name: 'spawn', arguments: { role: 'specialist', name } });
        assert.equal(r.isError, undefined, resultText(r));
        ids.push((JSON.parse(resultText(r)) as { id: string }).id);
      }
    } finally {
      await exec.close();
    }
  });
  after(() => h.cleanup());

  const live = async (): Promise<InstanceView[]> =>
    (await api<InstanceView[]>(h, 'GET', '/instances')).filter((i) => ids.includes(i.id));

  it('the tmux server killed: every instance is detected dead and restarted on a new server, hooks and all', async () => {
    // The executive's first turn fails (no model behind its URL) and ends; then all three are idle.
    const before = await eventually('all three idle', async () => {
      const now = await live();
      return now.length === 3 && now.every((i) => i.state === 'idle' && i.pid) ? now : null;
    });
    const kill = spawnSync('tmux', ['-L', h.paths.tmuxSocket, 'kill-server']);
    assert.equal(kill.status, 0, kill.stderr.toString());

    const back = await eventually(
      'every instance to be restarted',
      async () => {
        const now = await live();
        return now.every((i) => i.state === 'idle' && i.pid !== before.find((b) => b.id === i.id)?.pid)
          ? now
          : null;
      },
      60_000,
    );
    assert.equal(back.length, 3, 'none duplicated');
    const events = await api<AuditEvent[]>(h, 'GET', '/events?after=0');
    for (const id of ids) {
      assert.ok(
        events.some(
          (e) =>
            e.kind === 'instance.state' && e.instanceId === id && (e.data as { to: string }).to === 'dead',
        ),
        `${id} was detected dead`,
      );
      assert.ok(
        events.some(
          (e) => e.kind === 'instance.restarted' && e.instanceId === id && e.actor === 'supervisor',
        ),
        `${id} was restarted by the supervisor`,
      );
    }
    // The new server carries the pane-died hook again: a later kill is reported by the hook as before.
    const hook = spawnSync('tmux', ['-L', h.paths.tmuxSocket, 'show-hooks', '-g', 'pane-died'], {
      encoding: 'utf8',
    });
    assert.match(hook.stdout, /pane-died.*run-shell -b/);
  });
});

describe('supervision of a hung agent', () => {
  const h = new CliHarness();
  let model: ScriptedModelServer;
  after(async () => {
    await h.cleanup();
    await model?.close();
  });

  it('a busy agent whose model stops answering is marked stuck, nudged, then interrupted back to idle', async () => {
    model = await createScriptedModelServer();
    const repo = await sampleRepo(h);
    const res = await h.json<{ executive: { tmuxSession: string } }>(
      ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo],
      {
        env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test', TMUX_CLAUDE_STUCK_AFTER_S: '3' },
      },
    );
    const exec = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, res.executive.tmuxSession));
    let id: string;
    try {
      // The model holds its answer for 10 minutes: the agent sits in a turn with no output, hook or tool call.
      const r = await exec.callTool({
        name: 'spawn',
        arguments: {
          role: 'specialist',
          name: 'hung',
          prompt: 'Think hard.\n```scripted {"delayMs": 600000}```',
        },
      });
      assert.equal(r.isError, undefined, resultText(r));
      id = (JSON.parse(resultText(r)) as { id: string }).id;
    } finally {
      await exec.close();
    }
    const recoveries = async (): Promise<string[]> =>
      (await api<AuditEvent[]>(h, 'GET', '/events?after=0'))
        .filter((e) => e.kind === 'instance.recovery' && e.instanceId === id)
        .map((e) => (e.data as { action: string }).action);
    await eventually(
      'the agent to be marked stuck',
      async () =>
        (await api<AuditEvent[]>(h, 'GET', '/events?after=0')).some(
          (e) =>
            e.kind === 'instance.state' && e.instanceId === id && (e.data as { to: string }).to === 'stuck',
        ),
      30_000,
    );
    await eventually(
      'the turn to be interrupted and the agent idle again',
      async () => {
        const i = (await api<InstanceView[]>(h, 'GET', '/instances')).find((x) => x.id === id);
        return i?.state === 'idle' && (await recoveries()).includes('interrupt');
      },
      30_000,
    );
    assert.deepEqual((await recoveries()).slice(0, 2), ['nudge', 'interrupt']);
    assert.ok(!(await recoveries()).includes('restart'), 'the interrupt was enough');
  });
});
