import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Bus } from '../../bus/index.js';
import { Coordinator } from '../../coordinator/index.js';
import { Signals, silentLogger, type Instance, type Role } from '../../core/index.js';
import { signalKeysFor } from '../../supervisor/supervisor.js';
import type { NewTask, StoreChange } from '../types.js';
import { RedisStore } from './redis-store.js';
import { REDIS_URL, deleteKeys, randomPrefix, storeUrl, whenRedis } from './testing/redis-harness.js';
import { testInstance } from '../../testing/instances.js';

/*
 * Two RedisStore instances on one prefix stand for two processes (two supervisors, or a supervisor and a CLI):
 * a commit through one wakes waiters on the other through Pub/Sub hints, turned into the same signal keys
 * the supervisor wires (signalKeysFor).
 */

const RUN = 'run-wake';

function instance(role: Role, parentId: string | null): Instance {
  return testInstance({ runId: RUN, role, parentId });
}

function task(id: string, createdBy: string): NewTask {
  return {
    id,
    runId: RUN,
    title: id,
    description: '',
    dependsOn: [],
    files: [],
    priority: 0,
    createdBy,
    assignee: null,
    maxAttempts: 2,
    createdAt: Date.now(),
  };
}

/** Signals that tell when a waiter has started waiting (after its look at the store). */
class WatchedSignals extends Signals {
  private onWait: (() => void) | undefined;

  /** Resolves when the next waitSince starts. */
  nextWait(): Promise<void> {
    return new Promise((resolve) => (this.onWait = resolve));
  }

  override waitSince(key: string, version: number, timeoutMs: number): Promise<boolean> {
    const started = super.waitSince(key, version, timeoutMs);
    this.onWait?.();
    this.onWait = undefined;
    return started;
  }
}

/** Wires a store's external changes to signals the way the supervisor does. */
function wire(store: RedisStore, signals: Signals): () => void {
  return store.onExternalChange((changes) => {
    for (const c of changes) {
      const keys = signalKeysFor(c);
      if (keys === 'all') signals.notifyAll();
      else for (const k of keys) signals.notify(k);
    }
  });
}

/** Collects the changes a store hears, and resolves when one matches. */
class Heard {
  readonly changes: StoreChange[] = [];
  private waiters: Array<{ match: (c: StoreChange) => boolean; resolve: () => void }> = [];

  constructor(store: RedisStore) {
    store.onExternalChange((changes) => {
      this.changes.push(...changes);
      this.waiters = this.waiters.filter((w) => {
        if (!changes.some(w.match)) return true;
        w.resolve();
        return false;
      });
    });
  }

