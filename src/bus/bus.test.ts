import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Signals,
  silentLogger,
  type EventInput,
  type Instance,
  type Role,
  type TmuxClaudeError,
} from '../core/index.js';
import { SqliteStore } from '../store/index.js';
import { MAX_BODY_BYTES, type Sender } from './address.js';
import { Bus } from './bus.js';
import { testInstance } from '../testing/instances.js';

const RUN = 'run-bus';

function instance(role: Role, parentId: string | null, overrides: Partial<Instance> = {}): Instance {
  return testInstance({ runId: RUN, role, parentId, ...overrides });
}

function as(i: Instance): Sender {
  return { id: i.id, role: i.role, runId: i.runId, parentId: i.parentId };
}

function code(expected: string, message?: RegExp) {
  return (e: unknown) => {
    const err = e as TmuxClaudeError;
    assert.equal(err.code, expected, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

describe('bus', () => {
  let dir: string;
  let store: SqliteStore;
  let bus: Bus;
  const events: EventInput[] = [];
  const signals = new Signals();
  // exec → mgr → spec1, spec2; a second manager with no children; an instance of another run.
  const exec = instance('executive', null);
  const mgr = instance('manager', exec.id);
  const spec1 = instance('specialist', mgr.id);
  const spec2 = instance('specialist', mgr.id);
  const idleMgr = instance('manager', exec.id);
  const gone = instance('specialist', mgr.id, { state: 'terminated' });
  const stranger = instance('specialist', null, { runId: 'run-other' });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tc-bus-'));
    store = new SqliteStore(join(dir, 'store.db'));
    for (const i of [exec, mgr, spec1, spec2, idleMgr, gone, stranger]) await store.instances.create(i);
    bus = new Bus({
      store,
      signals,
      log: silentLogger(),
      emit: async (e) => {
        events.push(e);
      },
      maxAttempts: 3,
      backoffMs: 10,
    });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves parent, children, roles and ids; refuses what cannot be reached', async () => {
    assert.deepEqual((await bus.send(as(spec1), { to: 'parent', body: 'hi' })).recipients, [mgr.id]);
    assert.deepEqual((await bus.send(as(mgr), { to: 'children', body: 'go' })).recipients.sort(), [
      spec1.id,
      spec2.id,
    ]);
    assert.deepEqual((await bus.send(as(exec), { to: 'specialists', body: 'all' })).recipients.sort(), [
      spec1.id,
      spec2.id,
    ]);
    assert.deepEqual((await bus.send(as(spec1), { to: spec2.id, body: 'peer' })).recipients, [spec2.id]);
    await assert.rejects(bus.send(as(exec), { to: 'parent', body: 'x' }), code('INVALID_ARGUMENT'));
    await assert.rejects(bus.send(as(idleMgr), { to: 'children', body: 'x' }), code('NOT_FOUND'));
    await assert.rejects(bus.send(as(spec1), { to: 'spec-nope', body: 'x' }), code('NOT_FOUND', /spec-nope/));
    await assert.rejects(bus.send(as(spec1), { to: gone.id, body: 'x' }), code('CONFLICT', /terminated/));
    await assert.rejects(bus.send(as(spec1), { to: stranger.id, body: 'x' }), code('FORBIDDEN'));
  });

  it('refuses oversized bodies, bad subjects and bad topics, storing nothing', async () => {
    const before = await store.messages.count({ runId: RUN });
    await assert.rejects(
      bus.send(as(spec1), { to: 'parent', body: 'x'.repeat(MAX_BODY_BYTES + 1) }),
      code('INVALID_ARGUMENT', /65537 bytes; the limit is 65536 bytes/),
    );
    await assert.rejects(
      bus.send(as(spec1), { to: 'parent', body: 'x', subject: 'two\nlines' }),
      code('INVALID_ARGUMENT'),
    );
    await assert.rejects(bus.send(as(spec1), { to: 'topic:Bad Name', body: 'x' }), code('INVALID_ARGUMENT'));
    await assert.rejects(bus.publish(as(spec1), 'system.merged', 'x'), code('FORBIDDEN'));
    await assert.rejects(
      bus.send(as(spec1), { to: 'parent', body: 'x', replyTo: 'msg-nope' }),
      code('NOT_FOUND'),
    );
    assert.equal(await store.messages.count({ runId: RUN }), before);
  });

  it('keeps multi-kilobyte text with shell metacharacters byte for byte', async () => {
    const body = `$(rm -rf /) \`id\` "q" 'q' ; | & > < \\ \n\t ünï 🚀 ${'y'.repeat(8_000)}`;
    const sent = await bus.send(as(spec1), { to: spec2.id, body, subject: 'metachars' });
    const got = await bus.waitForMessages(spec2.id, { timeoutMs: 1000, subject: 'metachars' });
    assert.equal(got.messages[0]?.message.id, sent.messageId);
    assert.equal(got.messages[0]?.message.body, body);
  });

  it('is idempotent per client id, even when the address no longer resolves', async () => {
    const first = await bus.send(as(mgr), { to: spec2.id, body: 'once', clientId: 'job-1' });
    const again = await bus.send(as(mgr), { to: spec2.id, body: 'once', clientId: 'job-1' });
    assert.equal(again.messageId, first.messageId);
    assert.equal(again.duplicate, true);
    const retried = await bus.send(as(mgr), { to: gone.id, body: 'once', clientId: 'job-1' });
    assert.equal(retried.messageId, first.messageId, 'the retry is answered from the first send');
  });

  it('wait_for_messages wakes on new mail and honours from/subject filters', async () => {
    await bus.inbox(spec1.id, { unreadOnly: true, limit: 500 }); // start from an empty inbox
    const waiting = bus.waitForMessages(spec1.id, { timeoutMs: 60_000, from: mgr.id, subject: 'task' });
    await bus.send(as(spec2), { to: spec1.id, body: 'not this one', subject: 'task' });
    await bus.send(as(mgr), { to: spec1.id, body: 'nor this', subject: 'other' });
    setTimeout(() => void bus.send(as(mgr), { to: spec1.id, body: 'this one', subject: 'task' }), 30);
    const got = await waiting;
    assert.equal(got.timedOut, false);
    assert.deepEqual(
      got.messages.map((e) => e.message.body),
      ['this one'],
    );
    const rest = await bus.inbox(spec1.id, { unreadOnly: true, limit: 10 });
    assert.deepEqual(
      rest.messages.map((e) => e.message.body),
      ['not this one', 'nor this'],
      'messages the filter skipped stay unread, in order',
    );
    const timedOut = await bus.waitForMessages(spec1.id, { timeoutMs: 20 });
    assert.deepEqual(timedOut, { messages: [], timedOut: true });
  });

  it('hands each unread message to one of two concurrent waits, never both', async () => {
    await bus.inbox(spec2.id, { unreadOnly: true, limit: 500 }); // start from an empty inbox
    const a = bus.waitForMessages(spec2.id, { timeoutMs: 500 });
    const b = bus.waitForMessages(spec2.id, { timeoutMs: 500 });
    for (let i = 0; i < 20; i++) await bus.send(as(mgr), { to: spec2.id, body: `m${i}` });
    const [ra, rb] = await Promise.all([a, b]);
    const seen = [...ra.messages, ...rb.messages].map((e) => e.message.id);
    assert.equal(new Set(seen).size, seen.length);
    const left = await bus.inbox(spec2.id, { unreadOnly: true, limit: 100 });
    assert.equal(seen.length + left.messages.length, 20, 'none lost');
  });

  it('pages the inbox and includes read mail when asked', async () => {
    for (let i = 0; i < 3; i++) await bus.send(as(mgr), { to: idleMgr.id, body: `p${i}` });
    const page = await bus.inbox(idleMgr.id, { unreadOnly: true, limit: 2 });
    assert.deepEqual(
      page.messages.map((e) => [e.message.body, e.delivery.state]),
      [
        ['p0', 'delivered'],
        ['p1', 'delivered'],
      ],
    );
    assert.equal(page.more, true);
    const all = await bus.inbox(idleMgr.id, { unreadOnly: false, limit: 10 });
    assert.deepEqual(
      all.messages.map((e) => e.message.body),
      ['p0', 'p1', 'p2'],
    );
  });

  it('acks once, tolerates a second ack, and refuses to ack someone else’s mail', async () => {
    const sent = await bus.send(as(mgr), { to: spec1.id, body: 'ack me', requiresAck: true });
    await assert.rejects(bus.ack(spec2.id, [sent.messageId]), code('NOT_FOUND', /nothing was acked/));
    assert.deepEqual(await bus.ack(spec1.id, [sent.messageId]), {
      acked: [sent.messageId],
      alreadyAcked: [],
    });
    assert.deepEqual(await bus.ack(spec1.id, [sent.messageId]), {
      acked: [],
      alreadyAcked: [sent.messageId],
    });
    await assert.rejects(bus.ack(spec1.id, []), code('INVALID_ARGUMENT'));
    assert.ok(events.some((e) => e.kind === 'message.acked' && e.data.messageId === sent.messageId));
  });

  it('backs off unconfirmed pushes, then dead-letters and raises to the sender’s parent', async () => {
    await bus.inbox(mgr.id, { unreadOnly: true, limit: 500 });
    const sent = await bus.send(as(spec1), { to: spec2.id, body: 'push me', subject: 'push' });
    await bus.inbox(spec2.id, { unreadOnly: true, limit: 500 }).then(() => undefined);
    // Re-post so there is a pending one to push (the inbox above took everything).
    const pushMe = await bus.send(as(spec1), { to: spec2.id, body: 'push me again' });
    assert.notEqual(pushMe.messageId, sent.messageId);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const batch = await bus.nextPush(spec2.id);
      assert.deepEqual(
        batch.map((e) => e.message.id),
        [pushMe.messageId],
      );
      await bus.pushFailed(spec2.id, batch, 'prompt not confirmed');
    }
    const [dead] = await store.messages.list({ recipient: spec2.id, states: ['dead'] });
    assert.equal(dead?.message.id, pushMe.messageId);
    assert.match(dead?.delivery.error ?? '', /not delivered after 3 attempts: prompt not confirmed/);
    const raised = await bus.inbox(mgr.id, { unreadOnly: true, limit: 10 });
    assert.ok(
      raised.messages.some(
        (e) =>
          e.message.from === 'supervisor' &&
          e.message.subject === 'dead letter' &&
          e.message.body.includes(pushMe.messageId),
      ),
      'the sender’s parent hears about it',
    );
  });

  it('requeues delivered mail that still needs an ack after a restart', async () => {
    const sent = await bus.send(as(mgr), { to: spec1.id, body: 'survive a crash', requiresAck: true });
    const got = await bus.waitForMessages(spec1.id, { timeoutMs: 100, subject: undefined });
    assert.ok(got.messages.some((e) => e.message.id === sent.messageId));
    const requeued = await bus.requeueUnacked(spec1.id, 'restarted');
    assert.ok(requeued.includes(sent.messageId));
    const again = await bus.inbox(spec1.id, { unreadOnly: true, limit: 100 });
    assert.ok(again.messages.some((e) => e.message.id === sent.messageId));
  });

  it("hands a recipient's open mail to its successor and records why", async () => {
    const seen = await bus.send(as(mgr), { to: spec1.id, body: 'read but not acked' });
    await bus.waitForMessages(spec1.id, { timeoutMs: 100, subject: undefined });
    const queued = await bus.send(as(mgr), { to: spec1.id, body: 'not read yet', requiresAck: true });
    const moved = await bus.handOver(spec1.id, spec2.id);
    assert.ok(moved.includes(seen.messageId) && moved.includes(queued.messageId));
    const inbox = await bus.inbox(spec2.id, { unreadOnly: true, limit: 100 });
    assert.ok(inbox.messages.some((e) => e.message.id === queued.messageId));
    const event = events.findLast((e) => e.kind === 'message.requeued');
    assert.equal(event?.instanceId, spec2.id);
    assert.match(
      (event?.data as { reason: string }).reason,
      new RegExp(`from ${spec1.id} to its successor ${spec2.id}`),
    );
  });

  it('publishes to subscribers except the sender and replays the log for late subscribers', async () => {
    await bus.subscribe(as(spec1), 'api');
    await bus.subscribe(as(spec2), 'api');
    const first = await bus.publish(as(spec1), 'api', 'v1 ready', 'release');
    assert.deepEqual(first.recipients, [spec2.id]);
    assert.equal(first.topicSeq, 1);
    const second = await bus.send(as(spec2), { to: 'topic:api', body: 'v2 ready' });
    assert.equal(second.topicSeq, 2);
    const late = await bus.subscribe(as(mgr), 'api');
    assert.equal(late.headSeq, 2);
    const replayed = await bus.replay(as(mgr), 'api', 0, 10);
    assert.deepEqual(
      replayed.messages.map((m) => [m.topicSeq, m.body]),
      [
        [1, 'v1 ready'],
        [2, 'v2 ready'],
      ],
    );
    await bus.publishSystem(RUN, 'system.spawned', { id: 'spec-x' });
    assert.equal((await bus.replay(as(mgr), 'system.spawned', 0, 10)).messages.length, 1);
  });
});
