import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { childrenIndex, descendantsOf, parentTable, processTable } from '../core/index.js';
import { ResourceSampler, type ResourceTarget } from './resources.js';

const children: ChildProcess[] = [];

/** A `node -e` child, killed after the suite (with its own children: it is a process group leader). */
function node(script: string): number {
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore', detached: true });
  children.push(child);
  return child.pid!;
}

const BUSY = 'for (;;) {}';
const IDLE = 'setInterval(() => {}, 1000)';
/** Idle itself, with one busy child. */
const PARENT = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(BUSY)}], { stdio: 'ignore' }); ${IDLE}`;
/** Runs one short busy command after another, each gone (and reaped) well within a sampling interval. */
const TOOLS = `const { spawnSync } = require('child_process');
for (;;) spawnSync(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 200) {}']);`;

function sampler(targets: ResourceTarget[], tmuxPid: number | null = null): ResourceSampler {
  return new ResourceSampler({
    targets: async () => targets,
    tmuxPid: () => tmuxPid,
    onError: (err) => assert.fail(String(err)),
  });
}

describe('ResourceSampler', () => {
  // Busy loops left running would starve the next test's processes.
  afterEach(() => {
    for (const c of children.splice(0)) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('measures CPU over the interval and RSS of real processes, and sums a tree', async () => {
    const busy = node(BUSY);
    const idle = node(IDLE);
    const parent = node(PARENT);
    const s = sampler(
      [
        { id: 'busy', pid: busy },
        { id: 'idle', pid: idle },
        { id: 'tree', pid: parent },
        { id: 'starting', pid: null },
      ],
      idle,
    );
    await sleep(300); // let the parent start its child
    await s.tick();
    const first = s.latest();
    assert.equal(first.instances.busy?.cpuPercent, null, 'no rate without a baseline');
    assert.ok(first.instances.busy!.rssBytes > 0);
    assert.equal(first.instances.starting, undefined, 'an instance without a pid has no sample yet');
    await sleep(1000);
    await s.tick();

    const { instances, host } = s.latest();
    const { busy: b, idle: i, tree: t } = instances;
    assert.ok(b && i && t);
    assert.ok(b.cpuPercent! > 20, `busy loop at ${b.cpuPercent} %`);
    assert.ok(i.cpuPercent! < 20, `idle process at ${i.cpuPercent} %`);
    assert.ok(b.rssBytes > 0 && i.rssBytes > 0);
    assert.equal(b.processes, 1);
    assert.equal(t.pid, parent);
    assert.equal(t.processes, 2, 'the parent and its child');
    assert.ok(t.cpuPercent! > 20, `the tree's busy child counts: ${t.cpuPercent} %`);
    assert.ok(t.rssBytes > i.rssBytes * 1.5, 'RSS is summed over the tree');
    assert.equal(s.series('busy')?.length, 2);

    assert.ok(host);
    assert.equal(typeof host.cpuPercent, 'number');
    assert.ok(host.memTotalBytes > 0 && host.memFreeBytes > 0 && host.cpus > 0);
    assert.equal(host.load.length, 3);
    assert.ok(host.supervisor && host.supervisor.rssBytes > 0 && host.supervisor.cpuPercent !== null);
    assert.equal(host.tmux?.processes, 1, 'the tmux server alone, not its panes');
    assert.equal(s.host().length, 2);
  });

  it('counts the short-lived commands a process runs, each once', async () => {
    const pid = node(TOOLS);
    const s = sampler([{ id: 'tools', pid }]);
    // What the tree has really used: its live processes plus everything they reaped.
    const used = (): number => {
      const table = processTable();
      return [pid, ...descendantsOf(pid, childrenIndex(parentTable(table)))]
        .map((p) => table.get(p))
        .reduce((sum, p) => sum + (p ? p.cpuSeconds + p.childCpuSeconds : 0), 0);
    };
    await s.tick();
    const before = used();
    for (let n = 0; n < 3; n++) {
      await sleep(1000);
      await s.tick();
    }
    const truth = used() - before;
    const series = s.series('tools')!;
    assert.equal(series[0]?.cpuPercent, null);
    const sampled = series
      .slice(1)
      .reduce((sum, x, i) => sum + ((x.cpuPercent ?? 0) / 100) * ((x.ts - series[i]!.ts) / 1000), 0);
    const rates = series.map((x) => x.cpuPercent).join(', ');
    assert.ok(truth > 0.3, `the commands ran: ${truth} s`);
    // Only the commands seen alive at a tick would give far less; one counted alive and again once reaped, more.
    assert.ok(
      Math.abs(sampled - truth) < truth * 0.15 + 0.05,
      `sampled ${sampled.toFixed(2)} s of CPU, used ${truth.toFixed(2)} s (${rates} %)`,
    );
  });

  it('drops the series of instances that ended and keeps at most `capacity` samples', async () => {
    const targets: ResourceTarget[] = [
      { id: 'a', pid: node(IDLE) },
      { id: 'b', pid: node(IDLE) },
    ];
    const s = new ResourceSampler({ targets: async () => targets, capacity: 3 });
    for (let n = 0; n < 5; n++) await s.tick();
    assert.equal(s.series('a')?.length, 3);
    assert.equal(s.host().length, 3);
    targets.pop();
    await s.tick();
    assert.equal(s.series('b'), undefined);
    assert.deepEqual(Object.keys(s.latest().instances), ['a']);
  });

  it('reports a failing tick to onError and keeps going', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const s = new ResourceSampler({
      targets: async () => {
        if (fail) throw new Error('store closed');
        return [];
      },
      onError: (err) => errors.push(err),
    });
    await s.tick();
    assert.equal(errors.length, 1);
    fail = false;
    await s.tick();
    assert.ok(s.latest().host);
  });
});
