/**
 * The in-run baselines: the same machinery tmux-claude uses — the project's tmux driver on a scratch private
 * socket, a Node process in a pane, HTTP to a local server — minus tmux-claude (no supervisor, store, MCP,
 * hooks or agent runtime).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { TmuxDriver } from '../tmux/index.js';
import type { Cleanup } from './cleanup.js';
import { whenReaped } from './proc.js';

/** POSTs its second argument to its first and exits. */
const ONE_SHOT = `fetch(process.argv[1],{method:'POST',body:process.argv[2]}).finally(()=>process.exit(0))`;

/** Reads keys in raw mode and POSTs each line when Enter arrives; announces itself first. */
const READER = [
  `const [url,name]=process.argv.slice(1);`,
  `const post=(b)=>fetch(url,{method:'POST',body:b}).catch(()=>{});`,
  `process.stdin.setRawMode(true);`,
  `let buf='';`,
  `process.stdin.on('data',(d)=>{for(const ch of d.toString('utf8')){if(ch==='\\r'){post(buf);buf='';}else buf+=ch;}});`,
  `post('ready '+name);`,
].join('');

export interface ManyResult {
  /** From the common start until the last process reported. */
  wallMs: number;
  /** From the common start until each process reported. */
  perInstanceMs: number[];
}

export interface RoundsResult {
  latenciesMs: number[];
  wallMs: number;
}

export interface PaneDiedTrial {
  /** From kill -9 of the pane's process until the pane-died hook's POST arrived, in ms. */
  ms: number;
  /** From the kill until tmux had reaped the process (its /proc entry gone), in ms. */
  reapedMs: number;
  /** The hook had not come after 2 s and tmux was nudged to reap (see the tmux driver). */
  nudged: boolean;
}

/** After this long without the hook, the trial asks tmux to reap (list-sessions nudges a stuck server). */
const PANE_DIED_NUDGE_MS = 2_000;

/**
 * The supervisor's pane-died hook command (src/supervisor/supervisor.ts), with the dead pane's session
 * name as the body so the lab can tell the trials apart: a `node -e` that POSTs once, started by tmux's
 * `run-shell -b` through /bin/sh.
 */
function paneDiedHook(url: string): string {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    quote(process.execPath),
    '-e',
    quote('fetch(process.argv[1],{method:"POST",body:process.argv[2]}).catch(()=>{})'),
    quote(url),
    quote('died #{session_name}'),
  ].join(' ');
}

export class TmuxBaseline {
  readonly socket = `tc-bench-base-${randomUUID().slice(0, 8)}`;
  private readonly tmux = new TmuxDriver({ socketName: this.socket, timeoutMs: 30_000 });
  private readonly waiters = new Map<string, (at: number) => void>();
  private seq = 0;
  private hookSet: Promise<void> | undefined;

