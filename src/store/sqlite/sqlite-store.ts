import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  TmuxClaudeError,
  notFound,
  type AuditEvent,
  type EventInput,
  type Instance,
  type InstanceState,
  type Message,
  type Run,
} from '../../core/index.js';
import type {
  EventLog,
  InstanceFilter,
  InstancePatch,
  InstanceStore,
  MessageFilter,
  MessageStore,
  MetaStore,
  RunStore,
  Store,
} from '../types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, goal TEXT NOT NULL, repo TEXT NOT NULL, target_branch TEXT NOT NULL,
  agent TEXT NOT NULL, agent_env TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, role TEXT NOT NULL, parent_id TEXT, name TEXT NOT NULL,
  agent TEXT NOT NULL, state TEXT NOT NULL, branch TEXT, worktree TEXT, cwd TEXT NOT NULL,
  tmux_session TEXT NOT NULL, pid INTEGER, token_hash TEXT NOT NULL, task TEXT, task_id TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, ended_at INTEGER, error TEXT,
  seq INTEGER NOT NULL, progress TEXT
);
CREATE INDEX IF NOT EXISTS instances_parent ON instances(parent_id);
CREATE INDEX IF NOT EXISTS instances_token ON instances(token_hash);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL,
  sender TEXT NOT NULL, recipient TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS messages_pending ON messages(recipient, state, seq);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
  instance_id TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_instance ON events(instance_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

type Row = Record<string, unknown>;

/** Columns added after a table was first shipped: added in place to stores created by older versions. */
const ADDED_COLUMNS: Array<[table: string, column: string, type: string]> = [
  ['instances', 'progress', 'TEXT'],
];

function migrate(db: Database.Database): void {
  for (const [table, column, type] of ADDED_COLUMNS) {
    const columns = db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
}

function rowToInstance(r: Row): Instance {
  return {
    id: r.id as string,
    runId: r.run_id as string,
    role: r.role as Instance['role'],
    parentId: (r.parent_id as string | null) ?? null,
    name: r.name as string,
    agent: r.agent as Instance['agent'],
    state: r.state as InstanceState,
    branch: (r.branch as string | null) ?? null,
    worktree: (r.worktree as string | null) ?? null,
    cwd: r.cwd as string,
    tmuxSession: r.tmux_session as string,
    pid: (r.pid as number | null) ?? null,
    tokenHash: r.token_hash as string,
    task: (r.task as string | null) ?? null,
    taskId: (r.task_id as string | null) ?? null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    endedAt: (r.ended_at as number | null) ?? null,
    error: (r.error as string | null) ?? null,
    progress: r.progress ? (JSON.parse(r.progress as string) as Instance['progress']) : null,
  };
}

function rowToMessage(r: Row): Message {
  return {
    id: r.id as string,
    runId: r.run_id as string,
    from: r.sender as string,
    to: r.recipient as string,
    body: r.body as string,
    state: r.state as Message['state'],
    attempts: r.attempts as number,
    createdAt: r.created_at as number,
    deliveredAt: (r.delivered_at as number | null) ?? null,
  };
}

function rowToRun(r: Row): Run {
  return {
    id: r.id as string,
    goal: r.goal as string,
    repo: r.repo as string,
    targetBranch: r.target_branch as string,
    agent: r.agent as Run['agent'],
    agentEnv: JSON.parse(r.agent_env as string) as Record<string, string>,
    createdAt: r.created_at as number,
  };
}

function isUniqueViolation(err: unknown): boolean {
  return (
    (err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

function placeholders(n: number): string {
  return new Array(n).fill('?').join(',');
}

/** A WHERE clause from optional column filters: `=` for a value, `IN` for a list (an empty list matches nothing). */
function whereClause(filters: Array<[column: string, value: string | readonly string[] | undefined]>): {
  sql: string;
  values: unknown[];
} {
  const parts: string[] = [];
  const values: unknown[] = [];
  for (const [column, value] of filters) {
    if (value === undefined) continue;
    if (typeof value === 'string') {
      parts.push(`${column} = ?`);
      values.push(value);
    } else {
      parts.push(value.length ? `${column} IN (${placeholders(value.length)})` : '0');
      values.push(...value);
    }
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', values };
}

/**
 * The embedded store: one SQLite file in WAL mode. better-sqlite3 is synchronous, so every method is one
 * short statement or one short IMMEDIATE transaction; the async signatures match the other backends.
 */
export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  readonly instances: InstanceStore;
  readonly runs: RunStore;
  readonly messages: MessageStore;
  readonly events: EventLog;
  readonly meta: MetaStore;
  private readonly db: Database.Database;

  constructor(file: string) {
    try {
      if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
      this.db = new Database(file, { timeout: 5000 });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
      migrate(this.db);
    } catch (err) {
      throw new TmuxClaudeError('UNAVAILABLE', `cannot open the SQLite store at ${file}`, {
        cause: err,
        hint: 'check that the home directory is writable, or set TMUX_CLAUDE_HOME',
      });
    }
    this.instances = this.makeInstances();
    this.runs = this.makeRuns();
    this.messages = this.makeMessages();
    this.events = this.makeEvents();
    this.meta = this.makeMeta();
  }

  async ping(): Promise<void> {
    try {
      this.db.prepare('SELECT 1').get();
    } catch (err) {
      throw new TmuxClaudeError('UNAVAILABLE', 'the SQLite store is not open', { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private makeInstances(): InstanceStore {
    const db = this.db;
    const insert = db.prepare(`INSERT INTO instances (id, run_id, role, parent_id, name, agent, state, branch,
      worktree, cwd, tmux_session, pid, token_hash, task, task_id, created_at, updated_at, ended_at, error, seq, progress)
      VALUES (@id, @runId, @role, @parentId, @name, @agent, @state, @branch, @worktree, @cwd, @tmuxSession, @pid,
      @tokenHash, @task, @taskId, @createdAt, @updatedAt, @endedAt, @error,
      (SELECT COALESCE(MAX(seq), 0) + 1 FROM instances), @progressJson)`);
    const byId = db.prepare('SELECT * FROM instances WHERE id = ?');
    const byToken = db.prepare('SELECT * FROM instances WHERE token_hash = ?');
    const columns: Record<keyof InstancePatch, string> = {
      state: 'state',
      pid: 'pid',
      error: 'error',
      endedAt: 'ended_at',
      tokenHash: 'token_hash',
      branch: 'branch',
      worktree: 'worktree',
      progress: 'progress',
    };
    const update = db.transaction(
      (id: string, patch: InstancePatch, expect?: readonly InstanceState[]): Instance | null => {
        const row = byId.get(id) as Row | undefined;
        if (!row) throw notFound('instance', id);
        if (expect && !expect.includes(row.state as InstanceState)) return null;
        const sets: string[] = ['updated_at = ?'];
        const values: unknown[] = [Date.now()];
        for (const [key, col] of Object.entries(columns) as [keyof InstancePatch, string][]) {
          if (key in patch) {
            sets.push(`${col} = ?`);
            const value = patch[key] ?? null;
            values.push(key === 'progress' && value !== null ? JSON.stringify(value) : value);
          }
        }
        db.prepare(`UPDATE instances SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
        return rowToInstance(byId.get(id) as Row);
      },
    );
    return {
      create: async (inst) => {
        try {
          insert.run({ ...inst, progressJson: inst.progress ? JSON.stringify(inst.progress) : null });
        } catch (err) {
          if (isUniqueViolation(err)) throw new TmuxClaudeError('CONFLICT', `instance ${inst.id} exists`);
          throw err;
        }
      },
      get: async (id) => {
        const row = byId.get(id) as Row | undefined;
        return row ? rowToInstance(row) : null;
      },
      findByTokenHash: async (hash) => {
        const row = byToken.get(hash) as Row | undefined;
        return row ? rowToInstance(row) : null;
      },
      list: async (filter: InstanceFilter = {}) => {
        const { sql, values } = whereClause([
          ['run_id', filter.runId],
          ['parent_id', filter.parentId],
          ['state', filter.states],
        ]);
        return (db.prepare(`SELECT * FROM instances ${sql} ORDER BY seq`).all(...values) as Row[]).map(
          rowToInstance,
        );
      },
      update: async (id, patch, expect) => update.immediate(id, patch, expect),
    };
  }

  private makeRuns(): RunStore {
    const insert = this.db
      .prepare(`INSERT INTO runs (id, goal, repo, target_branch, agent, agent_env, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    const byId = this.db.prepare('SELECT * FROM runs WHERE id = ?');
    const all = this.db.prepare('SELECT * FROM runs ORDER BY created_at, rowid');
    return {
      create: async (run) => {
        try {
          insert.run(
            run.id,
            run.goal,
            run.repo,
            run.targetBranch,
            run.agent,
            JSON.stringify(run.agentEnv),
            run.createdAt,
          );
        } catch (err) {
          if (isUniqueViolation(err)) throw new TmuxClaudeError('CONFLICT', `run ${run.id} exists`);
          throw err;
        }
      },
      get: async (id) => {
        const row = byId.get(id) as Row | undefined;
        return row ? rowToRun(row) : null;
      },
      list: async () => (all.all() as Row[]).map(rowToRun),
    };
  }

  private makeMessages(): MessageStore {
    const db = this.db;
    const insert = db.prepare(`INSERT INTO messages (id, run_id, sender, recipient, body, state, created_at)
      VALUES (?, ?, ?, ?, ?, 'pending', ?)`);
    const byId = db.prepare('SELECT * FROM messages WHERE id = ?');
    const pending = db.prepare(
      `SELECT * FROM messages WHERE recipient = ? AND state = 'pending' ORDER BY seq`,
    );
    const recipients = db.prepare(`SELECT DISTINCT recipient FROM messages WHERE state = 'pending'`);
    const filterSql = (filter: MessageFilter) =>
      whereClause([
        ['run_id', filter.runId],
        ['recipient', filter.to],
        ['sender', filter.from],
        ['state', filter.states],
      ]);
    const inIds = (sql: string, ids: readonly string[], ...pre: unknown[]): void => {
      if (ids.length === 0) return;
      db.prepare(`${sql} AND id IN (${placeholders(ids.length)})`).run(...pre, ...ids);
    };
    return {
      enqueue: async (m) => {
        try {
          insert.run(m.id, m.runId, m.from, m.to, m.body, m.createdAt);
        } catch (err) {
          if (isUniqueViolation(err)) throw new TmuxClaudeError('CONFLICT', `message ${m.id} exists`);
          throw err;
        }
        return rowToMessage(byId.get(m.id) as Row);
      },
      get: async (id) => {
        const row = byId.get(id) as Row | undefined;
        return row ? rowToMessage(row) : null;
      },
      pendingFor: async (to) => (pending.all(to) as Row[]).map(rowToMessage),
      recipientsWithPending: async () => (recipients.all() as Row[]).map((r) => r.recipient as string),
      recordAttempt: async (ids) => {
        inIds('UPDATE messages SET attempts = attempts + 1 WHERE 1 = 1', ids);
      },
      markDelivered: async (ids, at) => {
        inIds(`UPDATE messages SET state = 'delivered', delivered_at = ? WHERE state = 'pending'`, ids, at);
      },
      markFailed: async (ids) => {
        inIds(`UPDATE messages SET state = 'failed' WHERE state = 'pending'`, ids);
      },
      list: async (filter = {}, limit = 1000) => {
        const { sql, values } = filterSql(filter);
        const rows = db.prepare(`SELECT * FROM messages ${sql} ORDER BY seq LIMIT ?`).all(...values, limit);
        return (rows as Row[]).map(rowToMessage);
      },
      count: async (filter = {}) => {
        const { sql, values } = filterSql(filter);
        const row = db.prepare(`SELECT COUNT(*) AS n FROM messages ${sql}`).get(...values) as { n: number };
        return row.n;
      },
    };
  }

  private makeEvents(): EventLog {
    const insert = this.db.prepare(
      'INSERT INTO events (ts, kind, actor, instance_id, data) VALUES (?, ?, ?, ?, ?)',
    );
    const toEvent = (r: Row): AuditEvent =>
      ({
        seq: r.seq as number,
        ts: r.ts as number,
        kind: r.kind,
        actor: r.actor,
        instanceId: (r.instance_id as string | null) ?? null,
        data: JSON.parse(r.data as string) as unknown,
      }) as AuditEvent;
    return {
      append: async (e: EventInput) => {
        const ts = Date.now();
        const info = insert.run(ts, e.kind, e.actor, e.instanceId, JSON.stringify(e.data));
        return { ...e, seq: Number(info.lastInsertRowid), ts } as AuditEvent;
      },
      lastSeq: async () =>
        (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM events').get() as { s: number }).s,
      list: async (opts = {}) => {
        const where = ['seq > ?'];
        const values: unknown[] = [opts.afterSeq ?? 0];
        if (opts.instanceId !== undefined) {
          where.push('instance_id = ?');
          values.push(opts.instanceId);
        }
        const rows = this.db
          .prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`)
          .all(...values, opts.limit ?? 10_000) as Row[];
        return rows.map(toEvent);
      },
    };
  }

  private makeMeta(): MetaStore {
    const get = this.db.prepare('SELECT value FROM meta WHERE key = ?');
    const set = this.db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    return {
      get: async (key) => (get.get(key) as { value: string } | undefined)?.value ?? null,
      set: async (key, value) => {
        set.run(key, value);
      },
    };
  }
}
