import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Reservation, Task, TmuxClaudeError } from '../../core/index.js';
import type { ClaimOutcome, ClaimRequest, NewTask, Store } from '../types.js';
import type { StoreHarness } from './store-contract.js';

/** Every test works at explicit times from here; the store never reads the clock for them. */
const T0 = 1_000_000;
const TTL = 1_000;

let counter = 0;

/** A run and instance names of its own, so the tests that share one store never see each other's tasks. */
function scope() {
  counter += 1;
  const tag = `${counter}${Math.random().toString(36).slice(2, 7)}`;
  return {
    runId: `run-t${tag}`,
    a: `spec-a${tag}`,
    b: `spec-b${tag}`,
    c: `spec-c${tag}`,
    /** A task id unique to this scope. */
    id: (name: string) => `${name}-${tag}`,
  };
}

function newTask(runId: string, id: string, overrides: Partial<NewTask> = {}): NewTask {
  return {
    id,
    runId,
    title: `title of ${id}`,
    description: `do ${id}`,
    dependsOn: [],
    files: [],
    priority: 0,
    createdBy: 'user',
    assignee: null,
    maxAttempts: 3,
    createdAt: T0,
    ...overrides,
  };
}

/** The refusal reason, or `ok` for a grant / accepted completion. */
function reasonOf(out: object): string {
  return 'reason' in out ? String(out.reason) : 'ok';
}

function granted(out: ClaimOutcome): { task: Task; reservations: Reservation[] } {
  assert.ok(out.granted, `expected a grant, got ${JSON.stringify(out)}`);
  return out;
}

function hasCode(code: string, text?: string): (e: unknown) => boolean {
  return (e) => (e as TmuxClaudeError).code === code && (!text || (e as Error).message.includes(text));
}

const ids = (items: ReadonlyArray<{ id: string }>): string[] => items.map((i) => i.id);
const patterns = (items: readonly Reservation[]): string[] => items.map((r) => r.pattern);

/**
 * The task-graph and reservation contract: every backend runs it unchanged. Behaviour only, explicit times,
 * no sleeps.
 */
