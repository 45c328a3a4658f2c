import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processesWithEnv, whenReaped } from '../bench/proc.js';
import { pathsFor, type Paths } from '../core/index.js';

/** The built CLI: end-to-end tests drive dist/, as a user would after `npm run build`. */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A private tmux-claude home for one test: its own store, supervisor and tmux socket. `cleanup` stops the
 * supervisor, kills its tmux server and removes the home and any temp dirs registered with it, even when
 * the test failed halfway.
 */
export class CliHarness {
  readonly home: string;
  readonly paths: Paths;
  private readonly tempDirs: string[] = [];

  constructor() {
    if (!existsSync(CLI)) throw new Error(`build first: ${CLI} is missing (npm run build)`);
    this.home = mkdtempSync(join(tmpdir(), 'tc-test-home-'));
    this.paths = pathsFor(this.home);
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      TMUX_CLAUDE_HOME: this.home,
      TMUX_CLAUDE_STORE: 'sqlite',
      TMUX_CLAUDE_PORT: '',
      ...extra,
    };
  }

  /** Runs the CLI to completion. */
  run(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: this.env(opts.env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`tmux-claude ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, opts.timeoutMs ?? 120_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolvePromise({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** Runs the CLI and parses its --json output; throws with stderr on a non-zero exit. */
  async json<T>(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<T> {
    const r = await this.run([...args, '--json'], opts);
    if (r.code !== 0) throw new Error(`tmux-claude ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  supervisorInfo(): { pid: number; url: string; token: string; port: number } | null {
    try {
      return JSON.parse(readFileSync(this.paths.supervisorFile, 'utf8')) as never;
    } catch {
      return null;
    }
  }

  /** tmux sessions alive on this home's private socket. */
  tmuxSessions(): string[] {
    const r = spawnSync('tmux', ['-L', this.paths.tmuxSocket, 'list-sessions', '-F', '#{session_name}'], {
      encoding: 'utf8',
    });
    return r.status === 0 ? r.stdout.trim().split('\n').filter(Boolean) : [];
  }

  /** Registers a temp dir (e.g. a demo repo) to remove at cleanup. */
  track(dir: string): void {
    this.tempDirs.push(dir);
  }

  async cleanup(): Promise<void> {
    await this.run(['down'], { timeoutMs: 60_000 }).catch(() => undefined);
    const info = this.supervisorInfo();
    if (info) {
      try {
        process.kill(info.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    spawnSync('tmux', ['-L', this.paths.tmuxSocket, 'kill-server']);
    const socket = join(tmpdir(), `tmux-${process.getuid?.() ?? 0}`, this.paths.tmuxSocket);
    // The lock is left behind when a client starting the server is killed.
    for (const path of [socket, `${socket}.lock`]) rmSync(path, { force: true });
    // Agents can outlive their supervisor (kill -9) and write into the home while it is removed: stop them first.
    const left = processesOfHome(this.home);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await Promise.all(left.map((pid) => whenReaped(pid, 5_000, 20)));
    for (const dir of [...this.tempDirs, this.home]) {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
    }
  }
}

/** Waits until `check` returns a truthy value, re-checking every 100 ms; throws with `what` at the timeout. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Live processes started for a home (the supervisor, its tmux server, agents): found by their environment. */
export function processesOfHome(home: string): number[] {
  return processesWithEnv('TMUX_CLAUDE_HOME', home);
}
