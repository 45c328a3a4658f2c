import type Database from 'better-sqlite3';
import {
  TmuxClaudeError,
  globsOverlap,
  newReservationId,
  notFound,
  type Reservation,
  type ReservationMode,
  type Task,
  type TaskState,
} from '../../core/index.js';
import type {
  ClaimOutcome,
  ClaimRequest,
  FenceOutcome,
  FenceRefusal,
  NewTask,
  Released,
  ReservationStore,
  ReserveRequest,
  TaskFilter,
  TaskStore,
} from '../types.js';
// sqlite-store.ts imports this module too; the helpers are only called after both have loaded.
import { isUniqueViolation, placeholders, whereClause, type Row } from './sqlite-store.js';

function rowToTask(r: Row): Task {
  return {
    id: r.id as string,
    runId: r.run_id as string,
    title: r.title as string,
    description: r.description as string,
    dependsOn: JSON.parse(r.depends_on as string) as string[],
    files: JSON.parse(r.files as string) as string[],
    priority: r.priority as number,
    state: r.state as TaskState,
    createdBy: r.created_by as string,
    assignee: (r.assignee as string | null) ?? null,
    owner: (r.owner as string | null) ?? null,
    epoch: r.epoch as number,
    leaseExpiresAt: (r.lease_expires_at as number | null) ?? null,
    attempts: r.attempts as number,
    maxAttempts: r.max_attempts as number,
    result: (r.result as string | null) ?? null,
    error: (r.error as string | null) ?? null,
    branch: (r.branch as string | null) ?? null,
    mergedAt: (r.merged_at as number | null) ?? null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    completedAt: (r.completed_at as number | null) ?? null,
  };
}

function rowToReservation(r: Row): Reservation {
  return {
    id: r.id as string,
    runId: r.run_id as string,
    holder: r.holder as string,
    pattern: r.pattern as string,
    mode: r.mode as ReservationMode,
    taskId: (r.task_id as string | null) ?? null,
    expiresAt: r.expires_at as number,
    createdAt: r.created_at as number,
  };
}

