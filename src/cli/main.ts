#!/usr/bin/env node
import { Command, Option } from 'commander';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

import {
  TASK_STATES,
  TmuxClaudeError,
  loadConfig,
  pathsFor,
  runCommand,
  type AuditEvent,
  type Config,
  type Reservation,
  type VerifyReport,
} from '../core/index.js';
import { runDemo } from '../demo/index.js';
import type { ConflictReport, InstanceView, SpawnResult, TaskView } from '../mcp/index.js';
import { isProcessAlive, readSupervisorInfo, type MessageFlowRow } from '../supervisor/index.js';
import { auditEvents, brokenError, intactLine, openLineSink, parseSince } from './audit.js';
import { ensureSupervisor, findSupervisor, type ApiClient } from './client.js';
import {
  EXIT_CODES,
  renderBudgets,
  renderHosts,
  renderTasks,
  renderTree,
  type BudgetRow,
  type HostRow,
} from './output.js';
import { top, topInterval } from './top.js';

const out = (text: string): void => void process.stdout.write(`${text}\n`);
const err = (text: string): void => void process.stderr.write(`${text}\n`);
const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

function config(): Config {
  return loadConfig();
}

async function api(): Promise<ApiClient> {
  const { client, started } = await ensureSupervisor(config(), {
    onStart: () => err('starting the tmux-claude supervisor…'),
  });
  if (started) err(`supervisor running at ${client.info.url} (pid ${client.info.pid})`);
  return client;
}

/** The program that opens a URL in the user's browser: $BROWSER, else xdg-open/open with a display; or null. */
function browserOpener(): string | null {
  if (process.env.BROWSER) return process.env.BROWSER;
  const onPath = (bin: string): boolean =>
    (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, bin)));
  if (process.platform === 'darwin') return 'open';
  if ((process.env.DISPLAY || process.env.WAYLAND_DISPLAY) && onPath('xdg-open')) return 'xdg-open';
  return null;
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isProcessAlive(pid);
}

async function stopSupervisor(client: ApiClient): Promise<void> {
  await client.request('POST', '/shutdown');
  if (!(await waitForExit(client.info.pid, 60_000))) {
    throw new TmuxClaudeError('TIMEOUT', `the supervisor (pid ${client.info.pid}) did not stop within 60 s`);
  }
}

function formatEvent(e: AuditEvent): string {
  const time = new Date(e.ts).toISOString().replace('T', ' ').slice(0, 19);
  return `${String(e.seq).padStart(6)}  ${time}  ${e.kind.padEnd(20)} ${e.actor.padEnd(12)} ${e.instanceId ?? '-'}  ${JSON.stringify(e.data)}`;
}

/** A discovery as the knowledge commands return it. */
interface KnowledgeRow {
  key: string;
  value: string;
  tags: string[];
  paths: string[];
  stale: boolean;
  version: number;
  recorded_by: string;
  task_id: string | null;
  commit: string | null;
  recorded_at: string;
}

