import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { Signals } from './signals.js';

/** Settles pending promise callbacks so a test can see which waits have resolved so far. */
async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Tracks a wait: `value` stays 'pending' until it settles. */
function track(promise: Promise<boolean>): { value: boolean | 'pending' } {
  const state: { value: boolean | 'pending' } = { value: 'pending' };
  void promise.then((v) => (state.value = v));
  return state;
}

void describe('Signals', () => {
  void test('wait resolves true when its key is notified', async () => {
    const signals = new Signals();
    const waiting = signals.wait('ready:spec-1', 60_000);
    signals.notify('ready:spec-1');
    assert.equal(await waiting, true);
  });

  void test('wait resolves false when the timeout passes without a notify', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const signals = new Signals();
    const waiting = track(signals.wait('ready:spec-1', 5_000));
    t.mock.timers.tick(4_999);
    await flush();
    assert.equal(waiting.value, 'pending');
    t.mock.timers.tick(1);
    await flush();
    assert.equal(waiting.value, false);
  });

  void test('notify wakes every waiter of its key and none of another key', async () => {
    const signals = new Signals();
    const a1 = track(signals.wait('a', 60_000));
    const a2 = track(signals.wait('a', 60_000));
    const b = track(signals.wait('b', 60_000));
    signals.notify('a');
    await flush();
    assert.equal(a1.value, true);
    assert.equal(a2.value, true);
    assert.equal(b.value, 'pending');
    signals.notify('b');
    await flush();
    assert.equal(b.value, true);
  });

  void test('a notify with nobody waiting is not remembered for a later wait', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const signals = new Signals();
    signals.notify('a');
    const later = track(signals.wait('a', 1_000));
    await flush();
    assert.equal(later.value, 'pending');
    t.mock.timers.tick(1_000);
    await flush();
    assert.equal(later.value, false);
  });

  void test('a waiter woken by notify is gone: its timeout no longer fires and a later notify finds only new waiters', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const signals = new Signals();
    const first = track(signals.wait('a', 1_000));
    signals.notify('a');
    await flush();
    assert.equal(first.value, true);
    t.mock.timers.tick(1_000);
    await flush();
    assert.equal(first.value, true, 'the timeout of a woken waiter does not fire');

    const second = track(signals.wait('a', 1_000));
    const other = track(signals.wait('b', 1_000));
    signals.notify('a');
    await flush();
    assert.equal(second.value, true, 'a fresh waiter on the same key is woken');
    t.mock.timers.tick(1_000);
    await flush();
    assert.equal(other.value, false);
  });

  void test('a waiter that timed out is gone: a later notify wakes only waiters that came after it', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const signals = new Signals();
    const early = track(signals.wait('a', 100));
    const long = track(signals.wait('a', 10_000));
    t.mock.timers.tick(100);
    await flush();
    assert.equal(early.value, false);
    assert.equal(long.value, 'pending');
    signals.notify('a');
    await flush();
    assert.equal(early.value, false, 'a timed-out waiter is not woken again');
    assert.equal(long.value, true);
  });

  void test('resolved waits leave no timers behind', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const signals = new Signals();
    const waits = Array.from({ length: 100 }, (_, i) => signals.wait(`k${i % 3}`, 3_600_000));
    assert.equal(timers(), before + 100);
    for (const key of ['k0', 'k1', 'k2']) signals.notify(key);
    assert.deepEqual(new Set(await Promise.all(waits)), new Set([true]));
    assert.equal(timers(), before);
  });

  void test('waitSince returns at once for a notification between reading the version and waiting', async () => {
    const signals = new Signals();
    const v = signals.version('inbox:a');
    signals.notify('inbox:a');
    assert.equal(await signals.waitSince('inbox:a', v, 60_000), true);
    const v2 = signals.version('inbox:a');
    assert.equal(v2, v + 1);
    const waiting = track(signals.waitSince('inbox:a', v2, 60_000));
    await flush();
    assert.equal(waiting.value, 'pending');
    signals.notify('inbox:a');
    await flush();
    assert.equal(waiting.value, true);
    assert.equal(await signals.waitSince('inbox:b', signals.version('inbox:b'), 10), false);
  });
  void test('notifyAll wakes every waiter and counts on every versioned key', async () => {
    const signals = new Signals();
    const v = signals.version('tasks:r');
    const a = track(signals.wait('inbox:a', 60_000));
    const b = track(signals.waitSince('events', signals.version('events'), 60_000));
    await flush();
    signals.notifyAll();
    await flush();
    assert.deepEqual([a.value, b.value], [true, true]);
    // A waiter that read its version before the resync and waits after it returns at once.
    assert.equal(await signals.waitSince('tasks:r', v, 60_000), true);
  });
});
