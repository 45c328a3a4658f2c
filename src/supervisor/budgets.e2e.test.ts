import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../core/index.js';
import type { InstanceView, TaskView } from '../mcp/index.js';
import {
  createScriptedModelServer,
  type ManagerPlan,
  type ScriptedModelServer,
} from '../scripted-model/index.js';
import type { BudgetRow } from '../cli/output.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, callJson, callRefused, mcpClient, sampleRepo, tokenOf } from '../testing/org-helpers.js';
import type { RunStatus } from './organisation.js';

const LONG = 180_000;

interface Spawned {
  id: string;
  tmuxSession: string;
}

async function events(h: CliHarness): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  for (;;) {
    const page = await api<AuditEvent[]>(h, 'GET', `/events?after=${all.at(-1)?.seq ?? 0}`);
    all.push(...page);
    if (page.length < 1000) return all;
  }
}

const dataOf = <T>(e: AuditEvent): T => e.data as T;

async function instances(h: CliHarness): Promise<InstanceView[]> {
  return api<InstanceView[]>(h, 'GET', '/instances');
}

async function tasksOf(h: CliHarness, runId: string): Promise<TaskView[]> {
  return (await api<{ tasks: TaskView[] }>(h, 'GET', `/tasks?run=${runId}`)).tasks;
}

/** A manager plan of `n` one-file tasks. */
function plan(name: string, n: number, extra: Partial<ManagerPlan> = {}): ManagerPlan {
  return {
    name,
    specialists: Array.from({ length: n }, (_, i) => ({
      name: `${name}-${i}`,
      files: [{ path: `${name}/f${i}.txt`, content: `file ${i}\n` }],
      commit: `add ${name} file ${i}`,
    })),
    ...extra,
  };
}

/** Waits until every manager is terminated and nothing moves any more. */
async function finished(h: CliHarness, runId: string): Promise<RunStatus> {
  return eventually(
    'the run to finish',
    async () => {
      const s = await api<RunStatus>(h, 'GET', `/runs/${runId}`);
      const managers = s.instances.filter((i) => i.role === 'manager');
      return s.quiescent && managers.length > 0 && managers.every((m) => m.state === 'terminated') ? s : null;
    },
    LONG,
  );
}

/** The most specialists of a manager alive at once, from the audit trail. */
function peakLive(log: readonly AuditEvent[], managerId: string): number {
  const mine = new Set<string>();
  const live = new Set<string>();
  let peak = 0;
  for (const e of log) {
    if (e.kind === 'instance.spawned' && dataOf<{ parentId: string | null }>(e).parentId === managerId) {
      mine.add(e.instanceId!);
      live.add(e.instanceId!);
      peak = Math.max(peak, live.size);
    }
    if (e.instanceId && mine.has(e.instanceId)) {
      const to = e.kind === 'instance.state' ? dataOf<{ to: string }>(e).to : null;
      if (e.kind === 'instance.terminated' || to === 'dead' || to === 'terminated') live.delete(e.instanceId);
    }
  }
  return peak;
}

