// One worker thread of the contention test (task-contention.ts): several clients sharing this thread's own
// store connection, each claiming and completing until no task is ready or claimed (or the deadline).
// Reports every completion attempt to the parent.
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../index.js';
import type { Store } from '../types.js';
import type { CompletionAttempt, ContentionWorkerInput } from './task-contention.js';

const input = workerData as ContentionWorkerInput;

/** 1 to 5 ms of "work". */
const work = () => sleep(1 + Math.random() * 4);

async function client(store: Store, me: string): Promise<CompletionAttempt[]> {
  const attempts: CompletionAttempt[] = [];
  const { runId, ttlMs } = input;
  while (Date.now() < input.deadline) {
    const out = await store.tasks.claim({ runId, claimant: me, ttlMs, now: Date.now() });
    if (!out.granted) {
      if (out.reason !== 'none_ready') throw new Error(`${me}: unexpected claim refusal ${out.reason}`);
      // Blocked tasks wait on claimed ones; once nothing is ready or claimed, the graph is finished.
      const open = await store.tasks.list({ runId, states: ['ready', 'claimed'] });
      if (open.length === 0) return attempts;
      await work();
      continue;
    }
    const { task } = out;
    await work();
    if (Math.random() < input.renewChance) {
      await store.tasks.renew(me, ttlMs, Date.now());
      await work();
    }
    if (Math.random() < input.pauseChance) await sleep(ttlMs + Math.random() * (ttlMs / 2));
    const done = await store.tasks.complete(
      task.id,
      me,
      task.epoch,
      { result: me, branch: null },
      Date.now(),
    );
    attempts.push({ taskId: task.id, epoch: task.epoch, client: me, outcome: done.ok ? 'ok' : done.reason });
  }
  return attempts;
}

const store = openStore(input.config);
try {
  const attempts = await Promise.all(input.clients.map((me) => client(store, me)));
  parentPort!.postMessage(attempts.flat());
} finally {
  await store.close();
}