export function runTaskStoreContract(name: string, makeHarness: () => StoreHarness): void {
  describe(`task store contract: ${name}`, () => {
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

    const claim = (req: Omit<ClaimRequest, 'ttlMs' | 'now'> & { ttlMs?: number; now?: number }) =>
      store.tasks.claim({ ttlMs: TTL, now: T0, ...req });
    /** Claims and completes a task, so that it is done. */
    const finish = async (runId: string, taskId: string, holder: string, now = T0) => {
      const { task } = granted(await claim({ runId, claimant: holder, taskId, now }));
      const out = await store.tasks.complete(taskId, holder, task.epoch, { result: 'r', branch: null }, now);
      assert.ok(out.ok);
      return out;
    };

    it('creates tasks ready or blocked by their dependencies, epoch and attempts at 0', async () => {
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('done')), newTask(s.runId, s.id('open'))]);
      await finish(s.runId, s.id('done'), s.a);
      const created = await store.tasks.create([
        newTask(s.runId, s.id('after-done'), { dependsOn: [s.id('done')], files: ['src/a.ts'], priority: 2 }),
        newTask(s.runId, s.id('after-sibling'), { dependsOn: [s.id('after-done')], assignee: s.b }),
        newTask(s.runId, s.id('after-open'), { dependsOn: [s.id('open'), s.id('done')] }),
      ]);
      assert.deepEqual(
        created.map((t) => [t.id, t.state]),
        [
          [s.id('after-done'), 'ready'],
          [s.id('after-sibling'), 'blocked'],
          [s.id('after-open'), 'blocked'],
        ],
      );
      assert.deepEqual(created[0], {
        ...newTask(s.runId, s.id('after-done'), {
          dependsOn: [s.id('done')],
          files: ['src/a.ts'],
          priority: 2,
        }),
        state: 'ready',
        owner: null,
        epoch: 0,
        leaseExpiresAt: null,
        attempts: 0,
        result: null,
        error: null,
        branch: null,
        mergedAt: null,
        updatedAt: T0,
        completedAt: null,
      });
      assert.deepEqual(await store.tasks.get(s.id('after-sibling')), created[1]);
      assert.equal(await store.tasks.get(s.id('nope')), null);
    });

    it('lists tasks in creation order, then id, with filters', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('late'), { createdAt: T0 + 2, createdBy: 'mgr' }),
        newTask(s.runId, s.id('y'), { createdAt: T0, assignee: s.b }),
        newTask(s.runId, s.id('x'), { createdAt: T0, dependsOn: [s.id('late')] }),
      ]);
      const all = await store.tasks.list({ runId: s.runId });
      assert.deepEqual(ids(all), [s.id('x'), s.id('y'), s.id('late')]);
      assert.deepEqual(ids(await store.tasks.list({ runId: s.runId, states: ['blocked'] })), [s.id('x')]);
      assert.deepEqual(await store.tasks.list({ runId: s.runId, states: [] }), []);
      assert.deepEqual(ids(await store.tasks.list({ ids: [s.id('late'), s.id('y')] })), [
        s.id('y'),
        s.id('late'),
      ]);
      assert.deepEqual(ids(await store.tasks.list({ assignee: s.b })), [s.id('y')]);
      assert.deepEqual(ids(await store.tasks.list({ runId: s.runId, createdBy: 'mgr' })), [s.id('late')]);
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('late') }));
      assert.deepEqual(ids(await store.tasks.list({ owner: s.a })), [s.id('late')]);
    });

    it('refuses an unknown dependency, or one of another run, with NOT_FOUND and stores nothing', async () => {
      const s = scope();
      const other = scope();
      await store.tasks.create([newTask(other.runId, other.id('elsewhere'))]);
      await assert.rejects(
        store.tasks.create([
          newTask(s.runId, s.id('fine')),
          newTask(s.runId, s.id('bad'), { dependsOn: [s.id('fine'), s.id('missing')] }),
        ]),
        hasCode('NOT_FOUND', s.id('missing')),
      );
      await assert.rejects(
        store.tasks.create([newTask(s.runId, s.id('cross'), { dependsOn: [other.id('elsewhere')] })]),
        hasCode('NOT_FOUND', other.id('elsewhere')),
      );
      assert.deepEqual(await store.tasks.list({ runId: s.runId }), []);
    });

    it('refuses a duplicate id with CONFLICT and stores nothing of the batch', async () => {
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('one'))]);
      await assert.rejects(
        store.tasks.create([newTask(s.runId, s.id('two')), newTask(s.runId, s.id('one'))]),
        hasCode('CONFLICT', s.id('one')),
      );
      await assert.rejects(
        store.tasks.create([newTask(s.runId, s.id('dup')), newTask(s.runId, s.id('dup'))]),
        hasCode('CONFLICT'),
      );
      assert.deepEqual(ids(await store.tasks.list({ runId: s.runId })), [s.id('one')]);
    });

    it('claims the best ready task: highest priority, then oldest, then lowest id', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('low'), { priority: 0 }),
        newTask(s.runId, s.id('mid-b'), { priority: 1 }),
        newTask(s.runId, s.id('mid-late'), { priority: 1, createdAt: T0 + 1 }),
        newTask(s.runId, s.id('mid-a'), { priority: 1 }),
        newTask(s.runId, s.id('high'), { priority: 5, createdAt: T0 + 5 }),
        newTask(s.runId, s.id('blocked'), { priority: 9, dependsOn: [s.id('low')] }),
      ]);
      const order: string[] = [];
      for (let i = 0; i < 5; i++) order.push(granted(await claim({ runId: s.runId, claimant: s.a })).task.id);
      assert.deepEqual(order, [s.id('high'), s.id('mid-a'), s.id('mid-b'), s.id('mid-late'), s.id('low')]);
      const none = await claim({ runId: s.runId, claimant: s.a });
      assert.deepEqual(none, { granted: false, reason: 'none_ready', waitingOnFiles: 0 });
      assert.equal(reasonOf(await claim({ runId: scope().runId, claimant: s.a })), 'none_ready');
    });

    it('claims only tasks assigned to the claimant or to nobody, created by the given creators', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('for-b'), { assignee: s.b, priority: 9 }),
        newTask(s.runId, s.id('by-mgr'), { createdBy: 'mgr', priority: 5 }),
        newTask(s.runId, s.id('by-other'), { createdBy: 'other', priority: 1 }),
        newTask(s.runId, s.id('for-a'), { createdBy: 'other', assignee: s.a }),
      ]);
      assert.equal(granted(await claim({ runId: s.runId, claimant: s.a })).task.id, s.id('by-mgr'));
      const byOther = await claim({ runId: s.runId, claimant: s.a, creators: ['other', 'nobody'] });
      assert.equal(granted(byOther).task.id, s.id('by-other'));
      assert.equal(granted(await claim({ runId: s.runId, claimant: s.a })).task.id, s.id('for-a'));
      assert.equal(reasonOf(await claim({ runId: s.runId, claimant: s.a })), 'none_ready');
      assert.equal(reasonOf(await claim({ runId: s.runId, claimant: s.b, creators: ['mgr'] })), 'none_ready');
      assert.equal(reasonOf(await claim({ runId: s.runId, claimant: s.b, creators: [] })), 'none_ready');
      assert.equal(granted(await claim({ runId: s.runId, claimant: s.b })).task.id, s.id('for-b'));
    });

    it('grants a named task with a fenced lease and exclusive reservations of its files', async () => {
      const s = scope();
      const [created] = await store.tasks.create([
        newTask(s.runId, s.id('t'), { files: ['src/a.ts', 'docs/**', 'src/a.ts'] }),
      ]);
      const out = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('t'), now: T0 + 10 }));
      const lease = T0 + 10 + TTL;
      assert.deepEqual(out.task, {
        ...created,
        state: 'claimed',
        owner: s.a,
        epoch: 1,
        attempts: 1,
        leaseExpiresAt: lease,
        updatedAt: T0 + 10,
      });
      assert.deepEqual(await store.tasks.get(s.id('t')), out.task);
      assert.deepEqual(
        out.reservations.map((r) => [
          r.runId,
          r.holder,
          r.pattern,
          r.mode,
          r.taskId,
          r.expiresAt,
          r.createdAt,
        ]),
        [
          [s.runId, s.a, 'src/a.ts', 'exclusive', s.id('t'), lease, T0 + 10],
          [s.runId, s.a, 'docs/**', 'exclusive', s.id('t'), lease, T0 + 10],
        ],
      );
      assert.deepEqual(await store.reservations.list({ runId: s.runId, now: T0 + 10 }), out.reservations);
    });

    it('refuses a named task with the reason: not_found, assigned, not_ready, files_busy', async () => {
      const s = scope();
      const other = scope();
      await store.tasks.create([newTask(other.runId, other.id('elsewhere'))]);
      await store.tasks.create([
        newTask(s.runId, s.id('assigned'), { assignee: s.b }),
        newTask(s.runId, s.id('blocked'), { dependsOn: [s.id('assigned')] }),
        newTask(s.runId, s.id('taken')),
        newTask(s.runId, s.id('done')),
        newTask(s.runId, s.id('busy'), { files: ['src/a.ts'] }),
      ]);
      await finish(s.runId, s.id('done'), s.c);
      granted(await claim({ runId: s.runId, claimant: s.b, taskId: s.id('taken') }));
      const reserved = await store.reservations.reserve({
        runId: s.runId,
        holder: s.b,
        patterns: ['src/**'],
        mode: 'shared',
        ttlMs: TTL,
        now: T0,
      });
      assert.ok(reserved.ok);
      const attempt = (taskId: string, runId = s.runId) =>
        claim({ runId, claimant: s.a, taskId, now: T0 + 1 });
      assert.deepEqual(await attempt(s.id('missing')), { granted: false, reason: 'not_found' });
      assert.deepEqual(await attempt(other.id('elsewhere')), { granted: false, reason: 'not_found' });
      const assigned = await attempt(s.id('assigned'));
      assert.equal(reasonOf(assigned), 'assigned');
      assert.equal('task' in assigned && assigned.task.id, s.id('assigned'));
      for (const id of [s.id('blocked'), s.id('taken'), s.id('done')]) {
        assert.equal(reasonOf(await attempt(id)), 'not_ready', id);
      }
      const busy = await attempt(s.id('busy'));
      assert.equal(reasonOf(busy), 'files_busy');
      assert.deepEqual('conflicts' in busy && busy.conflicts, reserved.reservations);
      assert.equal((await store.tasks.get(s.id('busy')))?.state, 'ready', 'a refusal changes nothing');
    });

    it('renews the lease of a claim retried by its holder, under the same epoch', async () => {
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('t'), { files: ['a.ts'] })]);
      const first = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('t') }));
      const again = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('t'), now: T0 + 500 }));
      assert.equal(again.task.epoch, 1);
      assert.equal(again.task.attempts, 1);
      assert.equal(again.task.leaseExpiresAt, T0 + 500 + TTL);
      assert.deepEqual(
        again.reservations,
        first.reservations.map((r) => ({ ...r, expiresAt: T0 + 500 + TTL })),
      );
    });

    it('skips tasks whose files another holder reserves, counting them as waiting on files', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('busy-1'), { files: ['src/x.ts'], priority: 9 }),
        newTask(s.runId, s.id('busy-2'), { files: ['docs/a.md', 'src/y/**'], priority: 8 }),
        newTask(s.runId, s.id('free'), { files: ['docs/b.md'] }),
      ]);
      const reserve = (holder: string, pattern: string) =>
        store.reservations.reserve({
          runId: s.runId,
          holder,
          patterns: [pattern],
          mode: 'shared',
          ttlMs: TTL,
          now: T0,
        });
      assert.ok((await reserve(s.b, 'src/**')).ok);
      assert.ok((await reserve(s.a, 'src/**')).ok, 'shared with shared');
      assert.equal(granted(await claim({ runId: s.runId, claimant: s.a })).task.id, s.id('free'));
      assert.deepEqual(await claim({ runId: s.runId, claimant: s.a }), {
        granted: false,
        reason: 'none_ready',
        waitingOnFiles: 2,
      });
      // A task's files are reserved exclusively, so they keep others off overlapping tasks too.
      await store.reservations.release(s.a, undefined);
      assert.equal(granted(await claim({ runId: s.runId, claimant: s.b })).task.id, s.id('busy-1'));
      await store.reservations.release(s.b, ['src/**']);
      assert.equal(granted(await claim({ runId: s.runId, claimant: s.a })).task.id, s.id('busy-2'));
      await store.tasks.create([newTask(s.runId, s.id('x-again'), { files: ['src/*.ts'] })]);
      assert.deepEqual(await claim({ runId: s.runId, claimant: s.c }), {
        granted: false,
        reason: 'none_ready',
        waitingOnFiles: 1,
      });
      const lapsed = await claim({ runId: s.runId, claimant: s.c, now: T0 + TTL + 1 });
      assert.equal(granted(lapsed).task.id, s.id('busy-1'), 'lapsed leases free their tasks and files');
    });

    it('takes back lapsed leases before claiming, so the next claim gets a new epoch', async () => {
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('t'), { files: ['a.ts'], priority: 1 })]);
      granted(await claim({ runId: s.runId, claimant: s.a }));
      const out = granted(await claim({ runId: s.runId, claimant: s.b, now: T0 + TTL + 1 }));
      assert.equal(out.task.id, s.id('t'));
      assert.equal(out.task.owner, s.b);
      assert.equal(out.task.epoch, 2);
      assert.equal(out.task.attempts, 2);
      assert.equal(typeof out.task.error, 'string', 'the task says why it was taken back');
      const live = await store.reservations.list({ runId: s.runId, now: T0 + TTL + 1 });
      assert.deepEqual(
        live.map((r) => r.holder),
        [s.b],
      );
    });

    it('completes under the current lease, releasing its files and unblocking a diamond', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('a'), { files: ['a.ts'] }),
        newTask(s.runId, s.id('b'), { dependsOn: [s.id('a')], createdAt: T0 + 1 }),
        newTask(s.runId, s.id('c'), { dependsOn: [s.id('a')], createdAt: T0 + 2 }),
        newTask(s.runId, s.id('d'), { dependsOn: [s.id('b'), s.id('c')], createdAt: T0 + 3 }),
      ]);
      const { task } = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('a') }));
      const done = await store.tasks.complete(
        s.id('a'),
        s.a,
        task.epoch,
        { result: 'abc123', branch: 'br' },
        T0 + 5,
      );
      assert.ok(done.ok);
      assert.deepEqual(done.task, {
        ...task,
        state: 'done',
        result: 'abc123',
        branch: 'br',
        leaseExpiresAt: null,
        completedAt: T0 + 5,
        updatedAt: T0 + 5,
      });
      assert.deepEqual(
        done.unblocked.map((t) => [t.id, t.state, t.updatedAt]),
        [
          [s.id('b'), 'ready', T0 + 5],
          [s.id('c'), 'ready', T0 + 5],
        ],
      );
      assert.deepEqual(await store.reservations.list({ runId: s.runId, now: T0 + 5 }), []);
      assert.deepEqual((await finish(s.runId, s.id('b'), s.a)).unblocked, []);
      assert.equal((await store.tasks.get(s.id('d')))?.state, 'blocked');
      assert.deepEqual(ids((await finish(s.runId, s.id('c'), s.b)).unblocked), [s.id('d')]);
      assert.equal((await store.tasks.get(s.id('d')))?.state, 'ready');
    });

    it('fences completion: stale epoch after a re-claim, expired lease, wrong holder, not claimed', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('reclaimed'), { priority: 2 }),
        newTask(s.runId, s.id('lapsed'), { priority: 1 }),
        newTask(s.runId, s.id('held')),
      ]);
      const result = { result: null, branch: null };
      const first = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('reclaimed') }));
      granted(await claim({ runId: s.runId, claimant: s.b, taskId: s.id('reclaimed'), now: T0 + TTL + 1 }));
      const stale = await store.tasks.complete(
        s.id('reclaimed'),
        s.a,
        first.task.epoch,
        result,
        T0 + TTL + 2,
      );
      assert.equal(reasonOf(stale), 'stale_epoch');
      assert.equal('task' in stale && stale.task.owner, s.b);
      const staleFail = await store.tasks.fail(s.id('reclaimed'), s.a, 1, 'x', true, T0 + TTL + 2);
      assert.equal(reasonOf(staleFail), 'stale_epoch');
      assert.ok((await store.tasks.complete(s.id('reclaimed'), s.b, 2, result, T0 + TTL + 2)).ok);

      // A lapsed lease is refused even before anyone took the task back; the boundary is not live.
      const lapsed = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('lapsed'), now: T0 }));
      const expired = await store.tasks.complete(s.id('lapsed'), s.a, lapsed.task.epoch, result, T0 + TTL);
      assert.equal(reasonOf(expired), 'expired');
      assert.equal((await store.tasks.get(s.id('lapsed')))?.state, 'claimed');
      assert.equal(reasonOf(await store.tasks.fail(s.id('lapsed'), s.a, 1, 'x', true, T0 + TTL)), 'expired');

      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('held'), now: T0 + TTL }));
      assert.equal(
        reasonOf(await store.tasks.complete(s.id('held'), s.c, 1, result, T0 + TTL)),
        'not_holder',
      );
      assert.deepEqual(await store.tasks.complete(s.id('nope'), s.a, 1, result, T0), {
        ok: false,
        reason: 'not_found',
      });
      const reclaimedDone = await store.tasks.complete(s.id('reclaimed'), s.b, 2, result, T0 + TTL + 3);
      assert.equal(reasonOf(reclaimedDone), 'not_claimed');
      const wrongEpochDone = await store.tasks.complete(s.id('reclaimed'), s.b, 7, result, T0 + TTL + 3);
      assert.equal(reasonOf(wrongEpochDone), 'stale_epoch', 'a wrong epoch is reported before the state');
      await store.tasks.create([newTask(s.runId, s.id('never'))]);
      assert.equal(reasonOf(await store.tasks.complete(s.id('never'), s.a, 0, result, T0)), 'not_claimed');
    });

    it('fails a task back to ready while attempts are left, else for good', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('retry'), { maxAttempts: 2, assignee: s.a, files: ['f.ts'] }),
        newTask(s.runId, s.id('no-retry')),
      ]);
      const first = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('retry') }));
      const failed = await store.tasks.fail(s.id('retry'), s.a, first.task.epoch, 'tests red', true, T0 + 1);
      assert.ok(failed.ok);
      assert.deepEqual(
        [
          failed.task.state,
          failed.task.owner,
          failed.task.assignee,
          failed.task.error,
          failed.task.leaseExpiresAt,
        ],
        ['ready', null, s.a, 'tests red', null],
      );
      assert.deepEqual(await store.reservations.list({ runId: s.runId, now: T0 + 1 }), []);
      const second = granted(
        await claim({ runId: s.runId, claimant: s.a, taskId: s.id('retry'), now: T0 + 2 }),
      );
      assert.deepEqual([second.task.epoch, second.task.attempts, second.task.error], [2, 2, 'tests red']);
      const gaveUp = await store.tasks.fail(s.id('retry'), s.a, 2, 'still red', true, T0 + 3);
      assert.ok(gaveUp.ok);
      assert.deepEqual(
        [gaveUp.task.state, gaveUp.task.owner, gaveUp.task.error],
        ['failed', s.a, 'still red'],
      );
      assert.equal(
        reasonOf(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('retry') })),
        'not_ready',
      );

      const once = granted(await claim({ runId: s.runId, claimant: s.b, taskId: s.id('no-retry') }));
      const noRetry = await store.tasks.fail(
        s.id('no-retry'),
        s.b,
        once.task.epoch,
        'impossible',
        false,
        T0 + 1,
      );
      assert.equal(noRetry.ok && noRetry.task.state, 'failed');
    });

    it('renews live leases and reservations of a holder, never lapsed ones', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('one'), { files: ['one.ts'] }),
        newTask(s.runId, s.id('two'), { createdAt: T0 + 1 }),
        newTask(s.runId, s.id('gone'), { files: ['gone.ts'] }),
      ]);
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('one') }));
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('two') }));
      const explicit = { runId: s.runId, patterns: ['lib/**'], mode: 'shared' as const, ttlMs: TTL, now: T0 };
      assert.ok((await store.reservations.reserve({ ...explicit, holder: s.a })).ok);
      const renewed = await store.tasks.renew(s.a, TTL, T0 + 500);
      assert.deepEqual(
        renewed.tasks.map((t) => [t.id, t.leaseExpiresAt]),
        [
          [s.id('one'), T0 + 500 + TTL],
          [s.id('two'), T0 + 500 + TTL],
        ],
      );
      assert.equal(renewed.reservations, 2);
      const mine = await store.reservations.list({ runId: s.runId, holder: s.a, now: T0 + TTL + 100 });
      assert.deepEqual(
        mine.map((r) => [r.pattern, r.expiresAt]),
        [
          ['one.ts', T0 + 500 + TTL],
          ['lib/**', T0 + 500 + TTL],
        ],
      );
      const done = await store.tasks.complete(
        s.id('one'),
        s.a,
        1,
        { result: null, branch: null },
        T0 + TTL + 100,
      );
      assert.ok(done.ok, 'the renewed lease outlives the first one');

      granted(await claim({ runId: s.runId, claimant: s.b, taskId: s.id('gone') }));
      assert.deepEqual(await store.tasks.renew(s.b, TTL, T0 + TTL), { tasks: [], reservations: 0 });
      assert.equal((await store.tasks.get(s.id('gone')))?.leaseExpiresAt, T0 + TTL);
      const late = await store.tasks.complete(
        s.id('gone'),
        s.b,
        1,
        { result: null, branch: null },
        T0 + TTL + 1,
      );
      assert.equal(reasonOf(late), 'expired');
    });

    it('releases every lease and reservation of a holder that is gone', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('again'), { files: ['a.ts'] }),
        newTask(s.runId, s.id('last-try'), { maxAttempts: 1, createdAt: T0 + 1 }),
        newTask(s.runId, s.id('other'), { files: ['o.ts'] }),
      ]);
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('again') }));
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('last-try') }));
      granted(await claim({ runId: s.runId, claimant: s.b, taskId: s.id('other') }));
      const reserve = { runId: s.runId, holder: s.a, patterns: ['lib/**'], mode: 'exclusive' as const };
      assert.ok((await store.reservations.reserve({ ...reserve, ttlMs: TTL, now: T0 })).ok);
      const released = await store.tasks.releaseHolder(s.a, 'instance died', T0 + 10);
      assert.deepEqual(
        released.tasks.map((t) => [t.id, t.state, t.owner, t.leaseExpiresAt, t.error, t.updatedAt]),
        [
          [s.id('again'), 'ready', null, null, 'instance died', T0 + 10],
          [s.id('last-try'), 'failed', s.a, null, 'instance died', T0 + 10],
        ],
      );
      assert.deepEqual(patterns(released.reservations), ['a.ts', 'lib/**']);
      assert.deepEqual(await store.reservations.list({ runId: s.runId, holder: s.a, now: T0 + 10 }), []);
      assert.equal((await store.tasks.get(s.id('other')))?.state, 'claimed');
      assert.deepEqual(patterns(await store.reservations.list({ runId: s.runId, now: T0 + 10 })), ['o.ts']);
      assert.deepEqual(await store.tasks.releaseHolder(s.a, 'again', T0 + 11), {
        tasks: [],
        reservations: [],
      });
    });

    it('takes back one task from its holder, leaving its other leases', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('moved'), { files: ['m.ts'] }),
        newTask(s.runId, s.id('kept'), { files: ['k.ts'], createdAt: T0 + 1 }),
        newTask(s.runId, s.id('open'), { createdAt: T0 + 2 }),
      ]);
      const moved = granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('moved') }));
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('kept') }));
      const released = await store.tasks.releaseTask(s.id('moved'), 'reassigned by the user', T0 + 10);
      assert.deepEqual(
        released.tasks.map((t) => [t.id, t.state, t.owner, t.error]),
        [[s.id('moved'), 'ready', null, 'reassigned by the user']],
      );
      assert.deepEqual(patterns(released.reservations), ['m.ts']);
      assert.deepEqual(
        patterns(await store.reservations.list({ runId: s.runId, holder: s.a, now: T0 + 10 })),
        ['k.ts'],
      );
      // The old holder is fenced out; a new claim raises the epoch.
      const late = await store.tasks.complete(
        s.id('moved'),
        s.a,
        moved.task.epoch,
        { result: 'r', branch: null },
        T0 + 11,
      );
      assert.equal(late.ok, false);
      const again = granted(
        await claim({ runId: s.runId, claimant: s.b, taskId: s.id('moved'), now: T0 + 12 }),
      );
      assert.equal(again.task.epoch, moved.task.epoch + 1);
      assert.deepEqual(await store.tasks.releaseTask(s.id('open'), 'nothing held', T0 + 13), {
        tasks: [],
        reservations: [],
      });
      await assert.rejects(store.tasks.releaseTask(s.id('unknown'), 'x', T0), { code: 'NOT_FOUND' });
    });

    it('expires lapsed leases and reservations, leaving live ones', async () => {
      const s = scope();
      await store.tasks.create([
        newTask(s.runId, s.id('short'), { files: ['s.ts'] }),
        newTask(s.runId, s.id('last-try'), { maxAttempts: 1, createdAt: T0 + 1 }),
        newTask(s.runId, s.id('long'), { files: ['l.ts'] }),
      ]);
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('short') }));
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('last-try') }));
      granted(await claim({ runId: s.runId, claimant: s.b, taskId: s.id('long'), ttlMs: 3 * TTL }));
      const explicit = { runId: s.runId, holder: s.c, mode: 'shared' as const, now: T0 };
      assert.ok((await store.reservations.reserve({ ...explicit, patterns: ['x/**'], ttlMs: TTL })).ok);
      assert.ok((await store.reservations.reserve({ ...explicit, patterns: ['y/**'], ttlMs: 3 * TTL })).ok);
      const out = await store.tasks.expire(T0 + TTL + 1);
      const tasks = out.tasks.filter((t) => t.runId === s.runId);
      assert.deepEqual(
        tasks.map((t) => [t.id, t.state, t.owner, t.leaseExpiresAt, typeof t.error]),
        [
          [s.id('short'), 'ready', null, null, 'string'],
          [s.id('last-try'), 'failed', s.a, null, 'string'],
        ],
      );
      assert.deepEqual(patterns(out.reservations.filter((r) => r.runId === s.runId)).sort(), [
        's.ts',
        'x/**',
      ]);
      assert.equal((await store.tasks.get(s.id('long')))?.state, 'claimed');
      assert.deepEqual(patterns(await store.reservations.list({ runId: s.runId, now: T0 + TTL + 1 })), [
        'l.ts',
        'y/**',
      ]);
    });

    it('tells when the next lease or reservation expires', async () => {
      await store.tasks.expire(Number.MAX_SAFE_INTEGER); // the store is shared with the other tests
      assert.equal(await store.tasks.nextExpiry(), null);
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('t'))]);
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('t') }));
      assert.equal(await store.tasks.nextExpiry(), T0 + TTL);
      const req = { runId: s.runId, holder: s.b, patterns: ['n/**'], mode: 'shared' as const };
      assert.ok((await store.reservations.reserve({ ...req, ttlMs: TTL / 2, now: T0 })).ok);
      assert.equal(await store.tasks.nextExpiry(), T0 + TTL / 2);
      await store.reservations.release(s.b, undefined);
      assert.equal(await store.tasks.nextExpiry(), T0 + TTL);
      assert.ok((await store.tasks.complete(s.id('t'), s.a, 1, { result: null, branch: null }, T0)).ok);
      assert.equal(await store.tasks.nextExpiry(), null);
    });

    it('marks done tasks merged once, ignoring the others', async () => {
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('done')), newTask(s.runId, s.id('ready'))]);
      await finish(s.runId, s.id('done'), s.a);
      const merged = await store.tasks.markMerged([s.id('done'), s.id('ready'), s.id('nope')], T0 + 5);
      assert.deepEqual(
        merged.map((t) => [t.id, t.mergedAt]),
        [[s.id('done'), T0 + 5]],
      );
      assert.deepEqual(await store.tasks.markMerged([s.id('done')], T0 + 9), []);
      assert.equal((await store.tasks.get(s.id('done')))?.mergedAt, T0 + 5);
      assert.equal((await store.tasks.get(s.id('ready')))?.mergedAt, null);
      assert.deepEqual(await store.tasks.markMerged([], T0), []);
    });

    it('assigns and unassigns a task that is not claimed', async () => {
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('t'))]);
      const assigned = await store.tasks.assign(s.id('t'), s.b, T0 + 1);
      assert.deepEqual([assigned.assignee, assigned.updatedAt], [s.b, T0 + 1]);
      assert.equal(reasonOf(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('t') })), 'assigned');
      assert.equal((await store.tasks.assign(s.id('t'), null, T0 + 2)).assignee, null);
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('t') }));
      await assert.rejects(store.tasks.assign(s.id('t'), s.c, T0 + 3), hasCode('CONFLICT'));
      await assert.rejects(store.tasks.assign(s.id('nope'), s.c, T0), hasCode('NOT_FOUND'));
    });

    it('reserves files unless they overlap another holder where either side is exclusive', async () => {
      const s = scope();
      const reserve = (holder: string, pats: string[], mode: 'shared' | 'exclusive', now = T0) =>
        store.reservations.reserve({ runId: s.runId, holder, patterns: pats, mode, ttlMs: TTL, now });
      const srcB = await reserve(s.b, ['src/**'], 'exclusive');
      assert.ok(srcB.ok);
      assert.deepEqual(
        srcB.reservations.map((r) => [r.holder, r.pattern, r.mode, r.taskId, r.expiresAt, r.createdAt]),
        [[s.b, 'src/**', 'exclusive', null, T0 + TTL, T0]],
      );
      assert.deepEqual(await reserve(s.a, ['src/a.ts'], 'shared'), {
        ok: false,
        conflicts: srcB.reservations,
      });
      assert.deepEqual(await reserve(s.a, ['src/a.ts'], 'exclusive'), {
        ok: false,
        conflicts: srcB.reservations,
      });

      const docsB = await reserve(s.b, ['docs/**'], 'shared');
      assert.ok(docsB.ok);
      assert.ok((await reserve(s.a, ['docs/x.md'], 'shared')).ok, 'shared with shared');
      assert.deepEqual(await reserve(s.c, ['docs/y.md'], 'exclusive'), {
        ok: false,
        conflicts: docsB.reservations,
      });
      assert.ok((await reserve(s.c, ['test/**'], 'exclusive')).ok, 'no overlap');

      const allOrNothing = await reserve(s.c, ['lib/free.ts', 'src/b.ts'], 'exclusive');
      assert.equal(allOrNothing.ok, false);
      const cHolds = await store.reservations.list({ runId: s.runId, holder: s.c, now: T0 });
      assert.deepEqual(patterns(cHolds), ['test/**']);

      assert.ok(
        (await reserve(s.c, ['src/late.ts'], 'exclusive', T0 + TTL)).ok,
        'a lapsed reservation is free',
      );
      const otherRun = {
        runId: scope().runId,
        holder: s.a,
        patterns: ['test/**'],
        mode: 'exclusive' as const,
      };
      assert.ok(
        (await store.reservations.reserve({ ...otherRun, ttlMs: TTL, now: T0 })).ok,
        'runs do not conflict',
      );

      await store.tasks.create([newTask(s.runId, s.id('t'), { files: ['app/main.ts'] })]);
      const claimed = granted(await claim({ runId: s.runId, claimant: s.b, taskId: s.id('t') }));
      assert.deepEqual(await reserve(s.a, ['app/**'], 'shared'), {
        ok: false,
        conflicts: claimed.reservations,
      });
    });

    it("renews a holder's own patterns in place; its own reservations never conflict", async () => {
      const s = scope();
      const reserve = (pats: string[], mode: 'shared' | 'exclusive', now: number) =>
        store.reservations.reserve({ runId: s.runId, holder: s.a, patterns: pats, mode, ttlMs: TTL, now });
      const first = await reserve(['src/**'], 'shared', T0);
      assert.ok(first.ok);
      const again = await reserve(['src/**', 'src/a.ts', 'src/a.ts'], 'exclusive', T0 + 10);
      assert.ok(again.ok);
      assert.deepEqual(again.reservations[0], {
        ...first.reservations[0],
        mode: 'exclusive',
        expiresAt: T0 + 10 + TTL,
      });
      assert.deepEqual(patterns(again.reservations), ['src/**', 'src/a.ts']);
      assert.deepEqual(await store.reservations.list({ runId: s.runId, now: T0 + 10 }), again.reservations);
    });

    it('releases explicit reservations by pattern or all at once; task reservations stay with their task', async () => {
      const s = scope();
      await store.tasks.create([newTask(s.runId, s.id('t'), { files: ['c.ts'] })]);
      granted(await claim({ runId: s.runId, claimant: s.a, taskId: s.id('t') }));
      const req = { runId: s.runId, holder: s.a, mode: 'shared' as const, ttlMs: TTL, now: T0 };
      assert.ok((await store.reservations.reserve({ ...req, patterns: ['a/**', 'b/**'] })).ok);
      const some = await store.reservations.release(s.a, ['a/**', 'z/**', 'c.ts']);
      assert.deepEqual(patterns(some.released), ['a/**']);
      assert.deepEqual(some.notHeld, ['z/**', 'c.ts']);
      const rest = await store.reservations.release(s.a, undefined);
      assert.deepEqual(patterns(rest.released), ['b/**']);
      assert.deepEqual(rest.notHeld, []);
      assert.deepEqual(patterns(await store.reservations.list({ runId: s.runId, now: T0 })), ['c.ts']);
      assert.deepEqual(await store.reservations.release(s.a, ['a/**']), { released: [], notHeld: ['a/**'] });
    });

    it('lists live reservations oldest first, by run and holder', async () => {
      const s = scope();
      const reserve = (holder: string, pattern: string, now: number, ttlMs = TTL, runId = s.runId) =>
        store.reservations.reserve({ runId, holder, patterns: [pattern], mode: 'shared', ttlMs, now });
      await reserve(s.a, 'one', T0 + 1);
      await reserve(s.b, 'two', T0);
      await reserve(s.c, 'brief', T0, 10);
      await reserve(s.a, 'elsewhere', T0, TTL, scope().runId);
      assert.deepEqual(patterns(await store.reservations.list({ runId: s.runId, now: T0 + 100 })), [
        'two',
        'one',
      ]);
      assert.deepEqual(
        patterns(await store.reservations.list({ runId: s.runId, holder: s.a, now: T0 + 100 })),
        ['one'],
      );
      assert.deepEqual(patterns(await store.reservations.list({ holder: s.a, now: T0 + 100 })), [
        'elsewhere',
        'one',
      ]);
      assert.deepEqual(await store.reservations.list({ runId: s.runId, now: T0 + TTL + 1 }), []);
    });
  });
}
