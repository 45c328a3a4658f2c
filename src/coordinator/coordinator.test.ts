import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Signals, TmuxClaudeError, silentLogger, type EventInput } from '../core/index.js';
import { SqliteStore } from '../store/index.js';
import { Coordinator, type Actor, type TaskNotice } from './coordinator.js';
import { concurrentOverlaps, findCycle, planTasks, serializeOverlaps } from './plan.js';

const isId = (ref: string): boolean => ref.startsWith('t');

function actor(id: string, parentId: string | null = 'mgr-1'): Actor {
  return {
    id,
    role: id.startsWith('spec') ? 'specialist' : 'manager',
    runId: 'run-1',
    parentId,
    branch: `b-${id}`,
  };
}

function setup(ttlMs = 60_000) {
  const store = new SqliteStore(':memory:');
  const events: EventInput[] = [];
  const notices: TaskNotice[] = [];
  const coordinator = new Coordinator({
    store,
    signals: new Signals(),
    emit: async (e) => void events.push(e),
    notify: async (n) => void notices.push(n),
    log: silentLogger(),
    leaseTtlMs: ttlMs,
    maxAttempts: 2,
  });
  return { store, coordinator, events, notices, close: () => (coordinator.close(), store.close()) };
}

function code(err: unknown): string {
  return err instanceof TmuxClaudeError ? err.code : String(err);
}

describe('task plans', () => {
  it('resolves names, normalises files, and refuses duplicates, self-dependencies and unknown references', () => {
    const planned = planTasks(
      [
        { name: 'a', title: 'A', files: ['./src//a.ts', 'docs/'] },
        { name: 'b', title: 'B', dependsOn: ['a', 'tEXISTING'] },
      ],
      isId,
    );
    assert.deepEqual(planned[0]?.files, ['src/a.ts', 'docs/**']);
    assert.deepEqual(planned[1]?.batchDeps, [0]);
    assert.deepEqual(planned[1]?.existingDeps, ['tEXISTING']);
    assert.throws(() => planTasks([{ title: 'x' }, { title: 'x' }], isId), /two tasks are named "x"/);
    assert.throws(() => planTasks([{ name: 'a', title: 'A', dependsOn: ['a'] }], isId), /depends on itself/);
    assert.throws(
      () => planTasks([{ title: 'A', dependsOn: ['nope'] }], isId),
      /neither a task of this batch/,
    );
    assert.throws(() => planTasks([{ title: 'two\nlines' }], isId), /one line/);
    assert.throws(() => planTasks([], isId), /no tasks/);
  });

  it('finds cycles and names them in order', () => {
    assert.equal(findCycle([[1], [2], []]), null);
    assert.deepEqual(findCycle([[1], [2], [0]]), [0, 1, 2]);
    assert.throws(
      () =>
        planTasks(
          [
            { name: 'a', title: 'A', dependsOn: ['b'] },
            { name: 'b', title: 'B', dependsOn: ['a'] },
          ],
          isId,
        ),
      /dependency cycle: a → b → a/,
    );
  });

  it('refuses overlapping files only between tasks that could run at the same time, or orders them', () => {
    const specs = [
      { name: 'a', title: 'A', files: ['src/index.js', 'src/a.js'] },
      { name: 'b', title: 'B', files: ['src/b.js'] },
      { name: 'c', title: 'C', files: ['src/**'], dependsOn: ['a'] },
      { name: 'd', title: 'D', files: ['src/index.js'] },
    ];
    const overlaps = concurrentOverlaps(planTasks(specs, isId)).map((o) => `${o.a}-${o.b}`);
    assert.deepEqual(overlaps, ['a-d', 'b-c', 'c-d']);
    const planned = planTasks(specs, isId);
    assert.equal(serializeOverlaps(planned), 3);
    assert.deepEqual(concurrentOverlaps(planned), []);
    assert.deepEqual(planned[3]?.batchDeps.sort(), [0, 2]);
  });
});