function formatKnowledge(k: KnowledgeRow): string {
  const head = [
    k.key,
    k.version > 1 ? `v${k.version}` : '',
    k.stale ? '[stale]' : '',
    `by ${k.recorded_by}${k.task_id ? ` (task ${k.task_id})` : ''}`,
    k.commit ? `at ${k.commit.slice(0, 10)}` : '',
    k.recorded_at.slice(0, 19).replace('T', ' '),
  ].filter(Boolean);
  const about = [
    k.tags.length ? `tags: ${k.tags.join(', ')}` : '',
    k.paths.length ? `paths: ${k.paths.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const value = k.value.length > 500 ? `${k.value.slice(0, 499)}…` : k.value;
  return `${head.join('  ')}\n  ${value.replace(/\n/g, '\n  ')}${about ? `\n  ${about}` : ''}`;
}

function formatFlowRow(r: MessageFlowRow): string {
  const time = new Date(r.sentAt).toISOString().slice(11, 23);
  const timing = [
    r.deliveredMs !== null ? `delivered +${r.deliveredMs}ms` : '',
    r.ackedMs !== null ? `acked +${r.ackedMs}ms` : '',
    r.attempts > 0 ? `${r.attempts} failed attempt${r.attempts === 1 ? '' : 's'}` : '',
    r.error && r.state === 'dead' ? r.error : '',
  ]
    .filter(Boolean)
    .join(', ');
  const subject = r.subject ? `[${r.subject}] ` : '';
  const body = r.body.replace(/\s+/g, ' ').slice(0, 60);
  return `${time}  ${r.id}  ${r.from} → ${r.to}  ${r.state.padEnd(9)} ${timing ? `(${timing}) ` : ''}${subject}${body}`;
}

/** A message.* audit event as one flow line; null for other events (or non-dead ones with onlyDead). */
function formatMessageEvent(e: AuditEvent, onlyDead: boolean): string | null {
  const time = new Date(e.ts).toISOString().slice(11, 23);
  if (onlyDead && e.kind !== 'message.dead') return null;
  switch (e.kind) {
    case 'message.sent':
      return `${time}  ${e.data.messageId}  ${e.actor} → ${e.data.recipients.join(',') || '(no subscribers)'}  sent      (${e.data.bytes} bytes${e.data.topic ? `, topic ${e.data.topic}` : ''})`;
    case 'message.delivered':
      return `${time}  ${e.data.messageId}  → ${e.instanceId ?? '?'}  delivered (+${e.data.latencyMs}ms via ${e.data.via})`;
    case 'message.acked':
      return `${time}  ${e.data.messageId}  → ${e.instanceId ?? '?'}  acked     (+${e.data.latencyMs}ms)`;
    case 'message.dead':
      return `${time}  ${e.data.messageId}  ${e.data.from} → ${e.instanceId ?? '?'}  dead      (${e.data.error})`;
    case 'message.requeued':
      return `${time}  ${e.data.messageIds.length} message(s) → ${e.instanceId ?? '?'}  requeued  (${e.data.reason})`;
    default:
      return null;
  }
}

/** Variables `run` passes from the user's environment to the agents (model endpoints and keys per CLI). */
const AGENT_ENV_VARS = [
  'ANTHROPIC_BASE_URL',
  'ANTHROPIC_API_KEY',
  'OPENAI_BASE_URL',
  'OPENAI_API_KEY',
  'GOOGLE_GEMINI_BASE_URL',
  'GEMINI_API_KEY',
  'TMUX_CLAUDE_MODEL',
  'TMUX_CLAUDE_SHARE_CLAUDE_CONFIG',
];

interface BudgetFlags {
  maxInstances?: string | undefined;
  maxDepth?: string | undefined;
  maxMinutes?: string | undefined;
  maxTokens?: string | undefined;
  maxCost?: string | undefined;
}

const BUDGET_FLAGS: ReadonlyArray<{ key: keyof BudgetFlags; flag: string; integer: boolean }> = [
  { key: 'maxInstances', flag: 'instances', integer: true },
  { key: 'maxDepth', flag: 'depth', integer: true },
  { key: 'maxMinutes', flag: 'minutes', integer: false },
  { key: 'maxTokens', flag: 'tokens', integer: true },
  { key: 'maxCost', flag: 'cost', integer: false },
];

/** Budget flags as numbers: each a positive number (an integer for instances, depth, tokens), else an error. */
function budgetFromFlags(o: BudgetFlags, raise: boolean): Record<string, number> | undefined {
  const limits: Record<string, number> = {};
  for (const { key, flag, integer } of BUDGET_FLAGS) {
    const raw = o[key];
    if (raw === undefined) continue;
    const name = raise ? `--${flag}` : `--max-${flag}`;
    const n = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new TmuxClaudeError(
        'INVALID_ARGUMENT',
        `${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`,
      );
    }
    limits[key] = n;
  }
  if (Object.keys(limits).length > 0) return limits;
  if (raise) {
    throw new TmuxClaudeError('INVALID_ARGUMENT', 'give at least one limit to set', {
      hint: 'e.g. `tmux-claude budget raise ID --tokens 500000`',
    });
  }
  return undefined;
}

const program = new Command();
program
  .name('tmux-claude')
  .description('Run many AI coding agents in tmux as one organisation.')
  .version('0.1.0')
  .showHelpAfterError();

program
  .command('up')
  .description('start the supervisor in the background (reuses a running one)')
  .action(async () => {
    const { client, started } = await ensureSupervisor(config());
    out(
      `${started ? 'started' : 'already running'}: supervisor at ${client.info.url} (pid ${client.info.pid})`,
    );
  });

program
  .command('down')
  .description('stop the supervisor and every instance it runs')
  .action(async () => {
    const client = await findSupervisor(pathsFor(config().home));
    if (!client) return out('no supervisor is running');
    await stopSupervisor(client);
    out(`stopped the supervisor (pid ${client.info.pid}) and its instances`);
  });

program
  .command('status')
  .description('show whether the supervisor runs, where, and what it holds')
  .option('--json', 'machine-readable output')
  .action(async (o: { json?: boolean }) => {
    const paths = pathsFor(config().home);
    const client = await findSupervisor(paths);
    if (!client) {
      const stale = readSupervisorInfo(paths);
      if (o.json) printJson({ running: false, staleRunFile: stale !== null });
      else out(`supervisor: not running${stale ? ' (stale run file from a crash; `up` replaces it)' : ''}`);
      process.exitCode = 3;
      return;
    }
    const status = await client.request<Record<string, unknown>>('GET', '/status');
    if (o.json) return printJson({ running: true, ...status });
    out(
      `supervisor: running at ${String(status.url)} (pid ${String(status.pid)}, up ${String(status.uptimeS)} s)`,
    );
    out(
      `host: ${String(status.host)}   home: ${String(status.home)}   store: ${String(status.store)}   ${String(status.tmux)}`,
    );
    out(`instances: ${JSON.stringify(status.instances)}`);
  });

program
  .command('run')
  .description('hand a goal to a new Executive')
  .argument('<goal>', 'what the organisation should achieve')
  .addOption(
    new Option('--agent <agent>', 'agent CLI for the run')
      .choices(['lite', 'claude', 'codex', 'gemini'])
      .default('lite'),
  )
  .option('--repo <dir>', 'the git repository to work on', process.cwd())
  .option('--target <branch>', 'branch that receives the work (default: tmux-claude/<run-id>)')
  .option('--max-instances <n>', 'budget: live instances below the executive')
  .option('--max-depth <n>', 'budget: levels below the executive (1: managers only)')
  .option('--max-minutes <n>', 'budget: wall-clock minutes')
  .option('--max-tokens <n>', 'budget: tokens the run may use')
  .option('--max-cost <usd>', 'budget: USD (needs a price table, TMUX_CLAUDE_PRICES)')
  .option('--json', 'machine-readable output')
  .action(
    async (
      goal: string,
      o: { agent: string; repo: string; target?: string; json?: boolean } & BudgetFlags,
    ) => {
      const budget = budgetFromFlags(o, false);
      // The supervisor has its own cwd: resolve a relative --repo against the caller's.
      const repo = resolve(o.repo);
      if (!existsSync(repo) || !statSync(repo).isDirectory()) {
        throw new TmuxClaudeError(
          'INVALID_ARGUMENT',
          `--repo ${repo} ${existsSync(repo) ? 'is not a directory' : 'does not exist'}`,
          { hint: 'pass the directory of a git repository' },
        );
      }
      const agentEnv: Record<string, string> = {};
      for (const key of AGENT_ENV_VARS) {
        const v = process.env[key];
        if (v) agentEnv[key] = v;
      }
      const res = await (
        await api()
      ).request<{ run: { id: string; targetBranch: string }; executive: SpawnResult }>('POST', '/runs', {
        goal,
        repo,
        agent: o.agent,
        targetBranch: o.target,
        agentEnv,
        ...(budget ? { budget } : {}),
      });
      if (o.json) return printJson(res);
      out(
        `run ${res.run.id}: executive ${res.executive.id} is working; results land on ${res.run.targetBranch}`,
      );
      out(
        'watch it with `tmux-claude ls`, `tmux-claude log --follow` or `tmux-claude attach ' +
          res.executive.id +
          '`',
      );
    },
  );

