import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import {
  TmuxClaudeError,
  pathsFor,
  runCommand,
  type Config,
  type ErrorCode,
  type Paths,
} from '../core/index.js';
import { isProcessAlive, readSupervisorInfo, type SupervisorInfo } from '../supervisor/index.js';

/** Thin client of the supervisor's /api; errors come back as TmuxClaudeError with the server's code. */
export class ApiClient {
  constructor(readonly info: SupervisorInfo) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.info.url}/api${path}`, {
        method,
        headers: { authorization: `Bearer ${this.info.token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new TmuxClaudeError('UNAVAILABLE', `the supervisor at ${this.info.url} did not answer`, {
        cause: err,
        hint: 'check `tmux-claude status`; restart it with `tmux-claude up`',
      });
    }
    const json = (await res.json().catch(() => ({}))) as {
      error?: { code: ErrorCode; message: string; hint?: string };
    };
    if (!res.ok) {
      const e = json.error;
      throw new TmuxClaudeError(
        e?.code ?? 'INTERNAL',
        e?.message ?? `HTTP ${res.status}`,
        e?.hint ? { hint: e.hint } : {},
      );
    }
    return json as T;
  }
}

async function healthy(info: SupervisorInfo): Promise<boolean> {
  if (!isProcessAlive(info.pid)) return false;
  try {
    await new ApiClient(info).request('GET', '/health', undefined, 3_000);
    return true;
  } catch {
    return false;
  }
}

/** The running supervisor for this home, or null (a stale supervisor.json counts as none). */
export async function findSupervisor(paths: Paths): Promise<ApiClient | null> {
  const info = readSupervisorInfo(paths);
  return info && (await healthy(info)) ? new ApiClient(info) : null;
}

/** tmux and git must be installed before a supervisor can do anything useful. */
export async function checkDependencies(): Promise<void> {
  for (const [bin, flag] of [
    ['tmux', '-V'],
    ['git', '--version'],
  ] as const) {
    await runCommand([bin, flag], { timeoutMs: 5_000 });
  }
}

function supervisorEntry(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, '..', 'supervisor', 'main.js');
  return import.meta.url.endsWith('.ts')
    ? ['--import', 'tsx', join(here, '..', 'supervisor', 'main.ts')]
    : [js];
}

/**
 * Returns a client of the running supervisor, starting one in the background if none runs (as tmux does
 * with its server). A stale run/supervisor.json from a crash is detected and replaced.
 */
export async function ensureSupervisor(
  config: Config,
  opts: { onStart?: () => void } = {},
): Promise<{ client: ApiClient; started: boolean }> {
  const paths = pathsFor(config.home);
  const existing = await findSupervisor(paths);
  if (existing) return { client: existing, started: false };
  await checkDependencies();
  opts.onStart?.();
  mkdirSync(paths.logs, { recursive: true });
  const errLog = join(paths.logs, 'supervisor.stderr.log');
  const fd = openSync(errLog, 'w');
  const child = spawn(process.execPath, supervisorEntry(), {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: {
      ...process.env,
      TMUX_CLAUDE_HOME: config.home,
      TMUX_CLAUDE_STORE: config.store,
      ...(config.port ? { TMUX_CLAUDE_PORT: String(config.port) } : {}),
    },
  });
  closeSync(fd);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const info = readSupervisorInfo(paths);
    if (info && info.pid === child.pid && (await healthy(info)))
      return { client: new ApiClient(info), started: true };
    if (exited !== null) {
      // Lost a race with another `up`: use the winner.
      const winner = await findSupervisor(paths);
      if (winner) return { client: winner, started: false };
      const tail = readFileSync(errLog, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new TmuxClaudeError('UNAVAILABLE', `the supervisor exited while starting (code ${exited})`, {
        hint: tail || `see ${paths.supervisorLog}`,
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new TmuxClaudeError('TIMEOUT', 'the supervisor did not come up within 20 s', {
    hint: `see ${paths.supervisorLog}`,
  });
}
