/**
 * The system under test: a private TMUX_CLAUDE_HOME with its own supervisor (started as the CLI does, through
 * ensureSupervisor), the scripted model in this process, a sample repository and one run whose Executive has
 * nothing to do. The benchmark acts as that Executive over MCP, with the token from its tmux session.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSupervisor, type ApiClient } from '../cli/index.js';
import { loadConfig, pathsFor, type Paths } from '../core/index.js';
import { initRepo } from '../git/index.js';
import type { InstanceView, SpawnResult } from '../mcp/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../scripted-model/index.js';
import { isProcessAlive, type RunStatus } from '../supervisor/index.js';
import { TmuxDriver } from '../tmux/index.js';
import type { Cleanup } from './cleanup.js';
import { processesWithEnv } from './proc.js';

/** A goal whose plan has no managers: the Executive answers once and then stays idle. */
export const IDLE_GOAL = 'Benchmark run: stay idle.\n```plan\n{"managers":[]}\n```';

export interface BenchOrgOptions {
  cleanup: Cleanup;
  progress: (line: string) => void;
  /** Load the sampling profiler into the supervisor (see supervisor-profiler.ts); profiles land here. */
  profileDir?: string | undefined;
  /** TMUX_CLAUDE_STORE for the supervisor: `sqlite` (the default) or a redis:// URL. */
  store?: string | undefined;
}

export interface Spawned {
  id: string;
  tmuxSession: string;
  /** From the spawn call to its answer, which comes when the instance reported ready. */
  ms: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tmux(socket: string, args: string[]): { ok: boolean; stdout: string } {
  const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { ok: r.status === 0, stdout: r.stdout ?? '' };
}

/** The text of a tool result (the tools answer one JSON text block). */
export function resultText(r: Awaited<ReturnType<Client['callTool']>>): string {
  return (r.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? '').join('');
}

/** Calls a tool and parses its JSON answer; a tool error is thrown with the tool's text. */
export async function callTool<T>(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  timeoutMs = 60_000,
): Promise<T> {
  const r = await client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs });
  if (r.isError) throw new Error(`${name} failed: ${resultText(r)}`);
  return JSON.parse(resultText(r)) as T;
}

/**
 * A prompt with the scripted model's slow-model knob: the agent's turn (and every later turn of its
 * conversation) lasts `ms`, so it stays busy and the supervisor pastes nothing into its pane meanwhile.
 */
function busyPrompt(ms: number): string {
  return `Benchmark: stay busy while the benchmark measures.\n\`\`\`scripted {"delayMs": ${ms}}\`\`\``;
}

/** The instance's bearer token, from its tmux session's environment (where the supervisor put it). */
function tokenOf(socket: string, tmuxSession: string): string {
  const env = tmux(socket, ['show-environment', '-t', `=${tmuxSession}`, 'TMUX_CLAUDE_TOKEN']);
  const token = env.stdout.trim().split('=').slice(1).join('=');
  if (!env.ok || !token) throw new Error(`no TMUX_CLAUDE_TOKEN in ${tmuxSession}'s environment`);
  return token;
}