program
  .command('demo')
  .description('run a sample organisation (1 executive, 2 managers, 4 specialists) on the scripted model')
  .option('--keep', 'leave the supervisor and the instances running for inspection')
  .option('--json', 'print the summary as one JSON object')
  .action(async (o: { keep?: boolean; json?: boolean }) => {
    const { client, started } = await ensureSupervisor(config());
    const progress = o.json ? (line: string) => err(line) : out;
    progress(`supervisor at ${client.info.url}${started ? ' (started for the demo)' : ''}`);
    let summary;
    try {
      summary = await runDemo({ api: client, progress, keep: o.keep ?? false });
    } finally {
      if (started && !o.keep) await stopSupervisor(client);
    }
    if (o.json) return printJson(summary);
    const merged = summary.specialistBranches.filter((b) => b.merged).length;
    out('');
    out(`demo ${summary.runId} finished in ${summary.wallSeconds} s`);
    out(
      `  instances:      ${summary.instances.length} (${summary.instances.map((i) => i.role[0]).join('')})`,
    );
    out(`  messages:       ${summary.messages}`);
    out(`  commits merged: ${summary.mergedCommits} into ${summary.targetBranch}`);
    out(`  specialists:    ${merged}/${summary.specialistBranches.length} branches merged`);
    out(`  discoveries:    ${summary.discoveries}`);
    if (summary.executiveReport) out(`  executive:      ${summary.executiveReport}`);
    out(`  model requests: ${summary.modelRequests}`);
    out(`  repository:     ${summary.repo}  (git -C ${summary.repo} log --oneline --graph)`);
    if (summary.kept) out('  kept running: inspect with `tmux-claude ls`; stop with `tmux-claude down`');
    if (merged !== summary.specialistBranches.length || summary.specialistBranches.length === 0)
      process.exitCode = 1;
  });