  until(match: (c: StoreChange) => boolean): Promise<void> {
    if (this.changes.some(match)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

/**
 * Returns once `here` hears `there`'s hints (its subscription is active): `there` changes a probe instance
 * until `here` has heard it.
 */
async function subscribed(here: RedisStore, there: RedisStore): Promise<void> {
  const probe = instance('specialist', null);
  await there.instances.create(probe);
  let heard = false;
  const stop = here.onExternalChange((changes) => {
    heard ||= changes.some((c) => c.kind === 'instance' && c.id === probe.id);
  });
  try {
    for (let i = 0; !heard; i += 1) {
      assert.ok(i < 1500, `${here.location} never heard a hint from the other store`);
      await there.instances.update(probe.id, { state: i % 2 ? 'idle' : 'busy' });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    stop();
  }
}

const same = (want: StoreChange) => (c: StoreChange) => JSON.stringify(c) === JSON.stringify(want);

await whenRedis('redis wake-ups across processes', () => {
  describe('redis wake-ups across processes', () => {
    const prefix = randomPrefix('wake');
    const opened: RedisStore[] = [];
    const open = (): RedisStore => {
      const s = new RedisStore(storeUrl(prefix));
      opened.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    after(async () => {
      await deleteKeys(prefix);
    });

    it('hears what another store committed, exactly, and not its own commits', async () => {
      const here = open();
      const there = open();
      await subscribed(here, there);
      const heard = new Heard(here);
      const mgr = instance('manager', null);
      const spec = instance('specialist', mgr.id);
      const other = instance('specialist', mgr.id);
      const post = (store: RedisStore, id: string, recipients: string[]) =>
        store.messages.post(
          {
            id,
            runId: RUN,
            from: mgr.id,
            to: recipients.join(','),
            subject: null,
            body: id,
            requiresAck: true,
            replyTo: null,
            clientId: null,
            topic: null,
            createdAt: Date.now(),
          },
          recipients,
        );
      // Our own commits first, published before the other store's: its hint goes out at the end of the
      // tick, and a PING on the same connection answers after it.
      await here.instances.create(mgr);
      await here.instances.update(mgr.id, { state: 'busy' });
      await post(here, 'msg-own', [spec.id]);
      await new Promise((resolve) => setImmediate(resolve));
      await here.ping();

      await there.instances.create(spec);
      await post(there, 'msg-1', [spec.id, other.id]);
      await there.messages.markDelivered(spec.id, ['msg-1'], Date.now());
      await there.messages.requeueUnacked(spec.id);
      await there.messages.ack(other.id, ['msg-1'], Date.now());
      await there.instances.update(spec.id, { state: 'busy' });
      await there.tasks.create([task('t-wake-1', mgr.id)]);
      await there.events.append({
        kind: 'tmux.orphan',
        actor: 'supervisor',
        instanceId: null,
        data: { session: 'x' },
      });
      // One connection publishes in commit order, so once the last hint is here, all are.
      await heard.until(same({ kind: 'events' }));
      assert.deepEqual(heard.changes, [
        { kind: 'mail', recipient: spec.id },
        { kind: 'mail', recipient: other.id },
        { kind: 'delivery', messageId: 'msg-1' },
        { kind: 'mail', recipient: spec.id },
        { kind: 'delivery', messageId: 'msg-1' },
        { kind: 'instance', id: spec.id },
        { kind: 'tasks', runId: RUN },
        { kind: 'events' },
      ]);
    });

    it('wakes wait_for_messages on one store when another posts', async () => {
      const here = open();
      const there = open();
      const signals = new WatchedSignals();
      wire(here, signals);
      const mgr = instance('manager', null);
      const spec = instance('specialist', mgr.id);
      for (const i of [mgr, spec]) await here.instances.create(i);
      await subscribed(here, there);
      const bus = (store: RedisStore, s: Signals) =>
        new Bus({
          store,
          signals: s,
          log: silentLogger(),
          emit: async (e) => void (await store.events.append(e)),
        });
      await here.ping();
      const waiting = signals.nextWait();
      const waited = bus(here, signals).waitForMessages(spec.id, { timeoutMs: 60_000, parentId: mgr.id });
      // The waiter looked, found nothing and sleeps: only a wake-up (or the timeout) ends it now.
      await waiting;
      await bus(there, new Signals()).send(
        { id: mgr.id, role: 'manager', runId: RUN, parentId: null },
        { to: spec.id, body: 'from the other process', requiresAck: true },
      );
      const got = await waited;
      assert.equal(got.timedOut, false);
      assert.deepEqual(
        got.messages.map((e) => e.message.body),
        ['from the other process'],
      );
    });

    it('wakes claim_task with a wait on one store when another creates claimable work', async () => {
      const here = open();
      const there = open();
      const signals = new WatchedSignals();
      wire(here, signals);
      const mgr = instance('manager', null);
      const spec = instance('specialist', mgr.id);
      const coordinator = new Coordinator({
        store: here,
        signals,
        emit: async (e) => void (await here.events.append(e)),
        notify: async () => {},
        log: silentLogger(),
        leaseTtlMs: 120_000,
        maxAttempts: 2,
      });
      await subscribed(here, there);
      const waiting = signals.nextWait();
      const claimed = coordinator.claim(
        { id: spec.id, role: 'specialist', runId: RUN, parentId: mgr.id, branch: null },
        { waitMs: 60_000 },
      );
      await waiting;
      await there.tasks.create([task('t-wake-2', mgr.id)]);
      const out = await claimed;
      assert.equal(out.task?.id, 't-wake-2');
      coordinator.close();
    });

    it('tells listeners to look again after the hint connection was lost, and hears hints again after', async () => {
      const here = open();
      const there = open();
      await subscribed(here, there);
      const heard = new Heard(here);
      const raw = new Redis(REDIS_URL);
      try {
        const clients = (await raw.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
        const line = clients.split('\n').find((l) => l.includes(`name=tmux-claude-wake-${here.wakeOrigin}`));
        assert.ok(line, 'the subscriber connection is named after its store');
        const id = /\bid=(\d+)/.exec(line)![1]!;
        await raw.call('CLIENT', 'KILL', 'ID', id);
      } finally {
        raw.disconnect();
      }
      await heard.until(same({ kind: 'resync' }));
      const later = instance('specialist', null);
      await there.instances.create(later);
      await there.instances.update(later.id, { state: 'busy' });
      await heard.until(same({ kind: 'instance', id: later.id }));
    });
  });
});
