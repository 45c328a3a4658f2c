import type Database from 'better-sqlite3';
import { TmuxClaudeError, type Host } from '../../core/index.js';
import type { HostStore } from '../types.js';
import type { Row } from './sqlite-store.js';

function rowToHost(r: Row): Host {
  return {
    id: r.id as string,
    state: r.state as Host['state'],
    incarnation: r.incarnation as string,
    pid: r.pid as number,
    url: r.url as string,
    capacity: r.capacity as number,
    startedAt: r.started_at as number,
    lastSeen: r.last_seen as number,
    lostAt: (r.lost_at as number | null) ?? null,
    lostBy: (r.lost_by as string | null) ?? null,
  };
}

/** The host registry in the `hosts` table (on the embedded store, only ever this machine's supervisor). */
export function makeSqliteHostStore(db: Database.Database): HostStore {
  const byId = db.prepare('SELECT * FROM hosts WHERE id = ?');
  const all = db.prepare('SELECT * FROM hosts ORDER BY id');
  const upsert =
    db.prepare(`INSERT INTO hosts (id, state, incarnation, pid, url, capacity, started_at, last_seen)
    VALUES (@id, 'up', @incarnation, @pid, @url, @capacity, @startedAt, @at)
    ON CONFLICT(id) DO UPDATE SET state = 'up', incarnation = @incarnation, pid = @pid, url = @url,
      capacity = @capacity, started_at = @startedAt, last_seen = @at, lost_at = NULL, lost_by = NULL`);
  const beat = db.prepare(`UPDATE hosts SET last_seen = ? WHERE id = ? AND incarnation = ? AND state = 'up'`);
  const lose = db.prepare(
    `UPDATE hosts SET state = 'lost', lost_at = ?, lost_by = ? WHERE id = ? AND state = 'up' AND last_seen < ?`,
  );
  const down = db.prepare(
    `UPDATE hosts SET state = 'down' WHERE id = ? AND incarnation = ? AND state = 'up'`,
  );
  const get = (id: string): Host | null => {
    const row = byId.get(id) as Row | undefined;
    return row ? rowToHost(row) : null;
  };
  const register = db.transaction(
    (host: Parameters<HostStore['register']>[0], at: number, staleMs: number): Host => {
      const current = get(host.id);
      if (
        current?.state === 'up' &&
        current.incarnation !== host.incarnation &&
        current.lastSeen > at - staleMs
      ) {
        throw new TmuxClaudeError(
          'CONFLICT',
          `host id ${host.id} is in use by a live supervisor (pid ${current.pid}, ${current.url})`,
          { hint: 'give each supervisor sharing a store its own TMUX_CLAUDE_HOST' },
        );
      }
      upsert.run({ ...host, at });
      return get(host.id)!;
    },
  );
  return {
    register: async (host, at, staleMs) => register.immediate(host, at, staleMs),
    heartbeat: async (id, incarnation, at) => (beat.run(at, id, incarnation).changes === 1 ? get(id) : null),
    get: async (id) => get(id),
    list: async () => (all.all() as Row[]).map(rowToHost),
    markLost: async (id, silentSince, by, at) => lose.run(at, by, id, silentSince).changes === 1,
    markDown: async (id, incarnation) => {
      down.run(id, incarnation);
    },
  };
}
