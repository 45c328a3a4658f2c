import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  TmuxClaudeError,
  notFound,
  parseJsonObject,
  type AuditEvent,
  type EventInput,
  type Instance,
  type InstanceState,
  type Delivery,
  type DeliveryState,
  type Envelope,
  type Message,
  type Run,
} from '../../core/index.js';
import type {
  AckOutcome,
  DeliveryFilter,
  EventLog,
  InstanceFilter,
  InstancePatch,
  InstanceStore,
  KnowledgeStore,
  MessageStore,
  MetaStore,
  HostStore,
  NewMessage,
  ReservationStore,
  RunStore,
  Store,
  TaskStore,
} from '../types.js';
import { GENESIS_HASH, eventHash, verifyChain, type ChainHead, type StoredEvent } from '../event-chain.js';
import { makeKnowledgeStore } from './sqlite-knowledge.js';
import { makeTaskStores } from './sqlite-tasks.js';
import { makeSqliteHostStore } from './sqlite-hosts.js';

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
  seq INTEGER NOT NULL, progress TEXT, host TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS hosts (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, incarnation TEXT NOT NULL, pid INTEGER NOT NULL, url TEXT NOT NULL,
  capacity INTEGER NOT NULL, started_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, lost_at INTEGER,
  lost_by TEXT
);
CREATE INDEX IF NOT EXISTS instances_parent ON instances(parent_id);
CREATE INDEX IF NOT EXISTS instances_token ON instances(token_hash);
CREATE TABLE IF NOT EXISTS bus_messages (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, sender TEXT NOT NULL, address TEXT NOT NULL, subject TEXT,
  body TEXT NOT NULL, requires_ack INTEGER NOT NULL, reply_to TEXT, client_id TEXT, topic TEXT,
  topic_seq INTEGER, created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS bus_messages_client ON bus_messages(sender, client_id)
  WHERE client_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS bus_messages_topic ON bus_messages(run_id, topic, topic_seq) WHERE topic IS NOT NULL;
CREATE TABLE IF NOT EXISTS deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, recipient TEXT NOT NULL,
  run_id TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL, delivered_at INTEGER, acked_at INTEGER,
  error TEXT, UNIQUE (message_id, recipient)
);
CREATE INDEX IF NOT EXISTS deliveries_inbox ON deliveries(recipient, state, seq);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS topics (
  run_id TEXT NOT NULL, topic TEXT NOT NULL, head INTEGER NOT NULL, PRIMARY KEY (run_id, topic)
);
CREATE TABLE IF NOT EXISTS subscriptions (
  run_id TEXT NOT NULL, topic TEXT NOT NULL, instance_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, topic, instance_id)
);
-- The audit trail: append-only and hash-chained (see store/event-chain.ts); meta 'events.head' holds the newest
-- event's seq and hash, written with every append.
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
  instance_id TEXT, data TEXT NOT NULL, prev_hash TEXT, hash TEXT
);
CREATE INDEX IF NOT EXISTS events_instance ON events(instance_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,
  depends_on TEXT NOT NULL, files TEXT NOT NULL, priority INTEGER NOT NULL, state TEXT NOT NULL,
  created_by TEXT NOT NULL, assignee TEXT, owner TEXT, epoch INTEGER NOT NULL, lease_expires_at INTEGER,
  attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL, result TEXT, error TEXT, branch TEXT,
  merged_at INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completed_at INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_run ON tasks(run_id, created_at, id);
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks(run_id, priority DESC, created_at, id) WHERE state = 'ready';
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(owner, state);
CREATE INDEX IF NOT EXISTS tasks_lease ON tasks(lease_expires_at) WHERE state = 'claimed';
-- tasks.depends_on keeps the creator's list; task_deps finds the tasks waiting on one that completes.
CREATE TABLE IF NOT EXISTS task_deps (
  task_id TEXT NOT NULL, depends_on TEXT NOT NULL, PRIMARY KEY (task_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_deps_dependents ON task_deps(depends_on, task_id);
CREATE TABLE IF NOT EXISTS reservations (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, holder TEXT NOT NULL, pattern TEXT NOT NULL, mode TEXT NOT NULL,
  task_id TEXT, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_run ON reservations(run_id, expires_at);
CREATE INDEX IF NOT EXISTS reservations_holder ON reservations(holder, expires_at);
CREATE INDEX IF NOT EXISTS reservations_expiry ON reservations(expires_at);
CREATE INDEX IF NOT EXISTS reservations_task ON reservations(task_id) WHERE task_id IS NOT NULL;
-- One explicit reservation per holder and pattern (reserving it again renews it); task ones go with their task.
CREATE UNIQUE INDEX IF NOT EXISTS reservations_explicit ON reservations(holder, pattern) WHERE task_id IS NULL;
-- One row per version of a key. Append-only but for latest, which marks the newest version of each key so
-- that latest-only reads need no MAX per key. seq is the full-text rowid: an INTEGER PRIMARY KEY, which VACUUM
-- keeps (an implicit rowid may change).
CREATE TABLE IF NOT EXISTS knowledge (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL, key TEXT NOT NULL,
  value TEXT NOT NULL, tags TEXT NOT NULL, paths TEXT NOT NULL, recorded_by TEXT NOT NULL, task_id TEXT,
  commit_sha TEXT, branch TEXT, version INTEGER NOT NULL, latest INTEGER NOT NULL, created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS knowledge_version ON knowledge(run_id, key, version);
CREATE INDEX IF NOT EXISTS knowledge_run ON knowledge(run_id, created_at);
CREATE INDEX IF NOT EXISTS knowledge_latest ON knowledge(run_id, created_at) WHERE latest = 1;
-- Full text over the key, the value and the tags and paths JSON, stored once (external content).
-- Tokenizer: unicode61 splits at every character that is not a letter or digit, so src/auth.ts,
-- module.auth.session and auth_token all contain the token "auth" (a search for "auth" finds each),
-- and an identifier searched whole, "auth_token", is the phrase of its tokens, which still finds it. porter
-- stems English words so that "retry" finds "retries"; remove_diacritics 2 lets "cafe" find "café".
CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts USING fts5(key, value, tags, paths, content='knowledge',
  content_rowid='seq', tokenize='porter unicode61 remove_diacritics 2');
-- Indexed by the inserting statement, so in its transaction. The indexed columns are never updated and rows
-- never deleted, so inserts are the only change to mirror.
CREATE TRIGGER IF NOT EXISTS knowledge_fts_insert AFTER INSERT ON knowledge BEGIN
  INSERT INTO knowledge_fts (rowid, key, value, tags, paths)
    VALUES (new.seq, new.key, new.value, new.tags, new.paths);
END;
`;

/** A result row as better-sqlite3 returns it. */
export type Row = Record<string, unknown>;
type PostResult = Awaited<ReturnType<MessageStore['post']>>;

/** Columns added after a table was first shipped: added in place to stores created by older versions. */
const ADDED_COLUMNS: Array<[table: string, column: string, type: string]> = [
  ['instances', 'progress', 'TEXT'],
  ['instances', 'host', "TEXT NOT NULL DEFAULT ''"],
  ['events', 'prev_hash', 'TEXT'],
  ['events', 'hash', 'TEXT'],
];

/** The meta key of the event chain's head record: JSON {seq, hash} of the newest event. */
const EVENTS_HEAD_KEY = 'events.head';

/** The event chain's head record in meta (statements prepared once). */
function eventsHead(db: Database.Database): { read(): ChainHead | null; write(head: ChainHead): void } {
  const get = db.prepare('SELECT value FROM meta WHERE key = ?');
  const set = db.prepare(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  );
  return {
    read: () => {
      const row = get.get(EVENTS_HEAD_KEY) as { value: string } | undefined;
      const head = row ? parseJsonObject(row.value) : undefined;
      return head && typeof head.seq === 'number' && typeof head.hash === 'string'
        ? { seq: head.seq, hash: head.hash }
        : null;
    },
    write: (head) => {
      set.run(EVENTS_HEAD_KEY, JSON.stringify(head));
    },
  };
}

const EVENT_COLUMNS = 'seq, ts, kind, actor, instance_id, data, prev_hash, hash';

function rowToStoredEvent(r: Row): StoredEvent {
  return {
    seq: r.seq as number,
    ts: r.ts as number,
    kind: r.kind as string,
    actor: r.actor as string,
    instanceId: (r.instance_id as string | null) ?? null,
    data: r.data as string,
    prevHash: (r.prev_hash as string | null) ?? null,
    hash: (r.hash as string | null) ?? null,
  };
}

/**
 * Chains the events of a store from before the audit trail was hash-chained, once: when there is no head
 * record and no event has a hash, every event gets its hash in seq order and the head record is written, in
 * one transaction. A store that has hashes but lost its head record is left alone, for `verify` to report.
 */
function chainLegacyEvents(db: Database.Database): void {
  const page = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT 1000`);
  const setHash = db.prepare('UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?');
  const headRecord = eventsHead(db);
  db.transaction(() => {
    if (headRecord.read() !== null) return;
    if (db.prepare('SELECT 1 FROM events WHERE hash IS NOT NULL LIMIT 1').get()) return;
    let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
    for (;;) {
      const rows = (page.all(head.seq) as Row[]).map(rowToStoredEvent);
      for (const e of rows) {
        const hash = eventHash(head.hash, e);
        setHash.run(head.hash, hash, e.seq);
        head = { seq: e.seq, hash };
      }
      if (rows.length < 1000) break;
    }
    headRecord.write(head);
  }).immediate();
}

function migrate(db: Database.Database): void {
  for (const [table, column, type] of ADDED_COLUMNS) {
    const columns = db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
  // The first release kept one row per message with its state; carry those into messages + deliveries.
  const old = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'messages'`).get();
  if (old) {
    db.transaction(() => {
      db.exec(`INSERT OR IGNORE INTO bus_messages (id, run_id, sender, address, subject, body, requires_ack,
          created_at)
        SELECT id, run_id, sender, recipient, NULL, body, 0, created_at FROM messages ORDER BY seq;
        INSERT OR IGNORE INTO deliveries (message_id, recipient, run_id, state, attempts, next_attempt_at,
          created_at, delivered_at)
        SELECT id, recipient, run_id, CASE state WHEN 'failed' THEN 'dead' ELSE state END, attempts, 0,
          created_at, delivered_at FROM messages ORDER BY seq;
        DROP TABLE messages;`);
    })();
  }
  chainLegacyEvents(db);
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
    host: r.host as string,
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
    to: r.address as string,
    subject: (r.subject as string | null) ?? null,
    body: r.body as string,
    requiresAck: r.requires_ack === 1,
    replyTo: (r.reply_to as string | null) ?? null,
    clientId: (r.client_id as string | null) ?? null,
    topic: (r.topic as string | null) ?? null,
    topicSeq: (r.topic_seq as number | null) ?? null,
    createdAt: r.created_at as number,
  };
}

/** A deliveries row whose columns were selected with a `d_` prefix (see ENVELOPE_SELECT). */
function rowToDelivery(r: Row, prefix = ''): Delivery {
  return {
    messageId: r[`${prefix}message_id`] as string,
    recipient: r[`${prefix}recipient`] as string,
    runId: r[`${prefix}run_id`] as string,
    seq: r[`${prefix}seq`] as number,
    state: r[`${prefix}state`] as DeliveryState,
    attempts: r[`${prefix}attempts`] as number,
    nextAttemptAt: r[`${prefix}next_attempt_at`] as number,
    createdAt: r[`${prefix}created_at`] as number,
    deliveredAt: (r[`${prefix}delivered_at`] as number | null) ?? null,
    ackedAt: (r[`${prefix}acked_at`] as number | null) ?? null,
    error: (r[`${prefix}error`] as string | null) ?? null,
  };
}

const DELIVERY_COLUMNS = [
  'message_id',
  'recipient',
  'run_id',
  'seq',
  'state',
  'attempts',
  'next_attempt_at',
  'created_at',
  'delivered_at',
  'acked_at',
  'error',
];
/** Deliveries joined with their messages; delivery columns carry a `d_` prefix. */
const ENVELOPE_SELECT = `SELECT m.*, ${DELIVERY_COLUMNS.map((c) => `d.${c} AS d_${c}`).join(', ')}
  FROM deliveries d JOIN bus_messages m ON m.id = d.message_id`;

function rowToEnvelope(r: Row): Envelope {
  return { message: rowToMessage(r), delivery: rowToDelivery(r, 'd_') };
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

/** A primary-key or unique-index violation (an id that exists). */
export function isUniqueViolation(err: unknown): boolean {
  return (
    (err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

/** `?,?,…` for an IN list of n values. */
/**
 * Prepared statements by SQL text, for queries built at run time (filters, IN lists): preparing one costs more
 * than running it, and the same few shapes recur on every delivery. Bounded: the cache starts over when full.
 */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = cache.get(sql);
    if (!statement) {
      if (cache.size >= 500) cache.clear();
      statement = db.prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  };
}

export function placeholders(n: number): string {
  return new Array(n).fill('?').join(',');
}

/** A WHERE clause from optional column filters: `=` for a value, `IN` for a list (an empty list matches nothing). */
export function whereClause(
  filters: Array<[column: string, value: string | number | readonly string[] | undefined]>,
): {
  sql: string;
  values: unknown[];
} {
  const parts: string[] = [];
  const values: unknown[] = [];
  for (const [column, value] of filters) {
    if (value === undefined) continue;
    if (typeof value === 'string' || typeof value === 'number') {
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
  readonly tasks: TaskStore;
  readonly reservations: ReservationStore;
  readonly knowledge: KnowledgeStore;
  readonly events: EventLog;
  readonly meta: MetaStore;
  readonly hosts: HostStore;
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
    const taskStores = makeTaskStores(this.db);
    this.tasks = taskStores.tasks;
    this.reservations = taskStores.reservations;
    this.knowledge = makeKnowledgeStore(this.db);
    this.events = this.makeEvents();
    this.meta = this.makeMeta();
    this.hosts = makeSqliteHostStore(this.db);
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
    const prepared = statementCache(db);
    const insert = db.prepare(`INSERT INTO instances (id, run_id, role, parent_id, name, agent, state, branch,
      worktree, cwd, tmux_session, pid, token_hash, task, task_id, created_at, updated_at, ended_at, error, seq, progress,
      host)
      VALUES (@id, @runId, @role, @parentId, @name, @agent, @state, @branch, @worktree, @cwd, @tmuxSession, @pid,
      @tokenHash, @task, @taskId, @createdAt, @updatedAt, @endedAt, @error,
      (SELECT COALESCE(MAX(seq), 0) + 1 FROM instances), @progressJson, @host)`);
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
      host: 'host',
      cwd: 'cwd',
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
        prepared(`UPDATE instances SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
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
          ['host', filter.host],
        ]);
        return (prepared(`SELECT * FROM instances ${sql} ORDER BY seq`).all(...values) as Row[]).map(
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
    const prepared = statementCache(db);
    const insertMessage = db.prepare(`INSERT INTO bus_messages (id, run_id, sender, address, subject, body,
      requires_ack, reply_to, client_id, topic, topic_seq, created_at)
      VALUES (@id, @runId, @from, @to, @subject, @body, @requiresAck, @replyTo, @clientId, @topic, @topicSeq,
        @createdAt)`);
    const insertDelivery = db.prepare(`INSERT INTO deliveries (message_id, recipient, run_id, state,
      next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)`);
    const byId = db.prepare('SELECT * FROM bus_messages WHERE id = ?');
    const byClientId = db.prepare('SELECT * FROM bus_messages WHERE sender = ? AND client_id = ?');
    const deliveriesOf = db.prepare('SELECT * FROM deliveries WHERE message_id = ? ORDER BY seq');
    const bumpTopic = db.prepare(`INSERT INTO topics (run_id, topic, head) VALUES (?, ?, 1)
      ON CONFLICT(run_id, topic) DO UPDATE SET head = head + 1 RETURNING head`);
    const topicHead = db.prepare('SELECT head FROM topics WHERE run_id = ? AND topic = ?');
    const due = db.prepare(
      `SELECT DISTINCT recipient FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?`,
    );
    const filterSql = (filter: DeliveryFilter) => {
      const { sql, values } = whereClause([
        ['d.run_id', filter.runId],
        ['d.recipient', filter.recipient],
        ['m.sender', filter.from],
        ['d.state', filter.states],
      ]);
      if (filter.afterSeq === undefined) return { sql, values };
      return { sql: `${sql ? `${sql} AND` : 'WHERE'} d.seq > ?`, values: [...values, filter.afterSeq] };
    };
    /** Rows of `recipient` among `ids` (chunked: SQLite caps bound parameters). */
    const envelopesOf = (recipient: string, ids: readonly string[]): Envelope[] => {
      const out: Envelope[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const rows = prepared(
          `${ENVELOPE_SELECT} WHERE d.recipient = ? AND d.message_id IN (${placeholders(chunk.length)})
             ORDER BY d.seq`,
        ).all(recipient, ...chunk) as Row[];
        out.push(...rows.map(rowToEnvelope));
      }
      return out;
    };
    const setState = db.prepare(`UPDATE deliveries SET state = @state, delivered_at = @deliveredAt,
      acked_at = @ackedAt, attempts = @attempts, next_attempt_at = @nextAttemptAt, error = @error
      WHERE message_id = @messageId AND recipient = @recipient`);
    const write = (d: Delivery): void => {
      setState.run(d);
    };

    const findByClientId = (from: string, clientId: string) => {
      const row = byClientId.get(from, clientId) as Row | undefined;
      if (!row) return null;
      const message = rowToMessage(row);
      return { message, deliveries: (deliveriesOf.all(message.id) as Row[]).map((r) => rowToDelivery(r)) };
    };
    const post = db.transaction((m: NewMessage, recipients: readonly string[]): PostResult => {
      const existing = m.clientId === null ? null : findByClientId(m.from, m.clientId);
      if (existing) return { ...existing, duplicate: true };
      const topicSeq =
        m.topic === null ? null : ((bumpTopic.get(m.runId, m.topic) as { head: number }).head ?? null);
      try {
        insertMessage.run({ ...m, requiresAck: m.requiresAck ? 1 : 0, topicSeq });
      } catch (err) {
        if (isUniqueViolation(err)) throw new TmuxClaudeError('CONFLICT', `message ${m.id} exists`);
        throw err;
      }
      for (const r of new Set(recipients)) insertDelivery.run(m.id, r, m.runId, m.createdAt, m.createdAt);
      const deliveries = (deliveriesOf.all(m.id) as Row[]).map((r) => rowToDelivery(r));
      return { message: { ...m, topicSeq }, deliveries, duplicate: false };
    });
    const ack = db.transaction((recipient: string, ids: readonly string[], at: number): AckOutcome => {
      const unique = [...new Set(ids)];
      const found = new Map(envelopesOf(recipient, unique).map((e) => [e.message.id, e.delivery]));
      const unknown = unique.filter((id) => {
        const d = found.get(id);
        return !d || d.state === 'dead';
      });
      if (unknown.length > 0) return { acked: [], alreadyAcked: [], unknown };
      const acked: string[] = [];
      const alreadyAcked: string[] = [];
      for (const id of unique) {
        const d = found.get(id)!;
        if (d.state === 'acked') {
          alreadyAcked.push(id);
          continue;
        }
        write({ ...d, state: 'acked', ackedAt: at, deliveredAt: d.deliveredAt ?? at });
        acked.push(id);
      }
      return { acked, alreadyAcked, unknown };
    });
    const transitionAll = db.transaction(
      (
        recipient: string,
        ids: readonly string[],
        from: readonly DeliveryState[],
        change: (d: Delivery) => Delivery,
      ): Envelope[] => {
        const moved: Envelope[] = [];
        for (const e of envelopesOf(recipient, ids)) {
          if (!from.includes(e.delivery.state)) continue;
          const delivery = change(e.delivery);
          write(delivery);
          moved.push({ message: e.message, delivery });
        }
        return moved;
      },
    );
    const requeue = db.transaction(
      (
        recipient: string,
        to: string | undefined,
        everyUnacked: boolean,
        except: readonly string[],
      ): string[] => {
        const rows = prepared(
          `SELECT d.message_id FROM deliveries d JOIN bus_messages m ON m.id = d.message_id
             WHERE d.recipient = ? AND (d.state = 'pending' OR (d.state = 'delivered' AND (m.requires_ack = 1 OR ?)))
             ORDER BY d.seq`,
        ).all(recipient, everyUnacked ? 1 : 0) as Array<{ message_id: string }>;
        const skip = new Set(except);
        const ids = rows.map((r) => r.message_id).filter((id) => !skip.has(id));
        if (ids.length === 0) return [];
        const moved: string[] = [];
        // A successor that already holds a copy keeps its own; the rest move over.
        const update = prepared(`UPDATE OR IGNORE deliveries SET recipient = ?, state = 'pending',
          next_attempt_at = 0, delivered_at = NULL WHERE message_id = ? AND recipient = ?`);
        for (const id of ids) {
          if (update.run(to ?? recipient, id, recipient).changes > 0) moved.push(id);
        }
        return moved;
      },
    );

    return {
      post: async (m, recipients) => post(m, recipients),
      findByClientId: async (from, clientId) => findByClientId(from, clientId),
      deliveriesOf: async (id) => (deliveriesOf.all(id) as Row[]).map((r) => rowToDelivery(r)),
      get: async (id) => {
        const row = byId.get(id) as Row | undefined;
        return row ? rowToMessage(row) : null;
      },
      inbox: async (recipient, states, limit = 1000) => {
        const { sql, values } = filterSql({ recipient, states });
        const rows = prepared(`${ENVELOPE_SELECT} ${sql} ORDER BY d.seq LIMIT ?`).all(...values, limit);
        return (rows as Row[]).map(rowToEnvelope);
      },
      dueRecipients: async (now) => (due.all(now) as Row[]).map((r) => r.recipient as string),
      pendingCounts: async (recipients) => {
        const { sql, values } = whereClause([
          ['state', ['pending']],
          ['recipient', recipients],
        ]);
        const rows = prepared(
          `SELECT recipient, COUNT(*) AS n FROM deliveries ${sql} GROUP BY recipient`,
        ).all(...values) as Array<{ recipient: string; n: number }>;
        return new Map(rows.map((r) => [r.recipient, r.n]));
      },
      markDelivered: async (recipient, ids, at) =>
        transitionAll(recipient, ids, ['pending'], (d) => ({
          ...d,
          state: 'delivered',
          deliveredAt: at,
        })).map((e) => e.message.id),
      ack: async (recipient, ids, at) => ack(recipient, ids, at),
      recordFailedAttempt: async (recipient, ids, nextAttemptAt, error) =>
        transitionAll(recipient, ids, ['pending'], (d) => ({
          ...d,
          attempts: d.attempts + 1,
          nextAttemptAt,
          error,
        })).map((e) => e.delivery),
      markDead: async (recipient, ids, _at, error) =>
        transitionAll(recipient, ids, ['pending', 'delivered'], (d) => ({ ...d, state: 'dead', error })),
      requeueUnacked: async (recipient, to) => requeue(recipient, to, false, []),
      handOver: async (recipient, to, except = []) => requeue(recipient, to, true, except),
      list: async (filter = {}, limit = 1000) => {
        const { sql, values } = filterSql(filter);
        const rows = prepared(
          `SELECT * FROM (${ENVELOPE_SELECT} ${sql} ORDER BY d.seq DESC LIMIT ?) ORDER BY d_seq`,
        ).all(...values, limit);
        return (rows as Row[]).map(rowToEnvelope);
      },
      count: async (filter = {}) => {
        const { sql, values } = filterSql(filter);
        const row = prepared(
          `SELECT COUNT(*) AS n FROM deliveries d JOIN bus_messages m ON m.id = d.message_id ${sql}`,
        ).get(...values) as { n: number };
        return row.n;
      },
      subscribe: async (runId, topic, instanceId, at) => {
        db.prepare(
          'INSERT OR IGNORE INTO subscriptions (run_id, topic, instance_id, created_at) VALUES (?, ?, ?, ?)',
        ).run(runId, topic, instanceId, at);
      },
      subscribers: async (runId, topic) =>
        (
          prepared(
            'SELECT instance_id FROM subscriptions WHERE run_id = ? AND topic = ? ORDER BY created_at',
          ).all(runId, topic) as Array<{ instance_id: string }>
        ).map((r) => r.instance_id),
      topicHead: async (runId, topic) =>
        (topicHead.get(runId, topic) as { head: number } | undefined)?.head ?? 0,
      replay: async (runId, topic, afterSeq, limit) =>
        (
          prepared(
            `SELECT * FROM bus_messages WHERE run_id = ? AND topic = ? AND topic_seq > ?
               ORDER BY topic_seq LIMIT ?`,
          ).all(runId, topic, afterSeq, limit) as Row[]
        ).map(rowToMessage),
    };
  }

  private makeEvents(): EventLog {
    const db = this.db;
    const insert = db.prepare(
      'INSERT INTO events (ts, kind, actor, instance_id, data, prev_hash) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const setHash = db.prepare('UPDATE events SET hash = ? WHERE seq = ?');
    const newest = db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1');
    const page = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`);
    const headRecord = eventsHead(db);
    const toEvent = (r: Row): AuditEvent => {
      const e = rowToStoredEvent(r);
      // Only a row written outside tmux-claude lacks hashes; `verify` reports it.
      return {
        ...e,
        data: JSON.parse(e.data) as unknown,
        prevHash: e.prevHash ?? '',
        hash: e.hash ?? '',
      } as AuditEvent;
    };
    // The chain continues from the head record. Without one (removed by hand) it continues from the newest
    // event, and this append writes a new head record.
    const append = db.transaction((e: EventInput, ts: number): AuditEvent => {
      const prev = headRecord.read() ??
        (newest.get() as ChainHead | undefined) ?? { seq: 0, hash: GENESIS_HASH };
      const data = JSON.stringify(e.data);
      const seq = Number(insert.run(ts, e.kind, e.actor, e.instanceId, data, prev.hash).lastInsertRowid);
      const hash = eventHash(prev.hash, {
        seq,
        ts,
        kind: e.kind,
        actor: e.actor,
        instanceId: e.instanceId,
        data,
      });
      setHash.run(hash, seq);
      headRecord.write({ seq, hash });
      return { ...e, seq, ts, prevHash: prev.hash, hash };
    });
    // One snapshot per page, so the head record of the last page matches the events read with it.
    const readPage = db.transaction((afterSeq: number, limit: number) => ({
      events: (page.all(afterSeq, limit) as Row[]).map(rowToStoredEvent),
      head: headRecord.read(),
    }));
    return {
      append: async (e: EventInput) => append.immediate(e, Date.now()),
      lastSeq: async () =>
        (db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM events').get() as { s: number }).s,
      list: async (opts = {}) => {
        const where = ['seq > ?'];
        const values: unknown[] = [opts.afterSeq ?? 0];
        if (opts.instanceId !== undefined) {
          where.push('instance_id = ?');
          values.push(opts.instanceId);
        }
        if (opts.sinceTs !== undefined) {
          where.push('ts >= ?');
          values.push(opts.sinceTs);
        }
        const rows = db
          .prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`)
          .all(...values, opts.limit ?? 10_000) as Row[];
        return rows.map(toEvent);
      },
      verify: () => verifyChain((afterSeq, limit) => readPage(afterSeq, limit)),
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