describe('budgets and rate limits (light runtime on the scripted model)', () => {
  let model: ScriptedModelServer;
  const harnesses: CliHarness[] = [];
  const clients: Client[] = [];
  before(async () => {
    model = await createScriptedModelServer();
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const h of harnesses) await h.cleanup();
    await model?.close();
  });

  const env = (): Record<string, string> => ({ ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test' });

  /** A run whose executive follows `managers` (none: it idles and the test acts with its token). */
  async function start(managers: ManagerPlan[], args: string[] = [], extraEnv: Record<string, string> = {}) {
    const h = new CliHarness();
    harnesses.push(h);
    const repo = await sampleRepo(h);
    const goal = `Budget test.\n\`\`\`plan\n${JSON.stringify({ managers })}\n\`\`\``;
    const res = await h.json<{ run: { id: string }; executive: Spawned }>(
      ['run', goal, '--repo', repo, ...args],
      { env: { ...env(), ...extraEnv } },
    );
    const exec = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, res.executive.tmuxSession));
    clients.push(exec);
    return { h, repo, exec, runId: res.run.id, execId: res.executive.id };
  }

  async function as(h: CliHarness, s: Spawned): Promise<Client> {
    const c = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, s.tmuxSession));
    clients.push(c);
    return c;
  }

  it('a manager whose budget allows 3 specialists cannot start a 4th; bad budgets are refused and change nothing', async () => {
    const o = await start([], ['--max-tokens', '50000000', '--max-instances', '20']);
    const mgr = await callJson<Spawned>(o.exec, 'spawn', {
      role: 'manager',
      name: 'capped',
      budget: { max_instances: 3 },
    });
    const asMgr = await as(o.h, mgr);
    for (const name of ['one', 'two', 'three']) await callJson(asMgr, 'spawn', { role: 'specialist', name });
    const before = (await instances(o.h)).length;
    const refused = await callRefused(asMgr, 'spawn', { role: 'specialist', name: 'four' });
    assert.match(
      refused,
      new RegExp(
        `CONFLICT: cannot spawn specialist "four": the budget of ${mgr.id} \\(manager "capped"\\) allows 3 live instance\\(s\\) below ${mgr.id} and 3 are live`,
      ),
    );
    assert.equal((await instances(o.h)).length, before, 'no fourth instance');

    // Bad budgets: schema and supervisor both refuse; nothing is created.
    for (const [budget, pattern] of [
      [{ max_tokens: -5 }, /max_tokens/],
      [{ max_instances: 0 }, /max_instances/],
      [{ max_tokens: 'lots' }, /max_tokens/],
      [{ max_tokens: 60_000_000 }, /max_tokens 60,000,000 exceeds the [\d,]+ tokens the budget of exec-/],
      [{ max_instances: 30 }, /max_instances 30 \(plus itself\) exceeds the \d+ instance\(s\)/],
    ] as const) {
      assert.match(await callRefused(o.exec, 'spawn', { role: 'manager', name: 'bad', budget }), pattern);
    }
    assert.match(await callRefused(asMgr, 'set_budget', { id: mgr.id, max_tokens: 5 }), /yourself/);
    assert.equal((await instances(o.h)).length, before, 'no instance from a refused spawn');
    const budgets = await o.h.json<BudgetRow[]>(['budget']);
    assert.deepEqual(budgets.map((b) => b.root).sort(), [o.execId, mgr.id].sort());
    assert.equal(budgets.find((b) => b.root === mgr.id)?.used.instances, 3);

    // CLI and API input checks.
    for (const args of [
      ['run', 'x', '--repo', o.repo, '--max-tokens', '-5'],
      ['run', 'x', '--repo', o.repo, '--max-instances', '0'],
      ['run', 'x', '--repo', o.repo, '--max-minutes', 'soon'],
      ['budget', 'raise', mgr.id, '--tokens', '0'],
      ['budget', 'raise', mgr.id],
    ]) {
      const r = await o.h.run(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /must be a positive|at least one limit/, r.stderr);
    }
    const info = o.h.supervisorInfo()!;
    const bad = await fetch(`${info.url}/api/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ goal: 'x', repo: o.repo, budget: { maxTokens: 'x' } }),
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /max_tokens must be a positive integer/);
    assert.equal((await api<unknown[]>(o.h, 'GET', '/budgets')).length, 2, 'no budget from refused input');
  });

  it('execute_parallel with max_active 5 under a budget of 3 runs at most 3 specialists at once', async () => {
    const o = await start([plan('wide', 6, { max_active: 5, budget: { max_instances: 3 } })]);
    await finished(o.h, o.runId);
    const tasks = await tasksOf(o.h, o.runId);
    assert.equal(tasks.length, 6);
    for (const t of tasks) assert.ok(t.state === 'done' && t.merged, `${t.title} done and merged`);
    const log = await events(o.h);
    const mgr = (await instances(o.h)).find((i) => i.role === 'manager')!;
    const peak = peakLive(log, mgr.id);
    assert.ok(peak <= 3, `at most 3 specialists alive at once (peak ${peak})`);
    assert.ok(peak >= 2, `and they ran in parallel (peak ${peak})`);
    assert.ok(
      log.some((e) => e.kind === 'budget.set' && dataOf<{ root: string }>(e).root === mgr.id),
      'the manager got its budget at spawn',
    );
  });

  it('a subtree over its token budget is paused (no claims, no pasted messages, parent told) and resumes when raised', async () => {
    const o = await start([plan('thrifty', 3, { max_active: 1, budget: { max_tokens: 2000 } })]);
    const paused = await eventually(
      'the manager subtree to be paused',
      async () => (await o.h.json<BudgetRow[]>(['budget'])).find((b) => b.state === 'paused') ?? null,
      LONG,
    );
    assert.equal(paused.role, 'manager');
    assert.equal(paused.pausedFor, 'tokens');
    assert.ok(paused.used.tokens >= 2000);
    const mgr = (await instances(o.h)).find((i) => i.id === paused.root)!;

    // Its agents take no new work.
    const asMgr = await as(o.h, mgr);
    assert.match(await callRefused(asMgr, 'claim_task', {}), /paused: budget exhausted \(the budget of mgr-/);
    assert.match(
      await callRefused(asMgr, 'spawn', { role: 'specialist', name: 'extra' }),
      /paused: budget exhausted/,
    );
    // Its messages wait in the store.
    const sent = await api<{ messageId: string; delivered: boolean }>(
      o.h,
      'POST',
      `/instances/${mgr.id}/send`,
      {
        text: 'a note while paused',
        timeoutS: 2,
      },
    );
    assert.equal(sent.delivered, false, 'not pasted while paused');
    // The parent was told, with what it can do.
    const toExec = await api<Array<{ to: string; subject: string | null; body: string }>>(
      o.h,
      'GET',
      `/messages?run=${o.runId}&to=${o.execId}`,
    );
    const notice = toExec.find((m) => m.subject === 'budget.paused');
    assert.ok(notice, 'the executive was told');
    assert.match(notice.body, new RegExp(`subtree of ${mgr.id} .* is paused.*set_budget.*terminate`, 's'));
    const claimedWhilePaused = (await tasksOf(o.h, o.runId)).filter((t) => t.state !== 'ready').length;
    assert.ok(claimedWhilePaused < 3, 'work was left when it paused');

    // Raised: it resumes and finishes.
    const raised = await o.h.json<BudgetRow>(['budget', 'raise', mgr.id, '--tokens', '100000000']);
    assert.equal(raised.state, 'active');
    await finished(o.h, o.runId);
    for (const t of await tasksOf(o.h, o.runId)) assert.ok(t.state === 'done' && t.merged);
    const rows = await api<Array<{ id: string; state: string }>>(
      o.h,
      'GET',
      `/messages?run=${o.runId}&to=${mgr.id}`,
    );
    assert.ok(
      rows.some((r) => r.id === sent.messageId && (r.state === 'delivered' || r.state === 'acked')),
      'the waiting message was delivered after the raise',
    );
    const kinds = (await events(o.h)).map((e) => e.kind);
    for (const k of ['budget.paused', 'budget.resumed', 'budget.refused'])
      assert.ok(kinds.includes(k as never), k);
  });

  it('a scripted rate limit with a reset time is waited out: the lease is held, nobody steals the task, it is done once', async () => {
    const o = await start([], [], { TMUX_CLAUDE_LEASE_TTL_S: '2' });
    const thief = await callJson<Spawned>(o.exec, 'spawn', { role: 'specialist', name: 'thief' });
    const asThief = await as(o.h, thief);
    const description =
      'Write limited.txt.\n```task\n' +
      JSON.stringify({
        name: 'limited',
        files: [{ path: 'limited.txt', content: 'x\n' }],
        commit: 'add limited',
      }) +
      '\n```\n```scripted {"rateLimitAfterClaim": 8}```';
    const res = await callJson<{ tasks: Array<{ task_id: string }> }>(o.exec, 'execute_parallel', {
      tasks: [{ name: 'limited', title: 'add limited', description, files: ['limited.txt'] }],
    });
    const taskId = res.tasks[0]!.task_id;
    const victim = await eventually(
      'the specialist to be blocked by the rate limit',
      async () => (await instances(o.h)).find((i) => i.state === 'blocked' && i.blockedUntil) ?? null,
      LONG,
    );
    assert.match(victim.error ?? '', /rate_limit/);
    const ls = await o.h.run(['ls']);
    assert.match(ls.stdout, new RegExp(`${victim.id} .*blocked until \\d\\d:\\d\\d:\\d\\d`));
    const heldAt = (await tasksOf(o.h, o.runId)).find((t) => t.id === taskId)!;
    assert.equal(heldAt.owner, victim.id);
    const firstExpiry = Date.parse(heldAt.lease_expires_at!);
    // Past the lease's original expiry, still blocked: the supervisor renewed it, so the task is not free.
    await eventually('the original lease expiry to pass', () => Date.now() > firstExpiry + 500, LONG);
    const still = (await instances(o.h)).find((i) => i.id === victim.id)!;
    assert.equal(still.state, 'blocked', 'still waiting for the reset');
    const renewed = (await tasksOf(o.h, o.runId)).find((t) => t.id === taskId)!;
    assert.equal(renewed.state, 'claimed');
    assert.ok(Date.parse(renewed.lease_expires_at!) > firstExpiry, 'the lease was renewed while blocked');
    assert.match(await callRefused(asThief, 'claim_task', { task_id: taskId }), /claimed by|assigned to/);

    const done = await eventually(
      'the task to be done',
      async () => {
        const t = (await tasksOf(o.h, o.runId)).find((x) => x.id === taskId)!;
        return t.state === 'done' ? t : null;
      },
      LONG,
    );
    assert.equal(done.owner, victim.id, 'done by the same instance');
    assert.equal(done.epoch, 1, 'never claimed again');
    const log = await events(o.h);
    assert.equal(
      log.filter((e) => e.kind === 'task.completed' && dataOf<{ taskId: string }>(e).taskId === taskId)
        .length,
      1,
    );
    assert.deepEqual(
      log.filter((e) => e.kind === 'task.released' && dataOf<{ taskId: string }>(e).taskId === taskId),
      [],
      'the lease never lapsed',
    );
    const blocked = log.find((e) => e.kind === 'instance.blocked' && e.instanceId === victim.id);
    assert.ok(
      blocked && dataOf<{ until: number | null }>(blocked).until !== null,
      'blocked with the reset time',
    );
    assert.ok(log.some((e) => e.kind === 'instance.resumed' && e.instanceId === victim.id));
  });
});