program
  .command('hosts')
  .description('the hosts sharing the store: state, last heartbeat, live instances and capacity')
  .option('--json', 'machine-readable output')
  .action(async (o: { json?: boolean }) => {
    const hosts = await (await api()).request<HostRow[]>('GET', '/hosts');
    if (o.json) return printJson(hosts);
    out(renderHosts(hosts));
  });

program
  .command('ls')
  .description('the instance hierarchy')
  .option('--json', 'machine-readable output')
  .option('--all', 'include terminated instances')
  .action(async (o: { json?: boolean; all?: boolean }) => {
    const list = await (await api()).request<InstanceView[]>('GET', '/instances');
    const shown = o.all || o.json ? list : list.filter((i) => i.state !== 'terminated');
    if (o.json) return printJson(shown);
    out(shown.length ? renderTree(shown) : 'no instances (use `tmux-claude run` or `tmux-claude demo`)');
  });

program
  .command('top')
  .description(
    'live view of the tree: state, task, progress, CPU, memory, unread messages, conflicts (q quits)',
  )
  .option('--interval <seconds>', 'time between frames', '2')
  .option('--once', 'print one frame and exit (also when stdout is not a terminal)')
  .option('--all', 'include terminated instances')
  .option('--json', 'print one snapshot as JSON')
  .action(async (o: { interval: string; once?: boolean; all?: boolean; json?: boolean }) => {
    const interval = topInterval(o.interval);
    await top(await api(), { interval, once: o.once ?? false, all: o.all ?? false, json: o.json ?? false });
  });

program
  .command('dash')
  .description('print the dashboard link (it signs the browser in) and open it when a browser is available')
  .option('--no-open', 'only print the link')
  .option('--json', 'machine-readable output')
  .action(async (o: { open: boolean; json?: boolean }) => {
    const client = await api();
    const url = `${client.info.url}/?token=${encodeURIComponent(client.info.token)}`;
    const opener = o.open ? browserOpener() : null;
    if (o.json) printJson({ url, opened: opener !== null });
    else out(url);
    if (!opener) return;
    // Detached, so the CLI returns at once; the link is printed above if the browser does not come up.
    const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
    child.on('error', () => err(`could not run ${opener}; open the link above yourself`));
    child.unref();
  });

program
  .command('send')
  .description('send a message to an instance; returns once it landed in its turn')
  .argument('<id>')
  .argument('<text>')
  .option('--timeout <seconds>', 'how long to wait for delivery', '60')
  .option('--json', 'machine-readable output')
  .action(async (id: string, text: string, o: { timeout: string; json?: boolean }) => {
    const timeoutS = Number(o.timeout);
    if (!(timeoutS > 0)) throw new TmuxClaudeError('INVALID_ARGUMENT', '--timeout must be a positive number');
    const res = await (
      await api()
    ).request<{ messageId: string; delivered: boolean }>(
      'POST',
      `/instances/${encodeURIComponent(id)}/send`,
      { text, timeoutS },
      (timeoutS + 30) * 1000,
    );
    if (o.json) return printJson(res);
    out(
      res.delivered
        ? `delivered ${res.messageId} to ${id}`
        : `queued ${res.messageId}: ${id} has not taken it yet`,
    );
  });

