import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Instance, TmuxClaudeError } from '../../core/index.js';
import type { NewMessage, Store } from '../types.js';
import { testInstance } from '../../testing/instances.js';

/** Builds a unique store for one suite run and disposes of it (files, key prefixes). */
export interface StoreHarness {
  open(): Promise<Store>;
  dispose(): Promise<void>;
}

let counter = 0;
function uniq(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

function message(overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    id: uniq('msg'),
    runId: 'run-1',
    from: 'sender',
    to: 'someone',
    subject: null,
    body: 'hello',
    requiresAck: false,
    replyTo: null,
    clientId: null,
    topic: null,
    createdAt: Date.now(),
    ...overrides,
  };
}

function instance(overrides: Partial<Instance> = {}): Instance {
  return testInstance({ state: 'starting', ...overrides });
}

/**
 * The store contract: every backend runs this suite unchanged. Behaviour only, no timings.
 */
export function runStoreContract(name: string, makeHarness: () => StoreHarness): void {
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    before(async () => {
      harness = makeHarness();
      store = await harness.open();
    });
    after(async () => {
      await store.close();
      await harness.dispose();
    });

    it('creates, reads and lists instances in creation order', async () => {
      const parent = instance({ role: 'manager', runId: 'run-list' });
      const a = instance({ parentId: parent.id, runId: 'run-list' });
      const b = instance({ parentId: parent.id, runId: 'run-list' });
      for (const i of [parent, a, b]) await store.instances.create(i);
      assert.deepEqual(await store.instances.get(a.id), a);
      const children = await store.instances.list({ parentId: parent.id });
      assert.deepEqual(
        children.map((i) => i.id),
        [a.id, b.id],
      );
      const all = await store.instances.list({ runId: 'run-list' });
      assert.deepEqual(
        all.map((i) => i.id),
        [parent.id, a.id, b.id],
      );
      assert.equal(await store.instances.get('nope'), null);
    });

    it('refuses a duplicate instance id with CONFLICT', async () => {
      const a = instance();
      await store.instances.create(a);
      await assert.rejects(
        store.instances.create(a),
        (e: unknown) => (e as TmuxClaudeError).code === 'CONFLICT',
      );
    });

    it('updates with compare-and-set on state and finds by token hash', async () => {
      const a = instance();
      await store.instances.create(a);
      const progress = { percent: 50, note: 'half way', updatedAt: 7 };
      const updated = await store.instances.update(a.id, { state: 'idle', pid: 42, progress }, ['starting']);
      assert.equal(updated?.state, 'idle');
      assert.equal(updated?.pid, 42);
      assert.deepEqual(updated?.progress, progress);
      assert.equal(await store.instances.update(a.id, { state: 'busy' }, ['starting']), null);
      assert.equal((await store.instances.get(a.id))?.state, 'idle');
      assert.equal((await store.instances.findByTokenHash(a.tokenHash))?.id, a.id);
      await assert.rejects(store.instances.update('missing', { state: 'idle' }), (e: unknown) => {
        return (e as TmuxClaudeError).code === 'NOT_FOUND';
      });
    });

    it('filters instances by host and moves one to another host (re-homing)', async () => {
      const runId = uniq('run-host');
      const a = instance({ runId, host: 'h-a' });
      const b = instance({ runId, host: 'h-b' });
      for (const i of [a, b]) await store.instances.create(i);
      const onA = async () => (await store.instances.list({ runId, host: 'h-a' })).map((i) => i.id);
      assert.deepEqual(await onA(), [a.id]);
      const moved = await store.instances.update(b.id, { host: 'h-a', cwd: '/elsewhere' });
      assert.deepEqual([moved?.host, moved?.cwd], ['h-a', '/elsewhere']);
      assert.deepEqual(await onA(), [a.id, b.id]);
    });

    it('registers hosts, heartbeats, declares a silent one lost exactly once, and refuses a live duplicate', async () => {
      const id = uniq('host');
      const reg = { id, incarnation: 'one', pid: 11, url: 'http://127.0.0.1:1', capacity: 5, startedAt: 1 };
      const up = await store.hosts.register(reg, 1_000, 10_000);
      assert.deepEqual([up.state, up.lastSeen, up.lostAt], ['up', 1_000, null]);
      assert.equal((await store.hosts.heartbeat(id, 'one', 2_000))?.lastSeen, 2_000);
      assert.equal(await store.hosts.heartbeat(id, 'other', 2_500), null, 'another incarnation');
      // A second live supervisor under the same id is refused while the first heartbeats.
      await assert.rejects(
        store.hosts.register({ ...reg, incarnation: 'two' }, 3_000, 10_000),
        (e: unknown) => (e as TmuxClaudeError).code === 'CONFLICT' && /in use/.test((e as Error).message),
      );
      assert.equal(await store.hosts.markLost(id, 1_500, 'h-x', 3_000), false, 'heard from since');
      const [first, second] = await Promise.all([
        store.hosts.markLost(id, 2_500, 'h-x', 3_000),
        store.hosts.markLost(id, 2_500, 'h-y', 3_000),
      ]);
      assert.equal(Number(first) + Number(second), 1, 'one caller declares it lost');
      const lost = await store.hosts.get(id);
      assert.equal(lost?.state, 'lost');
      assert.ok(lost?.lostBy === 'h-x' || lost?.lostBy === 'h-y');
      assert.equal(await store.hosts.heartbeat(id, 'one', 3_500), null, 'a lost incarnation is fenced');
      // It comes back under a new incarnation; a clean stop marks it down.
      const back = await store.hosts.register({ ...reg, incarnation: 'three' }, 4_000, 10_000);
      assert.deepEqual([back.state, back.lostBy], ['up', null]);
      await store.hosts.markDown(id, 'three', 5_000);
      assert.equal((await store.hosts.get(id))?.state, 'down');
      assert.ok((await store.hosts.list()).some((h) => h.id === id));
      assert.equal(await store.hosts.get('no-such-host'), null);
    });

    it('filters instances by state', async () => {
      const runId = 'run-states';
      const live = instance({ runId, state: 'busy' });
      const gone = instance({ runId, state: 'terminated' });
      await store.instances.create(live);
      await store.instances.create(gone);
      const found = await store.instances.list({ runId, states: ['busy', 'idle'] });
      assert.deepEqual(
        found.map((i) => i.id),
        [live.id],
      );
      assert.deepEqual(await store.instances.list({ runId, states: [] }), []);
    });

    it('stores runs with their agent environment', async () => {
      const run = {
        id: `run-${Math.random()}`,
        goal: 'build it',
        repo: '/repo',
        targetBranch: 'main',
        agent: 'lite' as const,
        agentEnv: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' },
        createdAt: Date.now(),
      };
      await store.runs.create(run);
      assert.deepEqual(await store.runs.get(run.id), run);
      assert.ok((await store.runs.list()).some((r) => r.id === run.id));
      await assert.rejects(
        store.runs.create(run),
        (e: unknown) => (e as TmuxClaudeError).code === 'CONFLICT',
      );
    });

    it('keeps messages byte-for-byte with one delivery per recipient, in send order', async () => {
      const body = `$HOME \`whoami\` "q" 'q' ; a\tb\nnext ünïcödé 🚀 ${'x'.repeat(10_000)}`;
      const to = uniq('rcpt');
      const other = uniq('rcpt');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const posted = await store.messages.post(message({ to, body }), [to, other, to]);
        assert.equal(posted.duplicate, false);
        assert.deepEqual(posted.deliveries.map((d) => d.recipient).sort(), [to, other].sort());
        assert.ok(posted.deliveries.every((d) => d.state === 'pending' && d.attempts === 0));
        ids.push(posted.message.id);
      }
      const inbox = await store.messages.inbox(to, ['pending']);
      assert.deepEqual(
        inbox.map((e) => e.message.id),
        ids,
      );
      assert.equal(inbox[0]?.message.body, body);
      assert.ok(inbox[0]!.delivery.seq < inbox[1]!.delivery.seq);
      assert.equal((await store.messages.get(ids[0]!))?.body, body);
      assert.deepEqual(
        (await store.messages.deliveriesOf(ids[0]!)).map((d) => d.recipient),
        [to, other],
      );
      assert.equal(await store.messages.get('msg-nope'), null);
      assert.equal((await store.messages.pendingCounts([to, other])).get(to), 3);
      await assert.rejects(
        store.messages.post(message({ id: ids[0]! }), [to]),
        (e: unknown) => (e as TmuxClaudeError).code === 'CONFLICT',
      );
    });

    it('is idempotent per sender and client id', async () => {
      const to = uniq('rcpt');
      const first = await store.messages.post(message({ from: 'a', clientId: 'c-1', to }), [to]);
      const again = await store.messages.post(message({ from: 'a', clientId: 'c-1', to, body: 'other' }), [
        to,
      ]);
      assert.equal(again.duplicate, true);
      assert.equal(again.message.id, first.message.id);
      assert.equal(again.message.body, first.message.body);
      assert.equal((await store.messages.findByClientId('a', 'c-1'))?.message.id, first.message.id);
      assert.deepEqual(
        (await store.messages.findByClientId('a', 'c-1'))?.deliveries.map((d) => d.recipient),
        [to],
      );
      assert.equal(await store.messages.findByClientId('a', 'c-2'), null);
      const otherSender = await store.messages.post(message({ from: 'b', clientId: 'c-1', to }), [to]);
      assert.equal(otherSender.duplicate, false);
      assert.equal(await store.messages.count({ recipient: to }), 2);
    });

    it('moves deliveries pending → delivered → acked, counts failed attempts and dead-letters', async () => {
      const to = uniq('rcpt');
      const [a, b, c] = [
        await store.messages.post(message({ to, requiresAck: true }), [to]),
        await store.messages.post(message({ to }), [to]),
        await store.messages.post(message({ to }), [to]),
      ].map((p) => p.message.id) as [string, string, string];
      assert.ok((await store.messages.dueRecipients(Date.now() + 1)).includes(to));
      const failed = await store.messages.recordFailedAttempt(
        to,
        [a, b],
        Date.now() + 60_000,
        'not confirmed',
      );
      assert.deepEqual(
        failed.map((d) => [d.attempts, d.error]),
        [
          [1, 'not confirmed'],
          [1, 'not confirmed'],
        ],
      );
      assert.deepEqual(await store.messages.markDelivered(to, [a, b], 1234), [a, b]);
      assert.deepEqual(await store.messages.markDelivered(to, [a], 9999), [], 'delivering twice is a no-op');
      const [first] = await store.messages.inbox(to, ['delivered'], 1);
      assert.equal(first?.delivery.deliveredAt, 1234);
      assert.deepEqual(await store.messages.ack(to, [a, a], 2000), {
        acked: [a],
        alreadyAcked: [],
        unknown: [],
      });
      assert.deepEqual(await store.messages.ack(to, [a], 3000), {
        acked: [],
        alreadyAcked: [a],
        unknown: [],
      });
      const refused = await store.messages.ack(to, [b, 'msg-unknown'], 3000);
      assert.deepEqual(refused, { acked: [], alreadyAcked: [], unknown: ['msg-unknown'] });
      assert.equal(
        (await store.messages.inbox(to, ['delivered'])).length,
        1,
        'a refused ack changes nothing',
      );
      assert.deepEqual(
        (await store.messages.ack(uniq('someone-else'), [b], 1)).unknown,
        [b],
        'a message addressed to someone else cannot be acked',
      );
      const dead = await store.messages.markDead(to, [c], 5000, 'gave up after 5 attempts');
      assert.deepEqual(
        dead.map((e) => [e.message.id, e.delivery.state, e.delivery.error]),
        [[c, 'dead', 'gave up after 5 attempts']],
      );
      assert.equal(await store.messages.count({ recipient: to, states: ['dead'] }), 1);
      assert.deepEqual((await store.messages.ack(to, [c], 1)).unknown, [c], 'a dead letter cannot be acked');
      assert.ok(!(await store.messages.dueRecipients(Date.now() + 1)).includes(to));
    });

    it('requeues unacked deliveries that require an ack, to the recipient or to a successor', async () => {
      const to = uniq('rcpt');
      const successor = uniq('rcpt');
      const needsAck = (await store.messages.post(message({ to, requiresAck: true }), [to])).message.id;
      const noAck = (await store.messages.post(message({ to }), [to])).message.id;
      const acked = (await store.messages.post(message({ to, requiresAck: true }), [to])).message.id;
      await store.messages.markDelivered(to, [needsAck, noAck, acked], 10);
      await store.messages.ack(to, [acked], 11);
      assert.deepEqual(await store.messages.requeueUnacked(to), [needsAck]);
      assert.deepEqual(
        (await store.messages.inbox(to, ['pending'])).map((e) => e.message.id),
        [needsAck],
      );
      assert.deepEqual(await store.messages.requeueUnacked(to, successor), [needsAck]);
      assert.deepEqual(
        (await store.messages.inbox(successor, ['pending'])).map((e) => e.message.id),
        [needsAck],
      );
      assert.equal((await store.messages.inbox(to, ['pending'])).length, 0);
    });

    it('requeues pending deliveries too, keeping their order', async () => {
      const to = uniq('rcpt');
      const delivered = (await store.messages.post(message({ to, requiresAck: true }), [to])).message.id;
      const pending = (await store.messages.post(message({ to }), [to])).message.id;
      await store.messages.markDelivered(to, [delivered], 10);
      await store.messages.recordFailedAttempt(to, [pending], Date.now() + 60_000, 'not confirmed');
      assert.deepEqual(await store.messages.requeueUnacked(to), [delivered, pending]);
      assert.ok(
        (await store.messages.dueRecipients(Date.now())).includes(to),
        'due now, not after the backoff',
      );
    });

    it("hands a recipient's open mail over to a successor: pending and every delivered-unacked one", async () => {
      const from = uniq('dead');
      const to = uniq('successor');
      const pending = (await store.messages.post(message({ to: from }), [from])).message.id;
      const needsAck = (await store.messages.post(message({ to: from, requiresAck: true }), [from])).message
        .id;
      const seen = (await store.messages.post(message({ to: from }), [from])).message.id;
      const acked = (await store.messages.post(message({ to: from, requiresAck: true }), [from])).message.id;
      const kept = (await store.messages.post(message({ to: from }), [from])).message.id;
      const dead = (await store.messages.post(message({ to: from }), [from])).message.id;
      const both = (await store.messages.post(message({ to: from }), [from, to])).message.id;
      await store.messages.markDelivered(from, [needsAck, seen, acked, kept], 10);
      await store.messages.ack(from, [acked], 11);
      await store.messages.markDead(from, [dead], 12, 'gave up');
      assert.deepEqual(await store.messages.handOver(from, to, [kept]), [pending, needsAck, seen]);
      assert.deepEqual(
        (await store.messages.inbox(to, ['pending'])).map((e) => [e.message.id, e.delivery.deliveredAt]),
        [
          [pending, null],
          [needsAck, null],
          [seen, null],
          [both, null],
        ],
      );
      assert.deepEqual(
        (await store.messages.inbox(from, ['pending', 'delivered', 'acked', 'dead'])).map((e) => [
          e.message.id,
          e.delivery.state,
        ]),
        [
          [acked, 'acked'],
          [kept, 'delivered'],
          [dead, 'dead'],
          [both, 'pending'],
        ],
        'acked, excepted and dead ones stay, and so does a copy the successor already has',
      );
      assert.deepEqual(await store.messages.handOver(from, to), [kept]);
    });

    it('lists deliveries with filters and a cursor, newest kept under a limit', async () => {
      const runId = uniq('run');
      const to = uniq('rcpt');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push((await store.messages.post(message({ runId, from: 'lister', to }), [to])).message.id);
      }
      const all = await store.messages.list({ runId });
      assert.deepEqual(
        all.map((e) => e.message.id),
        ids,
      );
      assert.deepEqual(
        (await store.messages.list({ runId }, 2)).map((e) => e.message.id),
        ids.slice(3),
      );
      const after = await store.messages.list({ runId, afterSeq: all[2]!.delivery.seq });
      assert.deepEqual(
        after.map((e) => e.message.id),
        ids.slice(3),
      );
      assert.equal(await store.messages.count({ runId, from: 'lister', states: ['pending'] }), 5);
    });

    it('keeps topics as append-only logs per run with subscribers and replay', async () => {
      const runId = uniq('run');
      const sub = uniq('sub');
      await store.messages.subscribe(runId, 'build', sub, 1);
      await store.messages.subscribe(runId, 'build', sub, 2);
      assert.deepEqual(await store.messages.subscribers(runId, 'build'), [sub]);
      assert.deepEqual(await store.messages.subscribers(uniq('run'), 'build'), []);
      assert.equal(await store.messages.topicHead(runId, 'build'), 0);
      const seqs: Array<number | null> = [];
      for (let i = 0; i < 3; i++) {
        const posted = await store.messages.post(
          message({ runId, to: 'topic:build', topic: 'build', body: `event ${i}` }),
          [sub],
        );
        seqs.push(posted.message.topicSeq);
      }
      assert.deepEqual(seqs, [1, 2, 3]);
      const otherRun = await store.messages.post(message({ runId: uniq('run'), topic: 'build' }), []);
      assert.equal(otherRun.message.topicSeq, 1, 'each run has its own topic log');
      assert.equal(await store.messages.topicHead(runId, 'build'), 3);
      assert.deepEqual(
        (await store.messages.replay(runId, 'build', 1, 10)).map((m) => [m.topicSeq, m.body]),
        [
          [2, 'event 1'],
          [3, 'event 2'],
        ],
      );
    });

    it('appends events with rising sequence numbers and lists them after a cursor', async () => {
      const first = await store.events.append({
        kind: 'tool.called',
        actor: 'exec-1',
        instanceId: 'exec-1',
        data: { tool: 'spawn', ok: true },
      });
      const second = await store.events.append({
        kind: 'message.sent',
        actor: 'exec-1',
        instanceId: 'other',
        data: { messageId: 'm', to: 'x', recipients: ['x'], bytes: 3 },
      });
      assert.ok(second.seq > first.seq);
      assert.equal(await store.events.lastSeq(), second.seq);
      const after = await store.events.list({ afterSeq: first.seq });
      assert.deepEqual(
        after.map((e) => e.seq),
        [second.seq],
      );
      assert.deepEqual(after[0]?.data, { messageId: 'm', to: 'x', recipients: ['x'], bytes: 3 });
      const mine = await store.events.list({ instanceId: 'exec-1' });
      assert.ok(mine.every((e) => e.instanceId === 'exec-1'));
      assert.ok(mine.some((e) => e.seq === first.seq));
    });

    it('chains appended events by hash and verifies the log', async () => {
      const first = await store.events.append({
        kind: 'tool.called',
        actor: 'exec-1',
        instanceId: 'exec-1',
        data: { tool: 'send', ok: true },
      });
      const second = await store.events.append({
        kind: 'tool.called',
        actor: 'exec-1',
        instanceId: null,
        data: { tool: 'send', ok: false, error: 'nope' },
      });
      assert.match(first.hash, /^[0-9a-f]{64}$/);
      assert.equal(second.prevHash, first.hash);
      assert.notEqual(second.hash, first.hash);
      const listed = await store.events.list({ afterSeq: first.seq - 1 });
      assert.deepEqual(
        listed.map((e) => [e.seq, e.prevHash, e.hash]),
        [
          [first.seq, first.prevHash, first.hash],
          [second.seq, second.prevHash, second.hash],
        ],
      );
      const report = await store.events.verify();
      assert.deepEqual(report, {
        ok: true,
        events: await store.events.lastSeq(),
        head: { seq: second.seq, hash: second.hash },
      });
    });

    it('lists events since a time', async () => {
      const before = Date.now();
      const e = await store.events.append({
        kind: 'tmux.orphan',
        actor: 'supervisor',
        instanceId: null,
        data: { session: 'tc-late' },
      });
      const since = await store.events.list({ sinceTs: before });
      assert.ok(since.some((x) => x.seq === e.seq));
      assert.ok(since.every((x) => x.ts >= before));
      assert.deepEqual(await store.events.list({ sinceTs: e.ts + 60_000 }), []);
    });

    it('keeps meta values', async () => {
      assert.equal(await store.meta.get('port'), null);
      await store.meta.set('port', '1234');
      await store.meta.set('port', '5678');
      assert.equal(await store.meta.get('port'), '5678');
    });

    it('answers ping', async () => {
      await store.ping();
    });
  });
}