  private readonly server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const at = performance.now();
      res.end('ok');
      this.arrived(Buffer.concat(parts).toString('utf8'), at);
    });
  });
  private url = '';

  private constructor() {}

  static async start(cleanup: Cleanup): Promise<TmuxBaseline> {
    const lab = new TmuxBaseline();
    const { server } = lab;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    lab.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    cleanup.add('stop the baseline tmux server and HTTP server', async () => {
      await lab.tmux.killServer();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    });
    return lab;
  }

  /** One `node -e` in a new tmux session; ms from new-session until its POST arrived. */
  async launchOnce(): Promise<number> {
    return (await this.launchMany(1)).wallMs;
  }

  /** N of them at once. */
  async launchMany(n: number): Promise<ManyResult> {
    const keys = Array.from({ length: n }, () => `once-${this.seq++}`);
    const t0 = performance.now();
    const arrivals = keys.map(async (key) => {
      const arrived = this.expect(key);
      await this.tmux.newSession({
        name: key,
        cwd: tmpdir(),
        command: [process.execPath, '-e', ONE_SHOT, this.url, key],
      });
      return (await arrived) - t0;
    });
    const perInstanceMs = await Promise.all(arrivals);
    for (const key of keys) await this.tmux.killSession(key);
    return { wallMs: Math.max(...perInstanceMs), perInstanceMs };
  }

  /** Starts n long-lived reader panes; resolves with their session names once each is listening. */
  async startReaders(n: number): Promise<string[]> {
    const names = Array.from({ length: n }, (_, i) => `reader-${i}`);
    await Promise.all(
      names.map(async (name) => {
        const ready = this.expect(`ready ${name}`);
        await this.tmux.newSession({
          name,
          cwd: tmpdir(),
          command: [process.execPath, '-e', READER, this.url, name],
        });
        await ready;
      }),
    );
    return names;
  }

  /**
   * Types `rounds` lines into every reader, each reader's lines one after another and all readers at once, as
   * the supervisor delivers a message (load-buffer + bracketed paste-buffer, 200 ms, Enter).
   */
  async deliverRounds(readers: readonly string[], rounds: number): Promise<RoundsResult> {
    const latenciesMs: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      readers.map(async (name) => {
        for (let r = 0; r < rounds; r++) {
          const text = `bench line ${r} for ${name}`;
          const arrived = this.expect(text);
          const start = performance.now();
          await this.tmux.paste(name, text);
          latenciesMs.push((await arrived) - start);
        }
      }),
    );
    return { latenciesMs, wallMs: performance.now() - t0 };
  }

  /**
   * One bare death notice: a new session runs `sleep 1000`, `headStartMs` later the sleep is killed with
   * SIGKILL, and the time runs until tmux's pane-died hook — the same `node -e` POST the supervisor installs —
   * reaches the lab's HTTP server; the moment tmux reaped the sleep is recorded on the way. The first call sets
   * the hook on the lab's server for good (the lab's other panes only die at the end; their POSTs are ignored).
   */
  async paneDied(headStartMs: number): Promise<PaneDiedTrial> {
    this.hookSet ??= this.tmux.setPaneDiedHook(paneDiedHook(this.url));
    await this.hookSet;
    const name = `died-${this.seq++}`;
    const { pid } = await this.tmux.newSession({ name, cwd: tmpdir(), command: ['sleep', '1000'] });
    try {
      if (!pid) throw new Error(`baseline: tmux reported no pid for ${name}`);
      await sleep(headStartMs);
      const arrived = this.expect(`died ${name}`);
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      const reaped = whenReaped(pid);
      let nudged = false;
      const nudge = setTimeout(() => {
        nudged = true;
        void this.tmux.listSessions().catch(() => undefined);
      }, PANE_DIED_NUDGE_MS);
      const at = await arrived.finally(() => clearTimeout(nudge));
      const reapedAt = await reaped;
      if (reapedAt === null) throw new Error(`baseline: tmux did not reap the sleep of ${name}`);
      return { ms: at - t0, reapedMs: reapedAt - t0, nudged };
    } finally {
      await this.tmux.killSession(name);
    }
  }

  tmuxServerPid(): number | null {
    const r = spawnSync('tmux', ['-L', this.socket, '-f', '/dev/null', 'display-message', '-p', '#{pid}'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    const pid = Number(r.stdout?.trim());
    return r.status === 0 && pid > 0 ? pid : null;
  }

  /** Pids of the processes in the readers' panes. */
  async readerPids(): Promise<number[]> {
    const sessions = await this.tmux.listSessions();
    return sessions.filter((s) => s.name.startsWith('reader-') && s.pid).map((s) => s.pid!);
  }

  private expect(key: string, timeoutMs = 60_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`baseline: "${key}" did not arrive within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiters.set(key, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  private arrived(body: string, at: number): void {
    const waiter = this.waiters.get(body);
    this.waiters.delete(body);
    waiter?.(at);
  }
}
