import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { Config } from '../../core/index.js';
import { openStore } from '../index.js';
import type { NewTask } from '../types.js';

/** The store every client shares; each worker thread opens its own connection to it through openStore. */
export interface ContentionHarness {
  config: Pick<Config, 'store' | 'home'>;
  dispose(): Promise<void>;
}

export interface ContentionOptions {
  tasks: number;
  workers: number;
  clientsPerWorker: number;
  ttlMs: number;
  /** Chance that a client stalls past its lease before completing (a missed heartbeat). */
  pauseChance: number;
  /** Chance that a client renews its lease half way through its work. */
  renewChance: number;
  /** Clients give up after this long, so a store that loses tasks fails the assertions instead of hanging. */
  deadlineMs: number;
}

/** What one worker thread is given: its clients' names and how they behave. */
export interface ContentionWorkerInput extends Pick<
  ContentionOptions,
  'ttlMs' | 'pauseChance' | 'renewChance'
> {
  config: ContentionHarness['config'];
  runId: string;
  clients: string[];
  /** Epoch ms after which the clients stop. */
  deadline: number;
}

/** One completion attempt under a granted lease. */
export interface CompletionAttempt {
  taskId: string;
  epoch: number;
  client: string;
  /** `ok`, or the fence refusal reason. */
  outcome: string;
}

const DEFAULTS: ContentionOptions = {
  tasks: 1_000,
  workers: 5,
  clientsPerWorker: 10,
  ttlMs: 200,
  pauseChance: 0.1,
  renewChance: 0.2,
  deadlineMs: 60_000,
};

/** Refusals a client may see under its own epoch: the lease lapsed, and maybe someone else took the task. */
const LAPSE_REFUSALS = ['stale_epoch', 'expired', 'not_claimed'];

const WORKER = new URL('./task-contention-worker.ts', import.meta.url).href;
// Tests run as TypeScript through tsx, which worker threads do not inherit: register it before the import.
const BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER)}); });`;

function runWorker(input: ContentionWorkerInput): Promise<CompletionAttempt[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: input });
    let attempts: CompletionAttempt[] | undefined;
    worker.once('message', (m: CompletionAttempt[]) => (attempts = m));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      attempts
        ? resolve(attempts)
        : reject(new Error(`contention worker exited with ${code} before reporting`)),
    );
  });
}

/** A graph with some dependencies (every tenth task waits on two earlier ones), priorities and files. */
function taskGraph(runId: string, n: number): NewTask[] {
  const createdAt = Date.now();
  const id = (i: number) => `${runId}-${String(i).padStart(4, '0')}`;
  return Array.from({ length: n }, (_, i) => ({
    id: id(i),
    runId,
    title: `task ${i}`,
    description: '',
    dependsOn: i % 10 === 9 ? [id(i - 9), id(i - 4)] : [],
    files: i % 7 === 0 ? [`src/mod${i % 5}/**`] : [],
    priority: i % 3,
    createdBy: 'user',
    assignee: null,
    // Never failed for good: the test is about fencing, and a lapse only costs a retry.
    maxAttempts: 1_000,
    createdAt: createdAt + i,
  }));
}

/**
 * The contention test: many clients in several threads (each with its own store connection) claim from one
 * task graph, with pauses that outlast their lease. No task may be completed under two epochs, and every
 * task must complete exactly once. Backend-independent: it only needs a config openStore understands.
 */
export function runTaskContention(
  name: string,
  makeHarness: () => ContentionHarness,
  options: Partial<ContentionOptions> = {},
): void {
  const o = { ...DEFAULTS, ...options };
  const clients = o.workers * o.clientsPerWorker;
  describe(`task contention: ${name}`, () => {
    it(`${clients} clients claim ${o.tasks} tasks through lapsing leases; each completes exactly once`, async (t) => {
      const harness = makeHarness();
      const store = openStore(harness.config);
      try {
        const runId = `run-contention-${Math.random().toString(36).slice(2, 8)}`;
        await store.tasks.create(taskGraph(runId, o.tasks));
        const started = Date.now();
        const attempts = (
          await Promise.all(
            Array.from({ length: o.workers }, (_, w) =>
              runWorker({
                config: harness.config,
                runId,
                clients: Array.from({ length: o.clientsPerWorker }, (_, c) => `client-${w}-${c}`),
                ttlMs: o.ttlMs,
                pauseChance: o.pauseChance,
                renewChance: o.renewChance,
                deadline: started + o.deadlineMs,
              }),
            ),
          )
        ).flat();
        const refusals = attempts.filter((a) => a.outcome !== 'ok');
        const counts = Object.fromEntries(
          LAPSE_REFUSALS.map((r) => [r, refusals.filter((a) => a.outcome === r).length]),
        );
        t.diagnostic(
          `${Date.now() - started} ms, ${attempts.length} completion attempts, refusals ${JSON.stringify(counts)}`,
        );

        const tasks = await store.tasks.list({ runId });
        assert.equal(tasks.length, o.tasks);
        assert.deepEqual(
          tasks.filter((task) => task.state !== 'done').map((task) => [task.id, task.state]),
          [],
        );
        const completed = new Map<string, CompletionAttempt[]>();
        for (const a of attempts.filter((a) => a.outcome === 'ok')) {
          completed.set(a.taskId, [...(completed.get(a.taskId) ?? []), a]);
        }
        assert.deepEqual(
          [...completed].filter(([, done]) => done.length !== 1),
          [],
          'no task completed twice',
        );
        const byId = new Map(tasks.map((task) => [task.id, task]));
        for (const task of tasks) {
          const [done] = completed.get(task.id) ?? [];
          assert.deepEqual(
            [done?.epoch, done?.client],
            [task.epoch, task.result],
            `${task.id} was completed under its final epoch by the client that holds it`,
          );
          for (const dep of task.dependsOn) {
            assert.ok(
              byId.get(dep)!.completedAt! <= task.completedAt!,
              `${task.id} ran only after ${dep} was done`,
            );
          }
        }
        assert.deepEqual(
          refusals.filter((a) => !LAPSE_REFUSALS.includes(a.outcome)),
          [],
          'only a lapsed lease refuses a completion',
        );
        assert.ok((counts.stale_epoch ?? 0) + (counts.expired ?? 0) > 0, 'the pauses outlasted some leases');
        assert.deepEqual(await store.reservations.list({ runId, now: Date.now() }), []);
      } finally {
        await store.close();
        await harness.dispose();
      }
    });
  });
}
