import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InstanceSample, ResourceSnapshot } from '../supervisor/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, mcpClient, resultText, sampleRepo, tokenOf } from '../testing/org-helpers.js';
import type { TopSnapshot } from './output.js';

interface Spawned {
  id: string;
  worktree: string;
  tmuxSession: string;
}

async function tool<T>(c: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const r = await c.callTool({ name, arguments: args });
  if (r.isError) throw new Error(resultText(r));
  return JSON.parse(resultText(r)) as T;
}

describe('tmux-claude top and /api/resources', () => {
  const h = new CliHarness();
  let runId: string;
  let execId: string;
  const clients: Client[] = [];
  const specs: Spawned[] = [];

  before(async () => {
    const repo = await sampleRepo(h);
    const res = await h.json<{ run: { id: string }; executive: { id: string; tmuxSession: string } }>(
      ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo],
      { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', ANTHROPIC_API_KEY: 'test' } },
    );
    runId = res.run.id;
    execId = res.executive.id;
    const url = h.supervisorInfo()!.url;
    const exec = await mcpClient(url, tokenOf(h, res.executive.tmuxSession));
    clients.push(exec);
    for (const name of ['one', 'two']) {
      // No prompt: the specialist idles.
      specs.push(await tool<Spawned>(exec, 'spawn', { role: 'specialist', name }));
    }
    // One holds a task; both change the same file: one conflict for the run.
    const spec = await mcpClient(url, tokenOf(h, specs[0]!.tmuxSession));
    clients.push(spec);
    const { task } = await tool<{ task: { id: string } }>(exec, 'create_task', { title: 'Measure things' });
    await tool(spec, 'claim_task', { task_id: task.id });
    for (const s of specs) writeFileSync(join(s.worktree, 'shared.txt'), s.id);
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await h.cleanup();
  });

  const measured = (i: { cpuPercent: number | null; rssBytes: number | null } | undefined): boolean =>
    typeof i?.cpuPercent === 'number' && typeof i.rssBytes === 'number' && i.rssBytes > 0;

  it('`top --json` has CPU and RSS numbers for the executive and the specialists', async () => {
    const snap = await eventually('every instance to have two samples', async () => {
      const s = await h.json<TopSnapshot>(['top']);
      return [execId, ...specs.map((x) => x.id)].every((id) => measured(s.instances.find((i) => i.id === id)))
        ? s
        : null;
    });
    const one = snap.instances.find((i) => i.id === specs[0]!.id)!;
    assert.equal(one.parentId, execId);
    assert.equal(one.runId, runId);
    assert.equal(one.task?.title, 'Measure things', 'the claimed task');
    assert.deepEqual(snap.runs, [{ id: runId, conflicts: 1, worktreeOverlaps: 1, tasksWaitingOnFiles: 0 }]);
    assert.ok(snap.host && snap.host.memTotalBytes > 0 && snap.host.cpus > 0);
    assert.ok(snap.host.supervisor && snap.host.supervisor.rssBytes > 0);
    assert.ok(snap.host.tmux && snap.host.tmux.rssBytes > 0, 'the tmux server is sampled');
  });

  it('`top --once` prints one frame with the tree and its CPU and RSS columns', async () => {
    for (const args of [['top', '--once'], ['top']]) {
      // Without a terminal on stdout, plain `top` prints one frame too.
      const r = await h.run(args, { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      assert.match(lines[1]!, /^host: CPU \d+% of \d+ cores {2}load /);
      assert.match(
        lines[2]!,
        new RegExp(`^runs: ${runId} 1 conflict \\(1 file\\(s\\) changed in two worktrees\\)`),
      );
      assert.match(lines[4]!, /^INSTANCE +STATE +TASK +PROG +CPU% +RSS MB +UNREAD$/);
      assert.match(lines[5]!, new RegExp(`^${execId} +\\S+ +- +\\S+ +\\d+\\.\\d +\\d+ +\\S+$`));
      assert.match(
        lines[6]!,
        new RegExp(`^├─ ${specs[0]!.id} +idle +t\\S+ Measure things +- +\\d+\\.\\d +\\d+ +-$`),
      );
      assert.match(lines[7]!, new RegExp(`^└─ ${specs[1]!.id} +idle +\\S+ +- +\\d+\\.\\d +\\d+ +-$`));
    }
    const bad = await h.run(['top', '--interval', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--interval "0": expected seconds/);
  });

  it('/api/resources serves the series of an instance and of the host, and drops ended instances', async () => {
    const spec = specs[1]!.id;
    const series = await eventually('a series of several samples', async () => {
      const r = await api<{ samples: InstanceSample[] }>(h, 'GET', `/resources?instance=${spec}`);
      return r.samples.length >= 3 ? r.samples : null;
    });
    assert.ok(series.every((s) => s.rssBytes > 0 && s.processes >= 1));
    assert.ok(series[1]!.ts > series[0]!.ts);
    const host = await api<{ samples: unknown[] }>(h, 'GET', '/resources?host=1');
    assert.ok(host.samples.length >= 3);
    const info = h.supervisorInfo()!;
    const missing = await fetch(`${info.url}/api/resources?instance=nope`, {
      headers: { authorization: `Bearer ${info.token}` },
    });
    assert.equal(missing.status, 404);

    const killed = await h.run(['kill', spec]);
    assert.equal(killed.code, 0, killed.stderr);
    await eventually('the ended instance to be dropped', async () => {
      const latest = await api<ResourceSnapshot>(h, 'GET', '/resources');
      return latest.instances[spec] === undefined && latest.instances[execId] !== undefined;
    });
    const after = await api<{ samples: InstanceSample[] }>(h, 'GET', `/resources?instance=${spec}`);
    assert.deepEqual(after.samples, []);
    const shown = await h.json<TopSnapshot>(['top']);
    assert.equal(
      shown.instances.find((i) => i.id === spec),
      undefined,
      'terminated instances are hidden',
    );
    const all = await h.json<TopSnapshot>(['top', '--all']);
    assert.equal(all.instances.find((i) => i.id === spec)?.state, 'terminated');
  });
});
