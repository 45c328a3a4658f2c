/**
 * The in-run baselines of the message-bus figure: the storage floor (a bare better-sqlite3 insert loop on a
 * file configured like the store) and a bare HTTP long-poll hand-off (the network shape of send_message →
 * wait_for_messages without MCP, authentication, the bus or the store).
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sleep } from './figures/context.js';

export interface InsertLoop {
  /** Per-insert latency (one row, one transaction, commit included), in ms. */
  latenciesMs: number[];
  rowsPerSecond: number;
  rows: number;
}

/**
 * Runs `fn` on a better-sqlite3 connection to a fresh file configured like the store (WAL, synchronous =
 * NORMAL), then closes it and removes the file.
 */
export function withBareSqlite<T>(fn: (db: Database.Database) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'tc-bench-sqlite-'));
  const db = new Database(join(dir, 'bare.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return fn(db);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Inserts one message-sized row per IMMEDIATE transaction into a fresh SQLite file for `durationMs`, with the
 * store's settings (WAL, synchronous = NORMAL), after a short warm-up. Synchronous: this process does
 * nothing else meanwhile.
 */
export function bareSqliteInserts(durationMs: number, bodyBytes: number): InsertLoop {
  return withBareSqlite((db) => {
    db.exec(`CREATE TABLE rows (id TEXT PRIMARY KEY, sender TEXT NOT NULL, body TEXT NOT NULL,
      created_at INTEGER NOT NULL)`);
    const insert = db.prepare('INSERT INTO rows (id, sender, body, created_at) VALUES (?, ?, ?, ?)');
    const one = db.transaction((id: string, body: string) => {
      insert.run(id, 'bench', body, Date.now());
    });
    const body = 'x'.repeat(bodyBytes);
    for (let i = 0; i < 500; i++) one.immediate(randomUUID(), body);
    const latenciesMs: number[] = [];
    const t0 = performance.now();
    const end = t0 + durationMs;
    let now = t0;
    while (now < end) {
      const id = randomUUID();
      const start = performance.now();
      one.immediate(id, body);
      now = performance.now();
      latenciesMs.push(now - start);
    }
    return {
      latenciesMs,
      rows: latenciesMs.length,
      rowsPerSecond: latenciesMs.length / ((now - t0) / 1000),
    };
  });
}

/** A GET parks until the next POST, which answers every parked GET with its body. */
const LONG_POLL_SERVER = [
  `const http=require('http');let parked=[];`,
  `const s=http.createServer((q,r)=>{if(q.method==='GET'){parked.push(r);return;}`,
  `let b='';q.on('data',(c)=>b+=c);q.on('end',()=>{const w=parked;parked=[];for(const p of w)p.end(b);r.end('ok');});});`,
  `s.keepAliveTimeout=60000;`,
  `s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`,
].join('');

export interface HandOff {
  /** From the start of the POST until the parked GET returned with its body, in ms. */
  visibleMs: number[];
  /** The POST's round trip, in ms. */
  postMs: number[];
}

/**
 * `n` hand-offs through a bare `node -e` HTTP server in its own process, measured exactly like the bus
 * figure: the receiver's GET is parked `headStartMs` before the sender's POST starts.
 */
export async function httpHandOff(n: number, headStartMs: number): Promise<HandOff> {
  const child = spawn(process.execPath, ['-e', LONG_POLL_SERVER], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', (l) => resolve(Number(l)));
      child.once('exit', (code) => reject(new Error(`the long-poll server exited with ${code}`)));
    });
    const url = `http://127.0.0.1:${port}/`;
    const visibleMs: number[] = [];
    const postMs: number[] = [];
    for (let i = -10; i < n; i++) {
      const body = `hand-off ${i}`;
      const got = fetch(url).then(async (r) => ({ text: await r.text(), at: performance.now() }));
      await sleep(headStartMs);
      const t0 = performance.now();
      await (await fetch(url, { method: 'POST', body })).text();
      const posted = performance.now();
      const { text, at } = await got;
      if (text !== body) throw new Error(`long-poll baseline: expected "${body}", got "${text}"`);
      // The first ten are warm-up (connections, JIT).
      if (i < 0) continue;
      postMs.push(posted - t0);
      visibleMs.push(at - t0);
    }
    return { visibleMs, postMs };
  } finally {
    child.kill('SIGKILL');
  }
}
