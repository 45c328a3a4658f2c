import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ConfigSchema,
  TmuxClaudeError,
  silentLogger,
  type EventInput,
  type Instance,
  type Role,
} from '../core/index.js';
import { SqliteStore } from '../store/index.js';
import { Budgets, parseLimits } from './budgets.js';
import { limitReport, resetFromText } from './rate-limits.js';
import { testInstance } from '../testing/instances.js';

function instance(
  id: string,
  role: Role,
  parentId: string | null,
  state: Instance['state'] = 'idle',
): Instance {
  return testInstance({ id, role, parentId, state, name: id, createdAt: 0, updatedAt: 0 });
}

function setup(prices?: Record<string, { input: number; output: number }>) {
  const store = new SqliteStore(':memory:');
  const events: EventInput[] = [];
  const told: Array<{ to: string; body: string; subject: string }> = [];
  const resumed: string[] = [];
  const config = ConfigSchema.parse({
    home: '/tmp/x',
    store: 'sqlite',
    host: 'h1',
    ...(prices ? { prices } : {}),
  });
  const budgets = new Budgets({
    store,
    config,
    log: silentLogger(),
    emit: async (e) => void events.push(e),
    tell: async (to, body, subject) => void told.push({ to, body, subject }),
    resumed: async (root) => void resumed.push(root),
  });
  const add = async (i: Instance): Promise<Instance> => {
    await store.instances.create(i);
    return i;
  };
  /** Spawns through admission, as the organisation's launch does. */
  const spawn = async (parent: Instance, id: string, role: Role, limits?: Record<string, number>) => {
    const a = await budgets.admit(parent, 'run-1', { id, role, name: id }, limits, parent.id);
    const child = await add(instance(id, role, parent.id));
    await a.release();
    return child;
  };
  return { store, budgets, events, told, resumed, add, spawn, close: () => (budgets.close(), store.close()) };
}

async function refusal(p: Promise<unknown>): Promise<TmuxClaudeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TmuxClaudeError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('budget limits', () => {
  it('accept positive numbers by either name and refuse zero, negative, non-numeric, unknown and empty', () => {
    assert.deepEqual(parseLimits({ max_tokens: 1000, maxInstances: 3, max_minutes: 1.5 }), {
      maxTokens: 1000,
      maxInstances: 3,
      maxMinutes: 1.5,
    });
    assert.deepEqual(parseLimits({ maxTokens: '200' }), { maxTokens: 200 });
    for (const [bad, pattern] of [
      [{ max_tokens: 0 }, /max_tokens must be a positive integer \(tokens\), got 0/],
      [{ max_tokens: -5 }, /got -5/],
      [{ max_tokens: 'abc' }, /got "abc"/],
      [{ max_instances: 2.5 }, /max_instances must be a positive integer/],
      [{ max_cost: -1 }, /max_cost must be a positive number/],
      [{ max_tokens: null }, /got null/],
      [{ tokens: 5 }, /unknown limit "tokens"/],
      [{}, /give at least one limit/],
      [[1], /expected an object/],
    ] as const) {
      const err = (() => {
        try {
          parseLimits(bad);
        } catch (e) {
          return e as TmuxClaudeError;
        }
        return null;
      })();
      assert.ok(err, JSON.stringify(bad));
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, pattern);
    }
  });
});

