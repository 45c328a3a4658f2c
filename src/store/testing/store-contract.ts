import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Instance, TmuxClaudeError } from '../../core/index.js';
import type { Store } from '../types.js';

/** Builds a unique store for one suite run and disposes of it (files, key prefixes). */
export interface StoreHarness {
  open(): Promise<Store>;
  dispose(): Promise<void>;
}

let counter = 0;
function instance(overrides: Partial<Instance> = {}): Instance {
  counter += 1;
  const now = Date.now();
  return {
    id: `spec-${counter}-${Math.random().toString(36).slice(2, 8)}`,
    runId: 'run-1',
    role: 'specialist',
    parentId: null,
    name: 'worker',
    agent: 'lite',
    state: 'starting',
    branch: null,
    worktree: null,
    cwd: '/tmp',
    tmuxSession: 'tc-x',
    pid: null,
    tokenHash: `hash-${counter}-${Math.random()}`,
    task: null,
    taskId: null,
    createdAt: now,
    updatedAt: now,
    endedAt: null,
    error: null,
    progress: null,
    ...overrides,
  };
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

    it('keeps messages byte-for-byte and in send order per recipient', async () => {
      const body = `$HOME \`whoami\` "q" 'q' ; a\tb\nnext ünïcödé 🚀 ${'x'.repeat(10_000)}`;
      const to = `rcpt-${Math.random()}`;
      const ids = ['m1', 'm2', 'm3'].map((m) => `${m}-${to}`);
      for (const id of ids) {
        await store.messages.enqueue({ id, runId: 'run-1', from: 'a', to, body, createdAt: Date.now() });
      }
      const pending = await store.messages.pendingFor(to);
      assert.deepEqual(
        pending.map((m) => m.id),
        ids,
      );
      assert.equal(pending[0]?.body, body);
      assert.ok((await store.messages.recipientsWithPending()).includes(to));
      await store.messages.recordAttempt([ids[0]!]);
      await store.messages.markDelivered([ids[0]!, ids[1]!], 1234);
      await store.messages.markDelivered([ids[0]!], 9999);
      const first = await store.messages.get(ids[0]!);
      assert.equal(first?.state, 'delivered');
      assert.equal(first?.deliveredAt, 1234, 'delivering twice keeps the first delivery');
      assert.equal(first?.attempts, 1);
      assert.deepEqual(
        (await store.messages.pendingFor(to)).map((m) => m.id),
        [ids[2]],
      );
      await store.messages.markFailed([ids[2]!]);
      assert.equal(await store.messages.count({ to, states: ['failed'] }), 1);
      assert.equal(await store.messages.count({ to }), 3);
      assert.equal((await store.messages.list({ to, from: 'a' })).length, 3);
      assert.ok(!(await store.messages.recipientsWithPending()).includes(to));
      await assert.rejects(
        store.messages.enqueue({ id: ids[0]!, runId: 'r', from: 'a', to, body: '', createdAt: 0 }),
        (e: unknown) => (e as TmuxClaudeError).code === 'CONFLICT',
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
        data: { messageId: 'm', to: 'x', bytes: 3 },
      });
      assert.ok(second.seq > first.seq);
      assert.equal(await store.events.lastSeq(), second.seq);
      const after = await store.events.list({ afterSeq: first.seq });
      assert.deepEqual(
        after.map((e) => e.seq),
        [second.seq],
      );
      assert.deepEqual(after[0]?.data, { messageId: 'm', to: 'x', bytes: 3 });
      const mine = await store.events.list({ instanceId: 'exec-1' });
      assert.ok(mine.every((e) => e.instanceId === 'exec-1'));
      assert.ok(mine.some((e) => e.seq === first.seq));
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