program
  .command('read')
  .description("an instance's terminal output; pass --since with the printed cursor for new lines only")
  .argument('<id>')
  .option('--since <cursor>', 'cursor from an earlier read')
  .option('--json', 'machine-readable output')
  .action(async (id: string, o: { since?: string; json?: boolean }) => {
    if (o.since !== undefined && !/^\d+$/.test(o.since)) {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `--since ${JSON.stringify(o.since)} is not a cursor`, {
        hint: 'pass the number printed as `cursor:` by an earlier `tmux-claude read`',
      });
    }
    const q = o.since === undefined ? '' : `?since=${o.since}`;
    const res = await (
      await api()
    ).request<{ cursor: number; text: string }>('GET', `/instances/${encodeURIComponent(id)}/read${q}`);
    if (o.json) return printJson(res);
    if (res.text) out(res.text);
    err(`cursor: ${res.cursor}`);
  });

program
  .command('attach')
  .description("attach your terminal to an instance's tmux session (detach with C-b d)")
  .argument('<id>')
  .action(async (id: string) => {
    const list = await (await api()).request<InstanceView[]>('GET', '/instances');
    const inst = list.find((i) => i.id === id);
    if (!inst)
      throw new TmuxClaudeError('NOT_FOUND', `instance ${JSON.stringify(id)} not found`, {
        hint: 'see `tmux-claude ls`',
      });
    const here = String((await (await api()).request<Record<string, unknown>>('GET', '/status')).host);
    if (inst.host !== here && inst.host !== '') {
      throw new TmuxClaudeError('CONFLICT', `${id} runs on host ${inst.host}, not on this one (${here})`, {
        hint: `attach from ${inst.host} (tmux-claude attach ${id} there), or watch it here with \`tmux-claude read ${id}\``,
      });
    }
    const socket = pathsFor(config().home).tmuxSocket;
    const r = spawnSync('tmux', ['-L', socket, 'attach-session', '-t', `=${inst.tmuxSession}`], {
      stdio: 'inherit',
    });
    process.exitCode = r.status ?? 1;
  });

program
  .command('kill')
  .description('terminate an instance (its worktree is kept if it holds unmerged work)')
  .argument('<id>')
  .option('--cascade', 'terminate its descendants too')
  .option('--json', 'machine-readable output')
  .action(async (id: string, o: { cascade?: boolean; json?: boolean }) => {
    const res = await (
      await api()
    ).request<{ terminated: string[]; keptWorktrees: string[] }>(
      'POST',
      `/instances/${encodeURIComponent(id)}/kill`,
      { cascade: o.cascade ?? false },
    );
    if (o.json) return printJson(res);
    out(`terminated: ${res.terminated.join(', ') || '(none)'}`);
    for (const w of res.keptWorktrees) out(`kept worktree with unmerged work: ${w}`);
  });

program
  .command('restart')
  .description('restart an instance in place')
  .argument('<id>')
  .option('--json', 'machine-readable output')
  .action(async (id: string, o: { json?: boolean }) => {
    const res = await (
      await api()
    ).request<SpawnResult>('POST', `/instances/${encodeURIComponent(id)}/restart`);
    if (o.json) return printJson(res);
    out(`restarted ${res.id} in ${res.tmuxSession}`);
  });