describe('coordinator', () => {
  it('tells the creator when a task is done, and unblocks its dependants', async () => {
    const { coordinator, notices, close } = setup();
    try {
      const mgr = actor('mgr-1', 'exec-1');
      const [a, b] = await coordinator.createTasks(mgr, 'run-1', [
        { name: 'a', title: 'A', files: ['a.txt'] },
        { name: 'b', title: 'B', dependsOn: ['a'] },
      ]);
      assert.equal(b?.state, 'blocked');
      const spec = actor('spec-1');
      const claim = await coordinator.claim(spec, {});
      assert.equal(claim.task?.id, a?.id, 'the best ready task the specialist may take');
      const done = await coordinator.complete(spec, a!.id, claim.task!.epoch, 'c0ffee');
      assert.deepEqual(
        done.unblocked.map((t) => t.id),
        [b!.id],
      );
      assert.deepEqual(
        notices.map((n) => [n.kind, n.task.id, n.instance]),
        [['task.done', a!.id, 'spec-1']],
      );
      assert.equal(done.task.branch, 'b-spec-1');
    } finally {
      await close();
    }
  });

  it('a waiting claim wakes when a task becomes claimable', async () => {
    const { coordinator, close } = setup();
    try {
      const spec = actor('spec-1');
      const waiting = coordinator.claim(spec, { waitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 50));
      const [t] = await coordinator.createTasks(actor('mgr-1', 'exec-1'), 'run-1', [{ title: 'late' }]);
      const got = await waiting;
      assert.equal(got.task?.id, t?.id);
      const none = await coordinator.claim(spec, {});
      assert.deepEqual(none, { task: null, reason: 'no ready task you may take' });
    } finally {
      await close();
    }
  });

  it('a dead holder’s task returns to ready at once; its late completion is refused as STALE_LEASE', async () => {
    const { coordinator, notices, events, close } = setup();
    try {
      const [t] = await coordinator.createTasks(actor('mgr-1', 'exec-1'), 'run-1', [{ title: 'T' }]);
      const first = await coordinator.claim(actor('spec-1'), { taskId: t!.id });
      const released = await coordinator.releaseHolder('spec-1', 'holder died');
      assert.deepEqual(
        released.map((x) => [x.id, x.state]),
        [[t!.id, 'ready']],
      );
      assert.deepEqual(
        notices.map((n) => [n.kind, n.task.state]),
        [['task.failed', 'ready']],
      );
      const second = await coordinator.claim(actor('spec-2'), { taskId: t!.id });
      assert.equal(second.task?.epoch, 2);
      await assert.rejects(
        coordinator.complete(actor('spec-1'), t!.id, first.task!.epoch, 'late'),
        (e) =>
          code(e) === 'STALE_LEASE' &&
          /epoch 1\) is stale: the task is at epoch 2, held by spec-2/.test(String(e)),
      );
      assert.ok(events.some((e) => e.kind === 'task.refused'));
      // Attempts are capped: the next loss fails the task for good.
      await coordinator.releaseHolder('spec-2', 'holder died');
      assert.equal((await coordinator.getTask(t!.id)).state, 'failed');
    } finally {
      await close();
    }
  });

  it('expires a lapsed lease on its own timer, without any call', async () => {
    const { coordinator, events, close } = setup(150);
    try {
      const [t] = await coordinator.createTasks(actor('mgr-1', 'exec-1'), 'run-1', [
        { title: 'T', files: ['x'] },
      ]);
      await coordinator.claim(actor('spec-1'), { taskId: t!.id });
      for (let i = 0; i < 50 && (await coordinator.getTask(t!.id)).state !== 'ready'; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal((await coordinator.getTask(t!.id)).state, 'ready');
      assert.ok(events.some((e) => e.kind === 'task.released'));
      assert.deepEqual(await coordinator.listReservations({ runId: 'run-1' }), []);
    } finally {
      await close();
    }
  });

  it('names the holders when a reservation collides', async () => {
    const { coordinator, close } = setup();
    try {
      await coordinator.reserve(actor('spec-1'), ['src/'], 'exclusive');
      await assert.rejects(
        coordinator.reserve(actor('spec-2'), ['src/a.ts'], 'shared'),
        (e) => code(e) === 'CONFLICT' && /src\/\*\* \(exclusive, held by spec-1\)/.test(String(e)),
      );
      await assert.rejects(
        coordinator.reserve(actor('spec-2'), ['../x'], 'shared'),
        (e) => code(e) === 'INVALID_ARGUMENT',
      );
    } finally {
      await close();
    }
  });
});
