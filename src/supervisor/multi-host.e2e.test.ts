import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Host } from '../core/index.js';
import { Git } from '../git/index.js';
import type { InstanceView, TaskView } from '../mcp/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../scripted-model/index.js';
import { deleteKeys, randomPrefix, storeUrl, whenRedis } from '../store/redis/testing/redis-harness.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, sampleRepo } from '../testing/org-helpers.js';
import type { MessageFlowRow } from './http-app.js';
import type { RunStatus } from './organisation.js';

/** One host: its own home (so its own supervisor and tmux server), on the shared Redis store. */
class HostHarness extends CliHarness {
  constructor(
    readonly host: string,
    private readonly store: string,
  ) {
    super();
  }

  override env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return super.env({
      TMUX_CLAUDE_STORE: this.store,
      TMUX_CLAUDE_HOST: this.host,
      TMUX_CLAUDE_HOST_TIMEOUT_S: '3',
      ...extra,
    });
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

await whenRedis('several hosts on one Redis', () => {
  describe('three supervisors on one Redis, one killed -9 mid-run', () => {
    const prefix = randomPrefix('hosts');
    const url = storeUrl(prefix);
    const hosts = ['h1', 'h2', 'h3'].map((id) => new HostHarness(id, url));
    const [h1, h2, h3] = hosts as [HostHarness, HostHarness, HostHarness];
    let model: ScriptedModelServer;

    before(async () => {
      // Slow enough that the specialists are mid-task when a host dies.
      model = await createScriptedModelServer({ delayMs: 2000 });
    });
    after(async () => {
      for (const h of hosts) await h.cleanup().catch(() => undefined);
      await model?.close();
      await deleteKeys(prefix);
    });

    it('spreads the demo over the hosts, re-homes the lost host’s work, and finishes every task once', async (t) => {
      for (const h of [h2, h3]) {
        const up = await h.run(['up']);
        assert.equal(up.code, 0, up.stderr);
      }
      const repo = await sampleRepo(h1);
      const started = await h1.json<{ run: { id: string } }>(
        ['run', 'build the demo library', '--repo', repo, '--target', 'main'],
        { env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test' } },
      );
      const runId = started.run.id;
      const status = (h: CliHarness = h1) => api<RunStatus>(h, 'GET', `/runs/${runId}`);

      // A second supervisor under a host id that is in use is refused, naming the holder.
      const twin = new HostHarness('h3', url);
      try {
        const refused = await twin.run(['up']);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /host id h3 is in use by a live supervisor/);
      } finally {
        await twin.cleanup();
      }

      // Wait until h2 or h3 runs a specialist that holds its task (working on the slow model): that host dies.
      // Placement follows load, so which of the two gets one first is not fixed; h1 (the test's own) stays.
      const mid = await eventually(
        'a specialist on h2 or h3 holding its task',
        async () => {
          const s = await status();
          const tasks = (await api<{ tasks: TaskView[] }>(h1, 'GET', `/tasks?run=${runId}`)).tasks;
          const holder = s.instances.find(
            (i) =>
              i.host !== 'h1' &&
              i.role === 'specialist' &&
              tasks.some((task) => task.owner === i.id && task.state === 'claimed'),
          );
          return holder ? { s, tasks, host: holder.host } : null;
        },
        120_000,
      );
      const [lost, kept] = mid.host === 'h2' ? [h2, h3] : [h3, h2];
      const spread = new Set(mid.s.instances.map((i) => i.host));
      assert.ok(spread.size >= 2, `the organisation spans hosts: ${[...spread].join(', ')}`);
      const onLost = mid.s.instances.filter((i) => i.host === lost.host && i.state !== 'terminated');
      const heldOnLost = mid.tasks
        .filter((task) => onLost.some((i) => i.id === task.owner))
        .map((task) => task.id);

      // Every supervisor sees the whole organisation; another host's screen is read through its supervisor.
      const fromKept = await kept.json<InstanceView[]>(['ls']);
      assert.deepEqual(
        fromKept.map((i) => i.id).sort(),
        (await h1.json<InstanceView[]>(['ls'])).map((i) => i.id).sort(),
      );
      const remote = onLost[0]!;
      const read = await h1.run(['read', remote.id]);
      assert.equal(read.code, 0, read.stderr);
      assert.ok(read.stdout.trim().length > 0, `h1 reads a pane that lives on ${lost.host}`);
      const attach = await h1.run(['attach', remote.id]);
      assert.notEqual(attach.code, 0);
      assert.match(attach.stderr, new RegExp(`runs on host ${lost.host}`));
      const hostsText = await h1.run(['hosts']);
      assert.match(hostsText.stdout, /\*h1\s+up/);
      assert.match(hostsText.stdout, new RegExp(`${lost.host}\\s+up`));

      // ---- that host's supervisor dies (its agents live on, cut off from any supervisor) ----
      const victim = lost.supervisorInfo()!;
      const killedAt = Date.now();
      process.kill(victim.pid, 'SIGKILL');
      await eventually('its supervisor to die', () => !isAlive(victim.pid));

      const lostEvent = await eventually(
        `${lost.host} to be declared lost`,
        async () =>
          (await api<AuditEvent[]>(h1, 'GET', '/events?after=0')).find(
            (e) => e.kind === 'host.lost' && (e.data as { host: string }).host === lost.host,
          ),
        30_000,
      );
      const lostData = lostEvent.data as { instances: string[] };
      assert.deepEqual(
        [...lostData.instances].sort(),
        onLost
          .filter((i) => i.state !== 'dead')
          .map((i) => i.id)
          .sort()
          .filter((id) => lostData.instances.includes(id)),
      );
      const hostsJson = await kept.json<Array<Host & { live: number }>>(['hosts']);
      const lostRow = hostsJson.find((h) => h.id === lost.host)!;
      assert.equal(lostRow.state, 'lost');
      assert.ok(lostRow.lostBy === 'h1' || lostRow.lostBy === kept.host);

      // Its tasks are claimed again by instances on the other hosts.
      const reclaimed = await eventually(
        'the lost host’s tasks to be claimed on other hosts',
        async () => {
          const events = await api<AuditEvent[]>(h1, 'GET', '/events?after=0');
          const s = await status();
          const claims = heldOnLost.map((taskId) =>
            events.find(
              (e) =>
                e.kind === 'task.claimed' &&
                e.ts > killedAt &&
                (e.data as { taskId: string }).taskId === taskId &&
                s.instances.find((i) => i.id === e.instanceId)?.host !== lost.host,
            ),
          );
          return claims.every(Boolean) ? claims.map((e) => e!.ts) : null;
        },
        120_000,
      );
      const detectMs = lostEvent.ts - killedAt;
      const rehomeMs = Math.max(...reclaimed, lostEvent.ts) - killedAt;
      t.diagnostic(
        `${lost.host} killed: declared lost after ${detectMs} ms (host timeout 3 s); its ${heldOnLost.length} task(s) ` +
          `re-claimed on other hosts ${rehomeMs} ms after the kill`,
      );

      // ---- the run completes on the two hosts left ----
      const done = await eventually(
        `the run to finish without ${lost.host}`,
        async () => {
          const s = await status();
          return s.quiescent &&
            s.instances.filter((i) => i.role === 'manager').every((i) => i.state === 'terminated')
            ? s
            : null;
        },
        240_000,
      );
      assert.ok(
        done.instances.every((i) => i.host !== lost.host || i.state === 'dead' || i.state === 'terminated'),
        'nothing runs on the lost host',
      );
      const rehomed = done.instances.filter(
        (i) => i.role !== 'specialist' && onLost.some((o) => o.id === i.id),
      );
      for (const i of rehomed) assert.notEqual(i.host, lost.host, `${i.id} was re-homed`);

      // Every task done exactly once, and merged into main.
      const tasks = (await api<{ tasks: TaskView[] }>(h1, 'GET', `/tasks?run=${runId}`)).tasks;
      assert.ok(tasks.length >= 4, `${tasks.length} tasks`);
      const events = await api<AuditEvent[]>(h1, 'GET', '/events?after=0');
      for (const task of tasks) {
        assert.equal(task.state, 'done', `${task.id} ${task.title}: ${task.state}`);
        assert.ok(task.merged, `${task.id} merged`);
        const completions = events.filter(
          (e) => e.kind === 'task.completed' && (e.data as { taskId: string }).taskId === task.id,
        );
        assert.equal(completions.length, 1, `${task.id} completed once`);
      }
      const git = new Git();
      for (const s of done.instances.filter((i) => i.role === 'specialist' && i.state === 'terminated')) {
        assert.ok(await git.isMerged(repo, s.branch!, 'main'), `${s.branch} is on main`);
      }

      // Every message delivered: nothing pending, and a dead letter only for a recipient that was terminated.
      const rows = await api<MessageFlowRow[]>(h1, 'GET', `/messages?run=${runId}&limit=10000`);
      assert.deepEqual(
        rows.filter((r) => r.state === 'pending').map((r) => `${r.id} → ${r.to}`),
        [],
      );
      const byId = new Map(done.instances.map((i) => [i.id, i]));
      for (const r of rows.filter((row) => row.state === 'dead')) {
        assert.equal(byId.get(r.to)?.state, 'terminated', `dead letter ${r.id} to ${r.to}`);
      }
      const verify = await kept.run(['log', '--verify']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    });
  });
});