program
  .command('log')
  .description('the audit trail, hash-chained: --verify checks it, --export copies it')
  .option('--follow', 'keep printing new events')
  .option('--instance <id>', 'only events about this instance')
  .option(
    '--since <seq|time>',
    'only events after this sequence number, or since a time: 30s, 10m, 2h, 1d, 2024-05-01, 2024-05-01T13:00',
  )
  .option('--json', 'one JSON object per line (--verify: the report)')
  .option('--verify', 'check the whole trail: exit 0 if intact, 5 at the first edited or deleted event')
  .option('--export <file>', 'write the matching events with their hashes as JSONL to FILE (- for stdout)')
  .action(
    async (o: {
      follow?: boolean;
      instance?: string;
      since?: string;
      json?: boolean;
      verify?: boolean;
      export?: string;
    }) => {
      const since = o.since === undefined ? { afterSeq: 0 } : parseSince(o.since);
      if (o.verify) {
        if (o.follow || o.export !== undefined || o.since !== undefined || o.instance !== undefined) {
          throw new TmuxClaudeError(
            'INVALID_ARGUMENT',
            '--verify checks the whole trail: it takes no --follow, --export, --since or --instance',
          );
        }
        const report = await (await api()).request<VerifyReport>('GET', '/events/verify');
        if (o.json) printJson(report);
        if (!report.ok) throw brokenError(report);
        if (!o.json) out(intactLine(report));
        return;
      }
      if (o.export !== undefined && o.follow) {
        throw new TmuxClaudeError(
          'INVALID_ARGUMENT',
          '--export writes the events there are now: drop --follow',
        );
      }
      const sink = o.export === undefined ? null : await openLineSink(o.export);
      const events = auditEvents(await api(), { since, instance: o.instance, follow: o.follow });
      if (!sink) {
        for await (const e of events) out(o.json ? JSON.stringify(e) : formatEvent(e));
        return;
      }
      let n = 0;
      try {
        for await (const e of events) {
          await sink.write(JSON.stringify(e));
          n += 1;
        }
      } finally {
        await sink.close();
      }
      err(`exported ${n} event${n === 1 ? '' : 's'} to ${o.export === '-' ? 'stdout' : o.export}`);
    },
  );

program
  .command('messages')
  .description('the message flow: sender, recipient, delivery state and timings (newest last)')
  .option('--json', 'machine-readable output (one JSON object per line with --follow)')
  .option('--follow', 'keep printing deliveries as they are sent, delivered, acked or dead-lettered')
  .option('--dead', 'only dead letters')
  .option('--run <id>', 'only this run')
  .option('--limit <n>', 'how many of the newest to show', '200')
  .action(async (o: { json?: boolean; follow?: boolean; dead?: boolean; run?: string; limit: string }) => {
    const client = await api();
    const query = (extra: Record<string, string>): string =>
      new URLSearchParams({
        limit: o.limit,
        ...(o.run ? { run: o.run } : {}),
        ...(o.dead ? { dead: '1' } : {}),
        ...extra,
      }).toString();
    const rows = await client.request<MessageFlowRow[]>('GET', `/messages?${query({})}`);
    if (o.json && !o.follow) return printJson(rows);
    for (const r of rows) out(o.json ? JSON.stringify(r) : formatFlowRow(r));
    if (!o.follow) {
      if (rows.length === 0) out(o.dead ? 'no dead letters' : 'no messages');
      return;
    }
    // Follow the audit trail's message events: each state change of a delivery is one line.
    let after = (await client.request<{ seq: number }>('GET', '/events/head')).seq;
    for (;;) {
      const events = await client.request<AuditEvent[]>('GET', `/events?after=${after}&wait=30`);
      for (const e of events) {
        after = e.seq;
        const line = formatMessageEvent(e, o.dead ?? false);
        if (line) out(o.json ? JSON.stringify(e) : line);
      }
    }
  });

program
  .command('tasks')
  .description('the task graph: states, owners, fencing epochs and attempts, in dependency order')
  .option('--run <id>', 'only this run')
  .option('--state <state>', 'only tasks in this state (blocked, ready, claimed, done, failed)')
  .option('--json', 'machine-readable output')
  .action(async (o: { run?: string; state?: string; json?: boolean }) => {
    if (o.state && !(TASK_STATES as readonly string[]).includes(o.state)) {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `--state must be one of ${TASK_STATES.join(', ')}`);
    }
    const client = await api();
    const query = o.run ? `?run=${encodeURIComponent(o.run)}` : '';
    const r = await client.request<{ tasks: TaskView[]; reservations: Reservation[] }>(
      'GET',
      `/tasks${query}`,
    );
    const tasks = o.state ? r.tasks.filter((t) => t.state === o.state) : r.tasks;
    if (o.json) return printJson({ tasks, reservations: r.reservations });
    out(renderTasks(tasks));
    if (r.reservations.length > 0) {
      out(
        `${r.reservations.length} live file reservation(s): ` +
          r.reservations
            .slice(0, 10)
            .map((x) => `${x.pattern} (${x.holder})`)
            .join(', ') +
          (r.reservations.length > 10 ? ', …' : ''),
      );
    }
  });

