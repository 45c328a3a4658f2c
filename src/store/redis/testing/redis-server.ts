import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisUnreachable } from './redis-harness.js';

/** Null when `redis-server` can be run, else why not. */
export function redisServerMissing(): string | null {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error) return `redis-server is not installed (${r.error.message})`;
  return r.status === 0 ? null : `redis-server --version exited ${r.status}: ${r.stderr}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A private `redis-server` for tests that kill and restart Redis: its own free port and data dir, AOF on with
 * `appendfsync always` (every write on disk before it is answered). `crash` kills it with SIGKILL (no
 * shutdown, no final save); `start` starts it again on the same port and dir, where it reloads the AOF.
 * `dispose` stops it and removes the dir; call it in a finally/after even when the test failed.
 */
export class PrivateRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'tc-redis-'));
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private log = '';

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    try {
      await redis.start();
    } catch (err) {
      await redis.dispose();
      throw err;
    }
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts redis-server and resolves once it answers PING (its AOF loaded). */
  async start(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    // Every parameter on the command line: no config file, so nothing of the machine's own Redis leaks in.
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.log = (this.log + d).slice(-4000)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.log = (this.log + d).slice(-4000)));
    this.exited = new Promise((resolve) =>
      child.on('exit', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      }),
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!this.child) throw new Error(`redis-server on port ${this.port} exited:\n${this.log}`);
      if ((await redisUnreachable(this.url)) === null) return;
      if (Date.now() > deadline)
        throw new Error(`redis-server on port ${this.port} never answered:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: what a power cut or an OOM kill does; resolves once the process is gone. */
  async crash(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async dispose(): Promise<void> {
    await this.crash();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