/** Tasks in creation order, then id (RETURNING yields rows in no defined order). */
function tasksInOrder(rows: Row[]): Task[] {
  return rows
    .map(rowToTask)
    .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Reservations oldest first; rows must carry `seq` (their rowid) to keep insertion order within a ms. */
function reservationsInOrder(rows: Row[]): Reservation[] {
  return rows
    .sort(
      (a, b) => (a.created_at as number) - (b.created_at as number) || (a.seq as number) - (b.seq as number),
    )
    .map(rowToReservation);
}

/** The reservations that overlap any of the patterns. */
function overlapping(patterns: readonly string[], reservations: readonly Reservation[]): Reservation[] {
  return reservations.filter((r) => patterns.some((p) => globsOverlap(p, r.pattern)));
}

const unique = (values: readonly string[]): string[] => [...new Set(values)];

/**
 * The SQLite task graph and file reservations, on the store's database. Every mutating method is one
 * IMMEDIATE transaction, so processes sharing the file never grant a task twice; reads are single statements.
 */
export function makeTaskStores(db: Database.Database): { tasks: TaskStore; reservations: ReservationStore } {
  // Reservations are read with their rowid, to keep insertion order within a millisecond.
  const RES = 'rowid AS seq, *';
  const byId = db.prepare('SELECT * FROM tasks WHERE id = ?');
  const insertTask =
    db.prepare(`INSERT INTO tasks (id, run_id, title, description, depends_on, files, priority,
      state, created_by, assignee, owner, epoch, lease_expires_at, attempts, max_attempts, result, error, branch,
      merged_at, created_at, updated_at, completed_at)
    VALUES (@id, @runId, @title, @description, @dependsOnJson, @filesJson, @priority, @state, @createdBy,
      @assignee, @owner, @epoch, @leaseExpiresAt, @attempts, @maxAttempts, @result, @error, @branch, @mergedAt,
      @createdAt, @updatedAt, @completedAt)`);
  const insertDep = db.prepare('INSERT OR IGNORE INTO task_deps (task_id, depends_on) VALUES (?, ?)');
  const saveTask = db.prepare(`UPDATE tasks SET state = @state, assignee = @assignee, owner = @owner,
      epoch = @epoch, lease_expires_at = @leaseExpiresAt, attempts = @attempts, result = @result, error = @error,
      branch = @branch, merged_at = @mergedAt, updated_at = @updatedAt, completed_at = @completedAt
    WHERE id = @id`);
  const lapsedTasks = db.prepare(
    `SELECT * FROM tasks WHERE state = 'claimed' AND lease_expires_at <= ? ORDER BY created_at, id`,
  );
  const claimedBy = db.prepare(
    `SELECT * FROM tasks WHERE owner = ? AND state = 'claimed' ORDER BY created_at, id`,
  );
  const renewTasks = db.prepare(`UPDATE tasks SET lease_expires_at = ?, updated_at = ?
    WHERE owner = ? AND state = 'claimed' AND lease_expires_at > ? RETURNING *`);
  const readyCandidates = (creators: readonly string[] | undefined) =>
    db.prepare(`SELECT * FROM tasks WHERE run_id = ? AND state = 'ready' AND (assignee IS NULL OR assignee = ?)
      ${creators ? `AND created_by IN (${placeholders(creators.length)})` : ''}
      ORDER BY priority DESC, created_at, id`);
  const anyCreator = readyCandidates(undefined);
  // Blocked tasks waiting on this one whose every dependency is now done.
  const unblockable = db.prepare(`SELECT t.* FROM task_deps d JOIN tasks t ON t.id = d.task_id
    WHERE d.depends_on = ? AND t.state = 'blocked' AND NOT EXISTS (
      SELECT 1 FROM task_deps d2 JOIN tasks t2 ON t2.id = d2.depends_on WHERE d2.task_id = t.id AND t2.state != 'done')
    ORDER BY t.created_at, t.id`);
  const nextExpiry = db.prepare(`SELECT MIN(x) AS next FROM (
    SELECT MIN(lease_expires_at) AS x FROM tasks WHERE state = 'claimed'
    UNION ALL SELECT MIN(expires_at) FROM reservations)`);

  const insertReservation = db.prepare(`INSERT INTO reservations (id, run_id, holder, pattern, mode, task_id,
    expires_at, created_at) VALUES (@id, @runId, @holder, @pattern, @mode, @taskId, @expiresAt, @createdAt)`);
  const othersLive = db.prepare(`SELECT ${RES} FROM reservations
    WHERE run_id = ? AND holder != ? AND expires_at > ? ORDER BY created_at, rowid`);
  const ofTask = db.prepare(`SELECT ${RES} FROM reservations WHERE task_id = ? ORDER BY created_at, rowid`);
  const renewOfTask = db.prepare('UPDATE reservations SET expires_at = ? WHERE task_id = ?');
  const renewOfHolder = db.prepare(
    'UPDATE reservations SET expires_at = ? WHERE holder = ? AND expires_at > ?',
  );
  const deleteOfTask = db.prepare(`DELETE FROM reservations WHERE task_id = ? RETURNING ${RES}`);
  const deleteOfHolder = db.prepare(`DELETE FROM reservations WHERE holder = ? RETURNING ${RES}`);
  const deleteLapsed = db.prepare(`DELETE FROM reservations WHERE expires_at <= ? RETURNING ${RES}`);
  const explicitOf = db.prepare(
    `SELECT ${RES} FROM reservations WHERE holder = ? AND pattern = ? AND task_id IS NULL`,
  );
  const updateExplicit = db.prepare('UPDATE reservations SET mode = ?, expires_at = ? WHERE id = ?');
  const deleteExplicit = db.prepare(
    `DELETE FROM reservations WHERE holder = ? AND pattern = ? AND task_id IS NULL RETURNING ${RES}`,
  );
  const deleteAllExplicit = db.prepare(
    `DELETE FROM reservations WHERE holder = ? AND task_id IS NULL RETURNING ${RES}`,
  );

  const write = (task: Task): Task => {
    saveTask.run(task);
    return task;
  };
  const reserve = (r: Reservation): Reservation => {
    insertReservation.run(r);
    return r;
  };
  const liveOthers = (runId: string, holder: string, now: number): Reservation[] =>
    (othersLive.all(runId, holder, now) as Row[]).map(rowToReservation);

  /** Leaves `claimed`: ready again when retrying with attempts left (no owner), else failed (last owner kept). */
  const settle = (task: Task, retry: boolean, error: string, now: number): Task => {
    const again = retry && task.attempts < task.maxAttempts;
    return write({
      ...task,
      state: again ? 'ready' : 'failed',
      owner: again ? null : task.owner,
      leaseExpiresAt: null,
      error,
      updatedAt: now,
    });
  };

  const expireLapsed = (now: number): Released => {
    const tasks = (lapsedTasks.all(now) as Row[]).map((r) =>
      settle(rowToTask(r), true, 'lease expired', now),
    );
    // The tasks' reservations (which normally lapse with them), then every other lapsed one.
    const rows = [
      ...tasks.flatMap((t) => deleteOfTask.all(t.id) as Row[]),
      ...(deleteLapsed.all(now) as Row[]),
    ];
    return { tasks, reservations: reservationsInOrder(rows) };
  };

  const grant = (task: Task, req: ClaimRequest): ClaimOutcome => {
    const expiresAt = req.now + req.ttlMs;
    const claimed = write({
      ...task,
      state: 'claimed',
      owner: req.claimant,
      epoch: task.epoch + 1,
      attempts: task.attempts + 1,
      leaseExpiresAt: expiresAt,
      updatedAt: req.now,
    });
    const reservations = unique(task.files).map((pattern) =>
      reserve({
        id: newReservationId(),
        runId: task.runId,
        holder: req.claimant,
        pattern,
        mode: 'exclusive',
        taskId: task.id,
        expiresAt,
        createdAt: req.now,
      }),
    );
    return { granted: true, task: claimed, reservations };
  };

  const claimById = (req: ClaimRequest, taskId: string): ClaimOutcome => {
    const row = byId.get(taskId) as Row | undefined;
    if (!row || row.run_id !== req.runId) return { granted: false, reason: 'not_found' };
    const task = rowToTask(row);
    if (task.state === 'claimed' && task.owner === req.claimant && (task.leaseExpiresAt ?? 0) > req.now) {
      // A retry of a claim that was granted: renew, same epoch.
      const expiresAt = req.now + req.ttlMs;
      renewOfTask.run(expiresAt, task.id);
      const renewed = write({ ...task, leaseExpiresAt: expiresAt, updatedAt: req.now });
      return {
        granted: true,
        task: renewed,
        reservations: reservationsInOrder(ofTask.all(task.id) as Row[]),
      };
    }
    if (task.assignee !== null && task.assignee !== req.claimant) {
      return { granted: false, reason: 'assigned', task };
    }
    if (task.state !== 'ready') return { granted: false, reason: 'not_ready', task };
    const conflicts = overlapping(task.files, liveOthers(req.runId, req.claimant, req.now));
    if (conflicts.length > 0) return { granted: false, reason: 'files_busy', task, conflicts };
    return grant(task, req);
  };

  const claimBest = (req: ClaimRequest): ClaimOutcome => {
    const live = liveOthers(req.runId, req.claimant, req.now);
    const query = req.creators ? readyCandidates(req.creators) : anyCreator;
    let waitingOnFiles = 0;
    let chosen: Task | undefined;
    // Lazily, so thousands of ready tasks cost nothing when the first one is free; the loop must end before
    // grant() writes (better-sqlite3 refuses writes while a statement is being iterated).
    for (const row of query.iterate(req.runId, req.claimant, ...(req.creators ?? []))) {
      const task = rowToTask(row as Row);
      if (overlapping(task.files, live).length > 0) {
        waitingOnFiles += 1;
        continue;
      }
      chosen = task;
      break;
    }
    return chosen ? grant(chosen, req) : { granted: false, reason: 'none_ready', waitingOnFiles };
  };

  /** The claimed task the holder may finish under `epoch`, or why not (in the contract's order). */
  const fenced = (taskId: string, holder: string, epoch: number, now: number): Task | FenceRefusal => {
    const row = byId.get(taskId) as Row | undefined;
    if (!row) return { reason: 'not_found' };
    const task = rowToTask(row);
    if (epoch !== task.epoch) return { reason: 'stale_epoch', task };
    if (task.state !== 'claimed') return { reason: 'not_claimed', task };
    if (task.owner !== holder) return { reason: 'not_holder', task };
    if (task.leaseExpiresAt === null || task.leaseExpiresAt <= now) return { reason: 'expired', task };
    return task;
  };

  const create = db.transaction((batch: readonly NewTask[]): Task[] => {
    const inBatch = new Map(batch.map((t) => [t.id, t]));
    return batch.map((t) => {
      const dependsOn = unique(t.dependsOn);
      let ready = true;
      for (const dep of dependsOn) {
        const sibling = inBatch.get(dep);
        const existing = sibling ? undefined : (byId.get(dep) as Row | undefined);
        if ((sibling?.runId ?? existing?.run_id) !== t.runId) {
          throw new TmuxClaudeError(
            'NOT_FOUND',
            `dependency ${JSON.stringify(dep)} of task ${JSON.stringify(t.id)} is not a task of run ${t.runId}`,
            { hint: 'create the dependency first, or in the same batch' },
          );
        }
        if (sibling || existing?.state !== 'done') ready = false;
      }
      const task: Task = {
        id: t.id,
        runId: t.runId,
        title: t.title,
        description: t.description,
        dependsOn,
        files: unique(t.files),
        priority: t.priority,
        state: ready ? 'ready' : 'blocked',
        createdBy: t.createdBy,
        assignee: t.assignee,
        owner: null,
        epoch: 0,
        leaseExpiresAt: null,
        attempts: 0,
        maxAttempts: t.maxAttempts,
        result: null,
        error: null,
        branch: null,
        mergedAt: null,
        createdAt: t.createdAt,
        updatedAt: t.createdAt,
        completedAt: null,
      };
      try {
        insertTask.run({
          ...task,
          dependsOnJson: JSON.stringify(dependsOn),
          filesJson: JSON.stringify(task.files),
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new TmuxClaudeError('CONFLICT', `task ${JSON.stringify(t.id)} exists`);
        throw err;
      }
      for (const dep of dependsOn) insertDep.run(t.id, dep);
      return task;
    });
  });

  const claim = db.transaction((req: ClaimRequest): ClaimOutcome => {
    expireLapsed(req.now);
    return req.taskId === undefined ? claimBest(req) : claimById(req, req.taskId);
  });

  const renew = db.transaction((holder: string, ttlMs: number, now: number) => {
    const expiresAt = now + ttlMs;
    const tasks = tasksInOrder(renewTasks.all(expiresAt, now, holder, now) as Row[]);
    const reservations = renewOfHolder.run(expiresAt, holder, now).changes;
    return { tasks, reservations };
  });

  const complete = db.transaction(
    (
      taskId: string,
      holder: string,
      epoch: number,
      result: { result: string | null; branch: string | null },
      now: number,
    ): FenceOutcome<{ task: Task; unblocked: Task[] }> => {
      const held = fenced(taskId, holder, epoch, now);
      if ('reason' in held) return { ok: false, ...held };
      const task = write({
        ...held,
        state: 'done',
        result: result.result,
        branch: result.branch,
        leaseExpiresAt: null,
        completedAt: now,
        updatedAt: now,
      });
      deleteOfTask.run(taskId);
      const unblocked = (unblockable.all(taskId) as Row[]).map((r) =>
        write({ ...rowToTask(r), state: 'ready', updatedAt: now }),
      );
      return { ok: true, task, unblocked };
    },
  );

  const fail = db.transaction(
    (
      taskId: string,
      holder: string,
      epoch: number,
      error: string,
      retry: boolean,
      now: number,
    ): FenceOutcome<{ task: Task }> => {
      const held = fenced(taskId, holder, epoch, now);
      if ('reason' in held) return { ok: false, ...held };
      deleteOfTask.run(taskId);
      return { ok: true, task: settle(held, retry, error, now) };
    },
  );

  const releaseHolder = db.transaction((holder: string, reason: string, now: number): Released => {
    const tasks = (claimedBy.all(holder) as Row[]).map((r) => settle(rowToTask(r), true, reason, now));
    return { tasks, reservations: reservationsInOrder(deleteOfHolder.all(holder) as Row[]) };
  });

  const releaseTask = db.transaction((taskId: string, reason: string, now: number): Released => {
    const row = byId.get(taskId) as Row | undefined;
    if (!row) throw notFound('task', taskId);
    const task = rowToTask(row);
    if (task.state !== 'claimed') return { tasks: [], reservations: [] };
    return {
      tasks: [settle(task, true, reason, now)],
      reservations: reservationsInOrder(deleteOfTask.all(taskId) as Row[]),
    };
  });

  const expire = db.transaction(expireLapsed);

  const markMerged = db.transaction((taskIds: readonly string[], now: number): Task[] => {
    const ids = unique(taskIds);
    if (ids.length === 0) return [];
    const rows = db
      .prepare(
        `UPDATE tasks SET merged_at = ?, updated_at = ?
         WHERE id IN (${placeholders(ids.length)}) AND state = 'done' AND merged_at IS NULL RETURNING *`,
      )
      .all(now, now, ...ids) as Row[];
    return tasksInOrder(rows);
  });

  const assign = db.transaction((taskId: string, assignee: string | null, now: number): Task => {
    const row = byId.get(taskId) as Row | undefined;
    if (!row) throw notFound('task', taskId);
    const task = rowToTask(row);
    if (task.state === 'claimed' && (task.leaseExpiresAt ?? 0) > now) {
      throw new TmuxClaudeError('CONFLICT', `task ${JSON.stringify(taskId)} is claimed by ${task.owner}`, {
        hint: 'assign it once it is released, or after its lease runs out',
      });
    }
    return write({ ...task, assignee, updatedAt: now });
  });

  const reserveFiles = db.transaction((req: ReserveRequest) => {
    const patterns = unique(req.patterns);
    const clashing = liveOthers(req.runId, req.holder, req.now).filter(
      (r) => r.mode === 'exclusive' || req.mode === 'exclusive',
    );
    const conflicts = overlapping(patterns, clashing);
    if (conflicts.length > 0) return { ok: false as const, conflicts };
    const expiresAt = req.now + req.ttlMs;
    const reservations = patterns.map((pattern) => {
      const own = explicitOf.get(req.holder, pattern) as Row | undefined;
      if (!own) {
        return reserve({
          id: newReservationId(),
          runId: req.runId,
          holder: req.holder,
          pattern,
          mode: req.mode,
          taskId: null,
          expiresAt,
          createdAt: req.now,
        });
      }
      updateExplicit.run(req.mode, expiresAt, own.id);
      return { ...rowToReservation(own), mode: req.mode, expiresAt };
    });
    return { ok: true as const, reservations };
  });

  const releaseFiles = db.transaction((holder: string, patterns: readonly string[] | undefined) => {
    if (patterns === undefined) {
      return { released: reservationsInOrder(deleteAllExplicit.all(holder) as Row[]), notHeld: [] };
    }
    const rows: Row[] = [];
    const notHeld: string[] = [];
    for (const pattern of unique(patterns)) {
      const deleted = deleteExplicit.all(holder, pattern) as Row[];
      if (deleted.length === 0) notHeld.push(pattern);
      rows.push(...deleted);
    }
    return { released: reservationsInOrder(rows), notHeld };
  });

  const tasks: TaskStore = {
    create: async (batch) => create.immediate(batch),
    get: async (id) => {
      const row = byId.get(id) as Row | undefined;
      return row ? rowToTask(row) : null;
    },
    list: async (filter: TaskFilter = {}) => {
      const { sql, values } = whereClause([
        ['run_id', filter.runId],
        ['id', filter.ids],
        ['state', filter.states],
        ['owner', filter.owner],
        ['assignee', filter.assignee],
        ['created_by', filter.createdBy],
      ]);
      return (db.prepare(`SELECT * FROM tasks ${sql} ORDER BY created_at, id`).all(...values) as Row[]).map(
        rowToTask,
      );
    },
    claim: async (req) => claim.immediate(req),
    renew: async (holder, ttlMs, now) => renew.immediate(holder, ttlMs, now),
    complete: async (taskId, holder, epoch, result, now) =>
      complete.immediate(taskId, holder, epoch, result, now),
    fail: async (taskId, holder, epoch, error, retry, now) =>
      fail.immediate(taskId, holder, epoch, error, retry, now),
    releaseHolder: async (holder, reason, now) => releaseHolder.immediate(holder, reason, now),
    releaseTask: async (taskId, reason, now) => releaseTask.immediate(taskId, reason, now),
    expire: async (now) => expire.immediate(now),
    nextExpiry: async () => (nextExpiry.get() as { next: number | null }).next,
    markMerged: async (taskIds, now) => markMerged.immediate(taskIds, now),
    assign: async (taskId, assignee, now) => assign.immediate(taskId, assignee, now),
  };

  const reservations: ReservationStore = {
    reserve: async (req) => reserveFiles.immediate(req),
    release: async (holder, patterns) => releaseFiles.immediate(holder, patterns),
    list: async ({ runId, holder, now }) => {
      const { sql, values } = whereClause([
        ['run_id', runId],
        ['holder', holder],
      ]);
      const live = sql ? `${sql} AND expires_at > ?` : 'WHERE expires_at > ?';
      return (
        db
          .prepare(`SELECT * FROM reservations ${live} ORDER BY created_at, rowid`)
          .all(...values, now) as Row[]
      ).map(rowToReservation);
    },
  };

  return { tasks, reservations };
}