const budget = program
  .command('budget')
  .description('budgets per subtree: live instances, depth, minutes, tokens and cost, used and allowed')
  .option('--run <id>', 'only this run')
  .option('--json', 'machine-readable output')
  .action(async (o: { run?: string; json?: boolean }) => {
    const query = o.run ? `?run=${encodeURIComponent(o.run)}` : '';
    const rows = await (await api()).request<BudgetRow[]>('GET', `/budgets${query}`);
    if (o.json) return printJson(rows);
    out(
      rows.length
        ? renderBudgets(rows)
        : 'no budgets (set them with `run --max-tokens N …` or spawn budgets)',
    );
  });
budget
  .command('raise')
  .description(
    "set or raise a subtree's budget; a subtree paused by its budget resumes when it is above its use",
  )
  .argument('<id>', 'the subtree root (an instance id)')
  .option('--instances <n>', 'max live instances below it')
  .option('--depth <n>', 'max levels below it')
  .option('--minutes <n>', 'max wall-clock minutes (from when its budget was set)')
  .option('--tokens <n>', 'max tokens')
  .option('--cost <usd>', 'max USD')
  .option('--json', 'machine-readable output')
  .action(
    async (
      id: string,
      o: {
        instances?: string;
        depth?: string;
        minutes?: string;
        tokens?: string;
        cost?: string;
        json?: boolean;
      },
      cmd: Command,
    ) => {
      // `--json` after the arguments may land on the parent `budget` command.
      const json = o.json === true || cmd.optsWithGlobals<{ json?: boolean }>().json === true;
      const limits = budgetFromFlags(
        {
          maxInstances: o.instances,
          maxDepth: o.depth,
          maxMinutes: o.minutes,
          maxTokens: o.tokens,
          maxCost: o.cost,
        },
        true,
      )!;
      const row = await (
        await api()
      ).request<BudgetRow>('POST', `/instances/${encodeURIComponent(id)}/budget`, limits);
      if (json) return printJson(row);
      out(renderBudgets([row]));
    },
  );

const knowledge = program.command('knowledge').description('what the organisation has learned (discoveries)');
knowledge
  .command('search')
  .description('full-text search of a run’s discoveries, best first; stale ones are marked')
  .argument('<query>', 'words (any text), or an FTS5 query with --fts')
  .option('--run <id>', 'the run (default: the newest)')
  .option('--fts', 'treat the query as FTS5 syntax: "phrases", AND/OR/NOT, prefix*')
  .option('--tag <tags>', 'only entries with all of these tags (comma-separated)')
  .option('--limit <n>', 'how many', '20')
  .option('--json', 'machine-readable output')
  .action(
    async (
      query: string,
      o: { run?: string; fts?: boolean; tag?: string; limit: string; json?: boolean },
    ) => {
      const client = await api();
      const params = new URLSearchParams({
        q: query,
        limit: o.limit,
        ...(o.run ? { run: o.run } : {}),
        ...(o.fts ? { syntax: 'fts' } : {}),
        ...(o.tag ? { tag: o.tag } : {}),
      });
      const r = await client.request<{ run: string; results: KnowledgeRow[] }>('GET', `/knowledge?${params}`);
      if (o.json) return printJson(r.results);
      if (r.results.length === 0) return out(`no discoveries match in ${r.run}`);
      for (const k of r.results) out(formatKnowledge(k));
    },
  );
knowledge
  .command('ls')
  .description('discoveries, newest first (the latest version of each key unless --all)')
  .option('--run <id>', 'only this run')
  .option('--all', 'every version')
  .option('--limit <n>', 'how many', '200')
  .option('--json', 'machine-readable output')
  .action(async (o: { run?: string; all?: boolean; limit: string; json?: boolean }) => {
    const client = await api();
    const params = new URLSearchParams({
      limit: o.limit,
      ...(o.run ? { run: o.run } : {}),
      ...(o.all ? { all: '1' } : {}),
    });
    const rows = await client.request<KnowledgeRow[]>('GET', `/knowledge/entries?${params}`);
    if (o.json) return printJson(rows);
    if (rows.length === 0) return out('no discoveries');
    for (const k of rows) out(formatKnowledge(k));
  });

