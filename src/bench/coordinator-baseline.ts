/**
 * The storage floor of the work-coordinator figure: the least a task claim can cost on SQLite. A bare
 * better-sqlite3 loop on a fresh file configured like the store claims each task with one IMMEDIATE
 * transaction (select the first ready row, update it to claimed) and finishes it with a second one (update it
 * to done, fenced by its epoch): no leases, reservations, dependencies, audit events or notices.
 */
import { withBareSqlite } from './bus-baseline.js';

export interface ClaimLoop {
  /** Claim → done cycles per second over the whole round. */
  cyclesPerSecond: number;
  /** Per claim transaction, commit included, in ms. */
  claimMs: number[];
  /** Per done transaction, commit included, in ms. */
  doneMs: number[];
}

/**
 * One round: `tasks` ready rows in a fresh file, claimed and finished one after another by a single
 * synchronous client (this process does nothing else meanwhile). The table has the store's partial index on
 * ready tasks, so finding the next one stays an index lookup as rows leave the ready state.
 */
export function bareSqliteClaims(tasks: number): ClaimLoop {
  return withBareSqlite((db) => {
    db.exec(`CREATE TABLE tasks (id TEXT PRIMARY KEY, state TEXT NOT NULL, owner TEXT,
        epoch INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE INDEX tasks_ready ON tasks(created_at, id) WHERE state = 'ready';`);
    const insert = db.prepare(
      `INSERT INTO tasks (id, state, owner, epoch, created_at, updated_at) VALUES (?, 'ready', NULL, 0, ?, ?)`,
    );
    db.transaction(() => {
      for (let i = 0; i < tasks; i++) insert.run(`t${String(i).padStart(6, '0')}`, i, i);
    }).immediate();
    const next = db.prepare(
      `SELECT id, epoch FROM tasks WHERE state = 'ready' ORDER BY created_at, id LIMIT 1`,
    );
    const take = db.prepare(
      `UPDATE tasks SET state = 'claimed', owner = ?, epoch = epoch + 1, updated_at = ? WHERE id = ?`,
    );
    const finish = db.prepare(
      `UPDATE tasks SET state = 'done', updated_at = ? WHERE id = ? AND owner = ? AND epoch = ? AND state = 'claimed'`,
    );
    const claim = db.transaction((owner: string) => {
      const row = next.get() as { id: string; epoch: number } | undefined;
      if (!row) return null;
      take.run(owner, Date.now(), row.id);
      return { id: row.id, epoch: row.epoch + 1 };
    });
    const done = db.transaction((id: string, owner: string, epoch: number) => {
      if (finish.run(Date.now(), id, owner, epoch).changes !== 1) {
        throw new Error(`bare claim baseline: task ${id} was not claimed by ${owner} at epoch ${epoch}`);
      }
    });
    const claimMs: number[] = [];
    const doneMs: number[] = [];
    const t0 = performance.now();
    for (;;) {
      const start = performance.now();
      const got = claim.immediate('bench');
      const claimed = performance.now();
      if (!got) break;
      done.immediate(got.id, 'bench', got.epoch);
      claimMs.push(claimed - start);
      doneMs.push(performance.now() - claimed);
    }
    const wallMs = performance.now() - t0;
    if (claimMs.length !== tasks) {
      throw new Error(`bare claim baseline: ${claimMs.length} of ${tasks} tasks were claimed`);
    }
    return { cyclesPerSecond: tasks / (wallMs / 1000), claimMs, doneMs };
  });
}