/** A real MCP SDK client on the supervisor's /mcp (Streamable HTTP), authenticated with `token`. */
async function mcpClient(url: string, token: string, name: string): Promise<Client> {
  const client = new Client({ name, version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

export class BenchOrg {
  private constructor(
    readonly root: string,
    readonly paths: Paths,
    readonly api: ApiClient,
    readonly model: ScriptedModelServer,
    readonly runId: string,
    readonly executive: SpawnResult,
    private readonly mcp: Client,
    private readonly progress: (line: string) => void,
  ) {}

  get supervisorPid(): number {
    return this.api.info.pid;
  }

  static async start(opts: BenchOrgOptions): Promise<BenchOrg> {
    const { cleanup, progress } = opts;
    const root = await mkdtemp(join(tmpdir(), 'tc-bench-'));
    cleanup.add(`remove ${root}`, () => rm(root, { recursive: true, force: true }));
    const home = join(root, 'home');
    const paths = pathsFor(home);
    // The supervisor inherits this environment (ensureSupervisor passes process.env on); keep it private.
    process.env.TMUX_CLAUDE_HOME = home;
    process.env.TMUX_CLAUDE_STORE = opts.store ?? 'sqlite';
    delete process.env.TMUX_CLAUDE_PORT;
    const config = loadConfig(process.env, { home });

    cleanup.add('stop stray processes of the bench home', async () => {
      const pids = processesWithEnv('TMUX_CLAUDE_HOME', home);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (pids.length > 0) progress(`cleanup: killed ${pids.length} stray process(es) of the bench home`);
      await sleep(pids.length > 0 ? 200 : 0);
    });
    cleanup.add('kill the bench tmux server', () => {
      tmux(paths.tmuxSocket, ['kill-server']);
      const dir = join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${process.getuid?.() ?? 0}`);
      return rm(join(dir, paths.tmuxSocket), { force: true });
    });

    const savedNodeOptions = process.env.NODE_OPTIONS;
    if (opts.profileDir) {
      // Start the tmux server first, from this process, so agents do not inherit the profiler preload.
      await new TmuxDriver({ socketName: paths.tmuxSocket }).ensureServer();
      const preload = new URL('./supervisor-profiler.js', import.meta.url).href;
      process.env.NODE_OPTIONS = `${savedNodeOptions ?? ''} --import=${preload}`.trim();
      process.env.TMUX_CLAUDE_BENCH_PROFILE_DIR = opts.profileDir;
    }
    let api: ApiClient;
    try {
      ({ client: api } = await ensureSupervisor(config));
    } finally {
      if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = savedNodeOptions;
    }
    const supervisorPid = api.info.pid;
    cleanup.add('shut down the supervisor (tmux-claude down)', async () => {
      await api.request('POST', '/shutdown', undefined, 10_000).catch(() => undefined);
      const deadline = Date.now() + 120_000;
      while (isProcessAlive(supervisorPid) && Date.now() < deadline) await sleep(200);
      if (isProcessAlive(supervisorPid)) {
        progress('cleanup: the supervisor did not stop within 120 s; killing it');
        process.kill(supervisorPid, 'SIGKILL');
      }
    });
    progress(`supervisor pid ${supervisorPid} at ${api.info.url}, home ${home}`);

    const model = await createScriptedModelServer();
    cleanup.add('close the scripted model', () => model.close());
    const repo = join(root, 'repo');
    await initRepo(repo, { 'README.md': '# bench\n' });

    const { run, executive } = await api.request<{ run: { id: string }; executive: SpawnResult }>(
      'POST',
      '/runs',
      {
        goal: IDLE_GOAL,
        repo,
        agent: 'lite',
        agentEnv: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'bench' },
      },
    );
    const deadline = Date.now() + 60_000;
    while (!(await api.request<RunStatus>('GET', `/runs/${run.id}`)).quiescent) {
      if (Date.now() > deadline) throw new Error(`the executive ${executive.id} did not settle within 60 s`);
      await sleep(200);
    }
    const token = tokenOf(paths.tmuxSocket, executive.tmuxSession);
    const mcp = await mcpClient(api.info.url, token, 'tmux-claude-bench');
    cleanup.add('close the MCP client', () => mcp.close());
    return new BenchOrg(root, paths, api, model, run.id, executive, mcp, progress);
  }

  /** Spawns a specialist as the Executive; resolves when the instance is ready. */
  async spawnSpecialist(name: string): Promise<Spawned> {
    const t0 = performance.now();
    const r = await this.mcp.callTool({ name: 'spawn', arguments: { role: 'specialist', name } }, undefined, {
      timeout: 300_000,
    });
    const ms = performance.now() - t0;
    if (r.isError) throw new Error(`spawn ${name} failed: ${resultText(r)}`);
    const res = JSON.parse(resultText(r)) as SpawnResult;
    return { id: res.id, tmuxSession: res.tmuxSession, ms };
  }

  /**
   * Spawns the named specialists, five at a time; the ones that came up, by name. A failed spawn is reported
   * on the progress line (prefixed with `label`) and left out.
   */
  async spawnSpecialists(names: readonly string[], label: string): Promise<Map<string, Spawned>> {
    const out = new Map<string, Spawned>();
    for (let i = 0; i < names.length; i += 5) {
      const group = names.slice(i, i + 5);
      const settled = await Promise.allSettled(group.map((n) => this.spawnSpecialist(n)));
      settled.forEach((s, j) => {
        if (s.status === 'fulfilled') out.set(group[j]!, s.value);
        else this.progress(`${label}: spawn ${group[j]} failed: ${String(s.reason).split('\n')[0]}`);
      });
    }
    return out;
  }

  /** Calls a tool as the Executive and parses its JSON answer. */
  asExecutive<T>(name: string, args: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
    return callTool<T>(this.mcp, name, args, timeoutMs);
  }

  /**
   * An MCP client acting as the instance in `tmuxSession` (with that instance's own token), while its agent
   * stays in its pane. The caller closes it.
   */
  connectAs(tmuxSession: string): Promise<Client> {
    return mcpClient(
      this.api.info.url,
      tokenOf(this.paths.tmuxSocket, tmuxSession),
      `bench-as-${tmuxSession}`,
    );
  }

  /** Terminates instances one after another (worktree removal touches the shared repository). */
  async terminate(ids: readonly string[]): Promise<void> {
    for (const id of ids) await this.api.request('POST', `/instances/${id}/kill`, { cascade: false });
  }

  instances(): Promise<InstanceView[]> {
    return this.api.request<InstanceView[]>('GET', '/instances');
  }

  async stateOf(id: string): Promise<string | undefined> {
    return (await this.instances()).find((i) => i.id === id)?.state;
  }

  /** Polls `GET /api/instances` until the instance's state satisfies `want`. */
  async waitState(id: string, want: (s: string | undefined) => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!want(await this.stateOf(id))) {
      if (Date.now() > deadline) {
        throw new Error(`${id} did not reach the expected state within ${timeoutMs / 1000} s`);
      }
      await sleep(50);
    }
  }

  /**
   * Puts an idle instance's agent into one long turn (see {@link busyPrompt}); resolves once it is busy.
   * Its mail then waits in the store instead of being pasted into its pane. The knob holds for the rest of
   * the conversation: every later turn of that agent is as slow.
   */
  async keepBusy(id: string, ms: number): Promise<void> {
    await this.waitState(id, (s) => s === 'idle');
    await this.api.request('POST', `/instances/${id}/send`, { text: busyPrompt(ms), timeoutS: 60 });
    await this.waitState(id, (s) => s === 'busy');
  }

  /** Waits until every listed instance is idle (its last turn is over). */
  async waitIdle(ids: readonly string[], timeoutMs = 120_000): Promise<void> {
    const want = new Set(ids);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const busy = (await this.instances()).filter((i) => want.has(i.id) && i.state !== 'idle');
      if (busy.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`${busy.length} instance(s) still not idle after ${timeoutMs / 1000} s`);
      }
      await sleep(250);
    }
  }

  /** The pid of this home's tmux server. */
  tmuxServerPid(): number | null {
    const r = tmux(this.paths.tmuxSocket, ['display-message', '-p', '#{pid}']);
    const pid = Number(r.stdout.trim());
    return r.ok && pid > 0 ? pid : null;
  }

  /** Session name → pid of its pane's process, as tmux reports it. */
  panePids(): Map<string, number> {
    const r = tmux(this.paths.tmuxSocket, ['list-panes', '-a', '-F', '#{session_name}\t#{pane_pid}']);
    const out = new Map<string, number>();
    for (const line of r.stdout.split('\n')) {
      const [name, pid] = line.split('\t');
      if (name && Number(pid) > 0) out.set(name, Number(pid));
    }
    return out;
  }
}
