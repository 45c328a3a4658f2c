import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { childrenIndex, descendantsOf, hostCpuSeconds, parentTable, processTable, rssBytes } from './proc.js';

describe('/proc readings', () => {
  test('the process table has this process with its parent, CPU and resident memory', () => {
    const me = processTable().get(process.pid);
    assert.ok(me);
    assert.equal(me.ppid, process.ppid);
    assert.ok(me.cpuSeconds > 0 && me.startTicks > 0);
    // The same counter as VmRSS, read a moment apart.
    const vmRss = rssBytes(process.pid)!;
    assert.ok(Math.abs(me.rssBytes - vmRss) < vmRss * 0.2, `${me.rssBytes} vs VmRSS ${vmRss}`);
  });

  test('descendants include grandchildren', async () => {
    const script = `require('child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'inherit' }); console.log('up'); setTimeout(() => {}, 30000)`;
    const child = spawn(process.execPath, ['-e', script], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    try {
      await once(child.stdout, 'data');
      let found: number[] = [];
      for (let n = 0; n < 50 && found.length < 2; n++) {
        found = descendantsOf(process.pid, childrenIndex(parentTable()));
        if (found.length < 2) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(found.includes(child.pid!));
      const grandchild = found.find((p) => p !== child.pid);
      assert.equal(processTable().get(grandchild!)?.ppid, child.pid);
    } finally {
      process.kill(-child.pid!, 'SIGKILL'); // the group: the grandchild too
    }
  });

  test('machine CPU time counts busy within total', () => {
    const cpu = hostCpuSeconds();
    assert.ok(cpu && cpu.total > 0 && cpu.busy > 0 && cpu.busy <= cpu.total);
  });
});
