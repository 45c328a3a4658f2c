import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TmuxClaudeError, type AuditEvent } from '../core/index.js';
import { Git, initRepo } from '../git/index.js';
import type { InstanceView, SpawnResult } from '../mcp/index.js';
import { createScriptedModelServer } from '../scripted-model/index.js';
import type { RunStatus } from '../supervisor/index.js';

/** What the demo needs from the supervisor's API (the CLI's client satisfies it). */
export interface DemoApi {
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs?: number): Promise<T>;
}

export interface DemoOptions {
  api: DemoApi;
  /** Called with one line per step of the organisation as it grows. */
  progress: (line: string) => void;
  /** Leave the instances running (and the repo) for inspection. */
  keep: boolean;
  /** Give up when the run has not settled by then. */
  timeoutMs?: number;
}

export interface DemoSummary {
  runId: string;
  repo: string;
  targetBranch: string;
  instances: Array<Pick<InstanceView, 'id' | 'role' | 'parentId' | 'state' | 'branch' | 'name'>>;
  messages: number;
  /** Non-merge commits the run brought into the target branch. */
  mergedCommits: number;
  /** Specialist branches, and whether the target branch holds every commit of each. */
  specialistBranches: Array<{ branch: string; merged: boolean }>;
  /** Discoveries recorded during the run (latest version of each key). */
  discoveries: number;
  /** The executive's closing line (`ALL DONE: …` or `RUN FAILED: …`), read from its terminal. */
  executiveReport: string | null;
  modelRequests: number;
  wallSeconds: number;
  kept: boolean;
}

const GOAL = 'Build a small JavaScript utility library with text helpers and math helpers, each with tests.';

/**
 * The demo: a sample repository, the scripted model, and one Executive → 2 Managers → 4 Specialists on the
 * light runtime, until every specialist's commit is on the repository's main branch.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const started = Date.now();
  const { api, progress } = opts;
  const git = new Git();
  const repo = join(await mkdtemp(join(tmpdir(), 'tmux-claude-demo-')), 'repo');
  await initRepo(repo, {
    'README.md': '# demo-utils\n\nA sample repository built by a tmux-claude organisation.\n',
  });
  const initial = await git.resolve(repo, 'main');
  progress(`sample repository: ${repo}`);
  const model = await createScriptedModelServer();
  progress(`scripted model: ${model.url}`);
  try {
    let lastSeq = (await api.request<{ lastEventSeq: number }>('GET', '/status')).lastEventSeq;
    const { run, executive } = await api.request<{ run: { id: string }; executive: SpawnResult }>(
      'POST',
      '/runs',
      {
        goal: GOAL,
        repo,
        targetBranch: 'main',
        agent: 'lite',
        agentEnv: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'scripted-demo' },
      },
    );
    const depth = new Map<string, number>([[executive.id, 0]]);
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    let status: RunStatus;
    for (;;) {
      const events = await api.request<AuditEvent[]>('GET', `/events?after=${lastSeq}&wait=5`);
      for (const e of events) {
        lastSeq = e.seq;
        const line = describe(e, depth);
        if (line) progress(line);
      }
      status = await api.request<RunStatus>('GET', `/runs/${run.id}`);
      if (status.quiescent) break;
      if (Date.now() > deadline) {
        throw new TmuxClaudeError('TIMEOUT', `the demo run ${run.id} did not finish in time`, {
          hint: `inspect it with \`tmux-claude ls\` and \`tmux-claude log\`; repo at ${repo}`,
        });
      }
    }
    const specialists = status.instances.filter((i) => i.role === 'specialist' && i.branch);
    const specialistBranches = await Promise.all(
      specialists.map(async (s) => ({
        branch: s.branch!,
        merged: await git.isMerged(repo, s.branch!, 'main'),
      })),
    );
    const mergedCommits = await git.commitsAhead(repo, 'main', initial, { noMerges: true });
    const discoveries = (await api.request<unknown[]>('GET', `/knowledge/entries?run=${run.id}`)).length;
    const screen = await api.request<{ text: string }>('GET', `/instances/${executive.id}/read`);
    const executiveReport =
      screen.text
        .split('\n')
        .map((l) => l.slice(l.search(/(ALL DONE|RUN FAILED):/)))
        .filter((l) => /^(ALL DONE|RUN FAILED):/.test(l))
        .at(-1) ?? null;
    if (!opts.keep) {
      await api.request('POST', `/instances/${executive.id}/kill`, { cascade: true });
      progress(`stopped the organisation of ${run.id}`);
    }
    const final = await api.request<RunStatus>('GET', `/runs/${run.id}`);
    const messages = (await api.request<unknown[]>('GET', `/messages?run=${run.id}`)).length;
    return {
      runId: run.id,
      repo,
      targetBranch: 'main',
      instances: final.instances.map((i) => ({
        id: i.id,
        role: i.role,
        parentId: i.parentId,
        state: i.state,
        branch: i.branch,
        name: i.name,
      })),
      messages,
      mergedCommits,
      specialistBranches,
      discoveries,
      executiveReport,
      modelRequests: model.requests,
      wallSeconds: Math.round((Date.now() - started) / 100) / 10,
      kept: opts.keep,
    };
  } finally {
    await model.close();
  }
}

function describe(e: AuditEvent, depth: Map<string, number>): string | null {
  const indent = (id: string | null): string => '  '.repeat(id ? (depth.get(id) ?? 0) : 0);
  switch (e.kind) {
    case 'instance.spawned': {
      const d = e.data.parentId ? (depth.get(e.data.parentId) ?? 0) + 1 : 0;
      if (e.instanceId) depth.set(e.instanceId, d);
      return `${indent(e.instanceId)}+ ${e.instanceId} (${e.data.role})${e.data.branch ? ` on ${e.data.branch}` : ''}`;
    }
    case 'git.merged':
      return `${indent(e.actor)}  ${e.actor} merged ${e.data.source} into ${e.data.into} (${e.data.commits} commits)`;
    case 'message.delivered':
      return null;
    case 'task.claimed':
      return `${indent(e.actor)}  ${e.actor} claimed task ${e.data.taskId} (epoch ${e.data.epoch})`;
    case 'task.completed':
      return `${indent(e.actor)}  ${e.actor} completed task ${e.data.taskId}`;
    case 'knowledge.recorded':
      return `${indent(e.actor)}  ${e.actor} recorded "${e.data.key}"`;
    case 'instance.terminated':
      return `${indent(e.instanceId)}- ${e.instanceId} terminated${e.data.worktreeKept ? ' (worktree kept: unmerged work)' : ''}`;
    case 'instance.state':
      return e.data.to === 'dead'
        ? `${indent(e.instanceId)}! ${e.instanceId} died: ${e.data.reason ?? ''}`
        : null;
    default:
      return null;
  }
}