program
  .command('conflicts')
  .description('where work may collide in a run: overlapping reservations and files changed in two worktrees')
  .requiredOption('--run <id>', 'the run')
  .option('--json', 'machine-readable output')
  .action(async (o: { run: string; json?: boolean }) => {
    const client = await api();
    const r = await client.request<ConflictReport>('GET', `/conflicts?run=${encodeURIComponent(o.run)}`);
    if (o.json) return printJson(r);
    for (const w of r.worktreeOverlaps) {
      out(
        `${w.path}: changed in ${w.instances.map((i) => `${i.id}${i.taskId ? ` (task ${i.taskId})` : ''}`).join(' and ')}`,
      );
    }
    for (const { a, b } of r.reservationOverlaps) {
      out(`${a.pattern} (${a.mode}, ${a.holder}) overlaps ${b.pattern} (${b.mode}, ${b.holder})`);
    }
    if (r.tasksWaitingOnFiles.length) out(`tasks waiting for files: ${r.tasksWaitingOnFiles.join(', ')}`);
    if (!r.worktreeOverlaps.length && !r.reservationOverlaps.length && !r.tasksWaitingOnFiles.length) {
      out('no conflicts');
    }
  });

program
  .command('doctor')
  .description('check tmux, git, node, the store and the supervisor')
  .option('--json', 'machine-readable output')
  .action(async (o: { json?: boolean }) => {
    const checks: Array<{ check: string; ok: boolean; detail: string }> = [];
    const probe = async (check: string, fn: () => Promise<string>): Promise<void> => {
      try {
        checks.push({ check, ok: true, detail: await fn() });
      } catch (e) {
        const x = e instanceof TmuxClaudeError ? `${e.message}${e.hint ? ` — ${e.hint}` : ''}` : String(e);
        checks.push({ check, ok: false, detail: x });
      }
    };
    await probe('node', async () => {
      const major = Number(process.versions.node.split('.')[0]);
      if (major < 20)
        throw new TmuxClaudeError('DEPENDENCY_MISSING', `node ${process.version} is too old; need >= 20`);
      return process.version;
    });
    await probe('tmux', async () => {
      const v = (await runCommand(['tmux', '-V'], { timeoutMs: 5_000 })).stdout.trim();
      const m = /(\d+)\.(\d+)/.exec(v);
      if (!m || Number(m[1]) < 3 || (Number(m[1]) === 3 && Number(m[2]) < 2)) {
        throw new TmuxClaudeError('DEPENDENCY_MISSING', `${v} is too old; need tmux >= 3.2`);
      }
      return v;
    });
    await probe('git', async () => {
      const v = (await runCommand(['git', '--version'], { timeoutMs: 5_000 })).stdout.trim();
      const m = /(\d+)\.(\d+)/.exec(v);
      if (!m || Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 38)) {
        throw new TmuxClaudeError(
          'DEPENDENCY_MISSING',
          `${v} is too old; need git >= 2.38 (merge-tree --write-tree)`,
        );
      }
      return v;
    });
    const cfg = config();
    const paths = pathsFor(cfg.home);
    await probe('store', async () => {
      const { openStore } = await import('../store/index.js');
      const store = openStore(cfg);
      try {
        await store.ping();
        return `${store.backend} (${cfg.store === 'sqlite' ? paths.storeFile : cfg.store})`;
      } finally {
        await store.close();
      }
    });
    await probe('supervisor', async () => {
      const client = await findSupervisor(paths);
      if (client) return `running at ${client.info.url} (pid ${client.info.pid})`;
      const stale = readSupervisorInfo(paths);
      return stale ? 'not running (stale run file; `up` replaces it)' : 'not running (`up` starts it)';
    });
    const ok = checks.every((c) => c.ok);
    if (o.json) printJson({ ok, checks });
    else for (const c of checks) out(`${c.ok ? '✓' : '✗'} ${c.check.padEnd(10)} ${c.detail}`);
    if (!ok) {
      const failed = checks.filter((c) => !c.ok).map((c) => c.check);
      err(`tmux-claude: ${failed.length} check(s) failed: ${failed.join(', ')}`);
      process.exitCode = 1;
    }
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof TmuxClaudeError) {
      err(`tmux-claude: ${e.message}`);
      if (e.hint) err(`  ${e.hint}`);
      process.exitCode = EXIT_CODES[e.code];
    } else {
      err(`tmux-claude: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    }
  }
}

void main();