describe('budgets', () => {
  it('cap live instances and depth below a root; a terminated child frees its slot', async () => {
    const t = setup();
    try {
      const exec = await t.add(instance('exe-1', 'executive', null));
      const mgr = await t.spawn(exec, 'mgr-1', 'manager', { maxInstances: 3 });
      for (const id of ['spc-1', 'spc-2', 'spc-3']) await t.spawn(mgr, id, 'specialist');
      const err = await refusal(t.spawn(mgr, 'spc-4', 'specialist'));
      assert.equal(err.code, 'CONFLICT');
      assert.match(err.message, /allows 3 live instance\(s\) below mgr-1 and 3 are live/);
      assert.equal(err.details?.budget, true);
      assert.equal(await t.budgets.capacity('mgr-1', 'run-1'), 0);
      await t.store.instances.update('spc-2', { state: 'terminated' });
      assert.equal(await t.budgets.capacity('mgr-1', 'run-1'), 1);
      await t.spawn(mgr, 'spc-4', 'specialist');
      assert.ok(t.events.some((e) => e.kind === 'budget.refused'));

      const run = await t.add(instance('exe-2', 'executive', null));
      await t.budgets.createForRun('exe-2', 'run-1', { maxDepth: 1 });
      const m2 = await t.spawn(run, 'mgr-2', 'manager');
      const deep = await refusal(t.spawn(m2, 'spc-9', 'specialist'));
      assert.match(deep.message, /2 level\(s\) below exe-2; the budget of exe-2 .* allows max_depth 1/);
      const batch = await refusal(t.budgets.checkBatch(m2));
      assert.match(batch.message, /execute_parallel can never run/);
    } finally {
      await t.close();
    }
  });

  it('carve a child budget out of what the parent has left, and refuse a larger one without changing anything', async () => {
    const t = setup();
    try {
      const exec = await t.add(instance('exe-1', 'executive', null));
      await t.budgets.createForRun('exe-1', 'run-1', { maxTokens: 10_000, maxInstances: 5 });
      await t.budgets.recordUsage('exe-1', { input_tokens: 1_000 });
      await t.spawn(exec, 'mgr-a', 'manager', { maxTokens: 6_000 });
      // 10,000 − 1,000 used − 6,000 set aside for mgr-a = 3,000 left.
      const err = await refusal(t.spawn(exec, 'mgr-b', 'manager', { maxTokens: 3_001 }));
      assert.match(err.message, /max_tokens 3,001 exceeds the 3,000 tokens the budget of exe-1/);
      const many = await refusal(t.spawn(exec, 'mgr-c', 'manager', { maxInstances: 4 }));
      assert.match(many.message, /max_instances 4 \(plus itself\) exceeds the 4 instance\(s\)/);
      assert.equal(await t.store.instances.get('mgr-b'), null, 'the refused child was not created');
      assert.equal(await t.budgets.get('mgr-b'), null, 'nor its budget');
      await t.spawn(exec, 'mgr-b', 'manager', { maxTokens: 3_000 });
      // An agent's raise is carved too; the user's is not limited.
      const mgrA = (await t.store.instances.get('mgr-a'))!;
      const raise = await refusal(t.budgets.set(exec, mgrA, { maxTokens: 6_001 }));
      assert.match(raise.message, /cannot set the budget of mgr-a/);
      assert.equal((await t.budgets.get('mgr-a'))!.limits.maxTokens, 6_000, 'unchanged');
      const view = await t.budgets.set(null, mgrA, { maxTokens: 50_000 });
      assert.equal(view.limits.maxTokens, 50_000);
    } finally {
      await t.close();
    }
  });

  it('warn the root at 80 %, pause at 100 % (parent told), and resume when raised', async () => {
    const t = setup();
    try {
      const exec = await t.add(instance('exe-1', 'executive', null));
      const mgr = await t.spawn(exec, 'mgr-1', 'manager', { maxTokens: 1_000 });
      const spc = await t.spawn(mgr, 'spc-1', 'specialist');
      await t.budgets.recordUsage(spc.id, { input_tokens: 700, output_tokens: 50 });
      assert.equal(t.told.length, 0);
      await t.budgets.recordUsage(spc.id, { output_tokens: 60, cache_read_input_tokens: 0 });
      assert.deepEqual(
        t.told.map((m) => [m.to, m.subject]),
        [['mgr-1', 'budget.warning']],
      );
      await t.budgets.recordUsage(spc.id, { output_tokens: 10 });
      assert.equal(t.told.length, 1, 'warned once');
      await t.budgets.recordUsage(spc.id, { input_tokens: 200 });
      assert.deepEqual(t.told[1]?.to, 'exe-1');
      assert.equal(t.told[1]?.subject, 'budget.paused');
      assert.match(t.told[1]!.body, /used tokens 1,020 used of 1,000.*set_budget.*terminate/s);
      assert.equal((await t.budgets.pausedOver('spc-1'))?.root, 'mgr-1');
      assert.equal(await t.budgets.pausedOver('exe-1'), null, 'the parent is not paused');
      const claim = await refusal(t.budgets.assertNotPaused('spc-1', 'claim_task'));
      assert.match(claim.message, /^paused: budget exhausted \(the budget of mgr-1/);
      assert.equal(await t.budgets.capacity('mgr-1', 'run-1'), 0);
      const spawn = await refusal(t.spawn(mgr, 'spc-2', 'specialist'));
      assert.match(spawn.message, /paused: budget exhausted/);

      // Raised above its use: it resumes; raised too little: it stays paused.
      await t.budgets.set(exec, mgr, { maxTokens: 1_010 });
      assert.ok(await t.budgets.pausedOver('spc-1'));
      await t.budgets.set(exec, mgr, { maxTokens: 5_000 });
      assert.equal(await t.budgets.pausedOver('spc-1'), null);
      assert.deepEqual(t.resumed, ['mgr-1']);
      const kinds = t.events.map((e) => e.kind).filter((k) => k.startsWith('budget.'));
      for (const k of ['budget.set', 'budget.warning', 'budget.paused', 'budget.resumed', 'budget.refused']) {
        assert.ok(kinds.includes(k as never), `${k} in ${kinds.join(', ')}`);
      }
      const [view] = await t.budgets.list();
      assert.equal(view?.root, 'mgr-1');
      assert.equal(view?.used.tokens, 1_020);
      assert.equal(view?.used.instances, 1);
    } finally {
      await t.close();
    }
  });

  it('count cost from the price table and Claude Code transcripts (each message once)', async () => {
    const t = setup({ 'claude-x': { input: 3, output: 15 }, '*': { input: 1, output: 1 } });
    const dir = mkdtempSync(join(tmpdir(), 'tc-budget-'));
    try {
      const exec = await t.add(instance('exe-1', 'executive', null));
      await t.budgets.createForRun('exe-1', 'run-1', { maxCost: 100 });
      await t.budgets.recordUsage(exec.id, {
        input_tokens: 1_000_000,
        output_tokens: 0,
        model: 'claude-x-1',
      });
      const path = join(dir, 't.jsonl');
      const line = (id: string, out: number) =>
        JSON.stringify({
          type: 'assistant',
          message: { id, model: 'other', usage: { input_tokens: 100, output_tokens: out } },
        });
      writeFileSync(path, [line('m1', 5), line('m1', 10), '{"type":"user"}', line('m2', 1), ''].join('\n'));
      await t.budgets.recordTranscript(exec.id, path);
      await t.budgets.recordTranscript(exec.id, path);
      const u = await t.budgets.usageOf(exec.id);
      assert.equal(u.inputTokens, 1_000_200);
      assert.equal(u.outputTokens, 11);
      assert.ok(Math.abs(u.cost - (3 + 211 / 1_000_000)) < 1e-9, String(u.cost));
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rate-limit reports', () => {
  it('read StopFailure payloads of Claude Code and the light runtime', () => {
    const now = 1_000;
    assert.deepEqual(limitReport({ error: 'rate_limit', error_details: '429 slow down' }, now), {
      kind: 'rate_limit',
      reason: 'rate_limit: 429 slow down',
      until: null,
    });
    assert.equal(
      limitReport({ error: 'rate_limit', reset_at: '1970-01-01T00:00:05.000Z' }, now)?.until,
      5_000,
    );
    assert.equal(limitReport({ error: 'overloaded', retry_after: 3 }, now)?.until, 4_000);
    assert.equal(limitReport({ error: '529 Overloaded' }, now)?.kind, 'overloaded');
    assert.equal(limitReport({ error: 'authentication_failed' }, now), null);
    assert.equal(limitReport({ error: 'Connection error.' }, now), null);
  });

  it('read the reset time Claude Code names in its limit message', () => {
    // 2026-11-24 10:00 UTC = 11:00 in Berlin = 05:00 in New York.
    const now = Date.UTC(2026, 10, 24, 10, 0);
    const at = (h: number, m = 0, day = 24) => Date.UTC(2026, 10, day, h, m);
    const report = limitReport(
      {
        error: 'rate_limit',
        last_assistant_message: "You've hit your limit · resets 3pm (Europe/Berlin)",
      },
      now,
    );
    assert.equal(report?.until, at(14));
    assert.equal(resetFromText('5-hour limit reached ∙ resets 5:30pm (America/New_York)', now), at(22, 30));
    // Already past today in that zone: tomorrow.
    assert.equal(resetFromText('Your limit will reset at 4am (America/New_York)', now), at(9, 0, 25));
    assert.equal(resetFromText('resets 12am (UTC)', now), at(0, 0, 25));
    assert.equal(resetFromText('resets 12pm (UTC)', now), at(12));
    assert.equal(resetFromText('limit resets at 14:05 (Etc/UTC)', now), at(14, 5));
    assert.equal(resetFromText('Claude AI usage limit reached|1795600000', now), 1_795_600_000_000);
    // An unknown zone falls back to the supervisor's own; no time, no reset.
    assert.ok((resetFromText('resets 3pm (Mars/Olympus)', now) ?? 0) > now);
    for (const text of ['resets soon', 'resets 3', 'resets 13pm', 'resets 10:75', 'rate limited']) {
      assert.equal(resetFromText(text, now), null, text);
    }
  });
});
