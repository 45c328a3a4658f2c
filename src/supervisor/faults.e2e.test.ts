import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../core/index.js';
import type { InstanceView, TaskView } from '../mcp/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../scripted-model/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, callJson, mcpClient, sampleRepo, tokenOf } from '../testing/org-helpers.js';

/**
 * The fault-injection suite: for each fault — kill -9 of an agent mid-task, a hung model, the tmux server
 * killed, kill -9 of the supervisor, an agent left on a permission dialog — the fault is detected, the agent
 * recovered or escalated, its task completed exactly once by someone, and a message sent to it before the
 * fault is not lost. The test acts as the executive: it hands one task to execute_parallel and watches.
 */

interface Org {
  h: CliHarness;
  exec: Client;
  execId: string;
  runId: string;
  env: Record<string, string>;
}

const LONG = 120_000;

async function events(h: CliHarness): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  for (;;) {
    const page = await api<AuditEvent[]>(h, 'GET', `/events?after=${all.at(-1)?.seq ?? 0}`);
    all.push(...page);
    if (page.length < 1000) return all;
  }
}

function dataOf<T>(e: AuditEvent): T {
  return e.data as T;
}

async function instances(h: CliHarness): Promise<InstanceView[]> {
  return api<InstanceView[]>(h, 'GET', '/instances');
}

async function task(o: Org, id: string): Promise<TaskView> {
  const t = (await api<{ tasks: TaskView[] }>(o.h, 'GET', `/tasks?run=${o.runId}`)).tasks.find(
    (x) => x.id === id,
  );
  assert.ok(t, `task ${id} exists`);
  return t;
}

/** One task through execute_parallel; `knobs` go into its description as a ```scripted block. */
async function runTask(o: Org, name: string, knobs: Record<string, unknown>): Promise<string> {
  const description =
    `Write ${name}.txt.\n\`\`\`task\n` +
    JSON.stringify({ name, files: [{ path: `${name}.txt`, content: `${name}\n` }], commit: `add ${name}` }) +
    `\n\`\`\`\n\`\`\`scripted ${JSON.stringify(knobs)}\`\`\``;
  const res = await callJson<{ tasks: Array<{ task_id: string }> }>(o.exec, 'execute_parallel', {
    tasks: [{ name, title: `add ${name}`, description, files: [`${name}.txt`] }],
  });
  return res.tasks[0]!.task_id;
}

/** Waits until the task is claimed; returns its holder. */
async function claimedBy(o: Org, taskId: string): Promise<InstanceView> {
  const t = await eventually(
    `task ${taskId} to be claimed`,
    async () => {
      const x = await task(o, taskId);
      return x.state === 'claimed' ? x : null;
    },
    LONG,
  );
  return (await instances(o.h)).find((i) => i.id === t.owner)!;
}

/** A message that asks for an ack, from the executive to the victim, sent before the fault. */
async function sendBeforeFault(o: Org, to: string): Promise<string> {
  const r = await callJson<{ message_id: string }>(o.exec, 'send_message', {
    to,
    body: `important news for ${to}`,
    requires_ack: true,
  });
  return r.message_id;
}

/** The task ends done, completed once (one task.completed event); returns who completed it. */
async function doneOnce(o: Org, taskId: string): Promise<string> {
  const done = await eventually(
    `task ${taskId} to be done`,
    async () => {
      const x = await task(o, taskId);
      return x.state === 'done' ? x : null;
    },
    LONG,
  );
  const completions = (await events(o.h)).filter(
    (e) => e.kind === 'task.completed' && dataOf<{ taskId: string }>(e).taskId === taskId,
  );
  assert.equal(completions.length, 1, 'completed exactly once');
  return done.owner!;
}

/** The message landed in the turn of one of `recipients` (delivered or acked), and nowhere went dead. */
async function notLost(o: Org, messageId: string, recipients: readonly string[]): Promise<string> {
  const rows = await eventually(
    `message ${messageId} to be delivered`,
    async () => {
      const all = (
        await api<Array<{ id: string; to: string; state: string }>>(
          o.h,
          'GET',
          `/messages?run=${o.runId}&limit=100000`,
        )
      ).filter((r) => r.id === messageId);
      return all.some((r) => r.state === 'delivered' || r.state === 'acked') ? all : null;
    },
    LONG,
  );
  assert.ok(
    rows.every((r) => r.state !== 'dead'),
    `never dead-lettered: ${JSON.stringify(rows)}`,
  );
  const landed = rows.find((r) => r.state === 'delivered' || r.state === 'acked')!;
  assert.ok(recipients.includes(landed.to), `delivered to ${landed.to}, one of ${recipients.join(', ')}`);
  return landed.to;
}

describe('fault injection: each fault is detected and recovered or escalated; the task is done once; no message is lost', () => {
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

  /** A run with an idle executive (the test acts with its token) on the scripted model. */
  async function start(env: Record<string, string> = {}): Promise<Org> {
    const h = new CliHarness();
    harnesses.push(h);
    const repo = await sampleRepo(h);
    const fullEnv = { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test', ...env };
    const res = await h.json<{ run: { id: string }; executive: { id: string; tmuxSession: string } }>(
      ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo],
      { env: fullEnv },
    );
    const exec = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, res.executive.tmuxSession));
    clients.push(exec);
    return { h, exec, execId: res.executive.id, runId: res.run.id, env: fullEnv };
  }

  const died = async (o: Org, id: string) =>
    eventually(
      `${id} to be detected dead`,
      async () =>
        (await events(o.h)).some(
          (e) =>
            e.kind === 'instance.state' && e.instanceId === id && dataOf<{ to: string }>(e).to === 'dead',
        ),
      LONG,
    );

  it('kill -9 of a specialist mid-task: its successor inherits task, mail and a briefing on the attempt', async () => {
    const o = await start();
    // Slow answers for the first attempt only, so the kill lands between its claim and its completion.
    const taskId = await runTask(o, 'killed', { firstAttempt: { delayMs: 1500 } });
    const victim = await claimedBy(o, taskId);
    const messageId = await sendBeforeFault(o, victim.id);
    process.kill(victim.pid!, 'SIGKILL');

    await died(o, victim.id);
    const doneBy = await doneOnce(o, taskId);
    assert.notEqual(doneBy, victim.id);
    assert.equal(await notLost(o, messageId, [doneBy]), doneBy, 'the successor got the message');
    const requeued = (await events(o.h)).find(
      (e) => e.kind === 'message.requeued' && e.instanceId === doneBy,
    );
    assert.match(
      dataOf<{ reason: string }>(requeued!).reason,
      new RegExp(`from ${victim.id} to its successor ${doneBy}`),
    );
    const briefing = readFileSync(join(o.h.paths.instances, doneBy, 'system-prompt.md'), 'utf8');
    assert.match(briefing, /Earlier attempts:/);
    assert.match(briefing, new RegExp(`${victim.id} died on it`));
  });

  it('kill -9 under the per-role replace policy: a successor (not a restart) takes over task and mail', async () => {
    const o = await start({ TMUX_CLAUDE_RECOVERY: 'specialist.onDeath=replace,specialist.backoffS=0' });
    const created = (
      await callJson<{ task: { id: string } }>(o.exec, 'create_task', {
        title: 'add policy',
        files: ['policy.txt'],
      })
    ).task;
    const prompt =
      `Task id: ${created.id}\nTitle: add policy\n\`\`\`task\n` +
      JSON.stringify({ files: [{ path: 'policy.txt', content: 'policy\n' }], commit: 'add policy' }) +
      `\n\`\`\`\n\`\`\`scripted {"firstAttempt": {"delayMs": 1500}}\`\`\``;
    const spawned = await callJson<{ id: string }>(o.exec, 'spawn', {
      role: 'specialist',
      name: 'policy',
      prompt,
    });
    const victim = await claimedBy(o, created.id);
    assert.equal(victim.id, spawned.id);
    const messageId = await sendBeforeFault(o, victim.id);
    process.kill(victim.pid!, 'SIGKILL');

    await died(o, victim.id);
    const replaced = await eventually(
      'the replace recovery naming a successor',
      async () =>
        (await events(o.h)).find(
          (e) =>
            e.kind === 'instance.recovery' &&
            e.instanceId === victim.id &&
            dataOf<{ action: string }>(e).action === 'replace',
        ) ?? null,
      LONG,
    );
    const successor = dataOf<{ successor: string }>(replaced).successor;
    assert.ok(successor && successor !== victim.id);
    assert.equal(await doneOnce(o, created.id), successor, 'the successor completed the task');
    assert.equal(await notLost(o, messageId, [successor]), successor);
    const all = await instances(o.h);
    assert.equal(
      all.find((i) => i.id === victim.id)?.state,
      'dead',
      'the dead one is not restarted in place',
    );
    assert.equal(all.find((i) => i.id === successor)?.parentId, o.execId);
    assert.ok(
      !(await events(o.h)).some((e) => e.kind === 'instance.restarted' && e.instanceId === victim.id),
      'no restart in place',
    );
  });

  it('a hung model: stuck, nudged and interrupted in vain, then replaced; the successor does the task', async () => {
    const o = await start({ TMUX_CLAUDE_RECOVERY: 'specialist.stuckAfterS=1' });
    // Its model never answers the first specialist: it sits in a turn with its task assigned, unclaimed.
    const taskId = await runTask(o, 'hung', { firstAttempt: { delayMs: 600_000 } });
    const victim = await eventually(
      'the specialist to be started for the task',
      async () => (await instances(o.h)).find((i) => i.role === 'specialist' && i.state === 'busy') ?? null,
      LONG,
    );
    const messageId = await sendBeforeFault(o, victim.id);

    const doneBy = await doneOnce(o, taskId);
    assert.notEqual(doneBy, victim.id);
    const actions = (await events(o.h))
      .filter((e) => e.kind === 'instance.recovery' && e.instanceId === victim.id)
      .map((e) => dataOf<{ action: string }>(e).action);
    assert.deepEqual(actions.slice(0, 2), ['nudge', 'interrupt'], 'the ladder ran first');
    assert.equal(actions.at(-1), 'replace');
    assert.equal(await notLost(o, messageId, [victim.id, doneBy]), doneBy, 'the successor got the message');
  });

  it('the tmux server killed mid-task: every instance is detected dead; the task is done once by a successor', async () => {
    const o = await start();
    const taskId = await runTask(o, 'server', { firstAttempt: { delayMs: 1500 } });
    const victim = await claimedBy(o, taskId);
    const messageId = await sendBeforeFault(o, victim.id);
    const kill = spawnSync('tmux', ['-L', o.h.paths.tmuxSocket, 'kill-server']);
    assert.equal(kill.status, 0, kill.stderr.toString());

    await died(o, victim.id);
    await died(o, o.execId);
    const doneBy = await doneOnce(o, taskId);
    assert.notEqual(doneBy, victim.id);
    assert.equal(await notLost(o, messageId, [doneBy]), doneBy);
    await eventually(
      'the executive to be restarted',
      async () => (await instances(o.h)).find((i) => i.id === o.execId)?.state === 'idle',
      LONG,
    );
  });

  it('kill -9 of the supervisor mid-task: the restarted one adopts the agent, which finishes; nothing duplicated', async () => {
    const o = await start();
    const taskId = await runTask(o, 'adopted', { firstAttempt: { delayMs: 1500 } });
    const victim = await claimedBy(o, taskId);
    const messageId = await sendBeforeFault(o, victim.id);
    const old = o.h.supervisorInfo()!;
    process.kill(old.pid, 'SIGKILL');
    const up = await o.h.run(['up'], { env: o.env });
    assert.equal(up.code, 0, up.stderr);
    assert.notEqual(o.h.supervisorInfo()!.pid, old.pid);

    assert.equal(await doneOnce(o, taskId), victim.id, 'the adopted agent finished its own task');
    assert.equal(await notLost(o, messageId, [victim.id]), victim.id);
    const all = await events(o.h);
    const restarted = all.filter((e) => e.kind === 'supervisor.started').at(-1)!;
    assert.ok(dataOf<{ adopted: string[] }>(restarted).adopted.includes(victim.id), 'adopted, not lost');
    const forTask = (await instances(o.h)).filter((i) => i.role === 'specialist');
    assert.equal(forTask.length, 1, 'no second specialist was started');
    assert.ok(
      !all.some(
        (e) =>
          e.kind === 'instance.state' &&
          e.instanceId === victim.id &&
          dataOf<{ to: string }>(e).to === 'dead',
      ),
    );
  });

  it('an agent left on a permission dialog: blocked, parent told, its lease released; another completes; its late completion is refused', async () => {
    const o = await start({ TMUX_CLAUDE_RECOVERY: 'specialist.stuckAfterS=1' });
    const outsideDir = mkdtempSync(join(tmpdir(), 'tc-outside-'));
    o.h.track(outsideDir);
    const outside = join(outsideDir, 'x.txt');
    const taskId = await runTask(o, 'dialog', {
      firstAttempt: { tryEdit: outside, tryTool: 'write_file', tryEditAfterClaim: true },
    });
    const victim = await claimedBy(o, taskId);
    const held = await task(o, taskId);
    await eventually(
      'the specialist to be blocked on the dialog',
      async () => (await instances(o.h)).find((i) => i.id === victim.id)?.state === 'blocked',
      LONG,
    );
    const messageId = await sendBeforeFault(o, victim.id);
    const doneBy = await doneOnce(o, taskId);
    assert.notEqual(doneBy, victim.id);
    const all = await events(o.h);
    assert.ok(
      all.some(
        (e) =>
          e.kind === 'instance.recovery' &&
          e.instanceId === victim.id &&
          dataOf<{ action: string }>(e).action === 'release',
      ),
      'its lease was released',
    );
    const told = (
      await api<Array<{ from: string; to: string; subject: string | null }>>(
        o.h,
        'GET',
        `/messages?run=${o.runId}&to=${o.execId}&limit=100000`,
      )
    ).filter((m) => m.from === 'supervisor' && m.subject === 'blocked');
    assert.ok(told.length >= 2, 'the parent heard at once, and again when the lease went');
    assert.ok(!existsSync(outside), 'nothing written while the dialog waits');

    // Someone answers the dialog at last: the agent goes on and tries to complete the task it lost.
    spawnSync('tmux', [
      '-L',
      o.h.paths.tmuxSocket,
      'send-keys',
      '-t',
      `=${victim.tmuxSession}:`,
      'y',
      'Enter',
    ]);
    await notLost(o, messageId, [victim.id]);
    await api(o.h, 'POST', `/instances/${victim.id}/send`, { text: 'go on with your task' });
    const refusal = await eventually(
      'the late completion to be refused',
      async () =>
        (await events(o.h)).find(
          (e) =>
            e.kind === 'task.refused' &&
            e.actor === victim.id &&
            dataOf<{ taskId: string }>(e).taskId === taskId,
        ) ?? null,
      LONG,
    );
    assert.equal(dataOf<{ epoch: number }>(refusal).epoch, held.epoch);
    const final = await task(o, taskId);
    assert.deepEqual([final.state, final.owner], ['done', doneBy], 'still done once, by the other');
  });

  it('restart counts survive kill -9 of the supervisor: the per-role cap still holds afterwards', async () => {
    const o = await start({ TMUX_CLAUDE_RECOVERY: 'specialist.restartLimit=1,specialist.backoffS=0' });
    const spawned = await callJson<{ id: string }>(o.exec, 'spawn', { role: 'specialist', name: 'capped' });
    const idleWithNewPid = (than?: number) =>
      eventually(
        `${spawned.id} to be idle${than ? ' again, restarted' : ''}`,
        async () => {
          const i = (await instances(o.h)).find((x) => x.id === spawned.id);
          return i?.state === 'idle' && i.pid && i.pid !== than ? i : null;
        },
        LONG,
      );
    const first = await idleWithNewPid();
    process.kill(first.pid!, 'SIGKILL');
    const second = await idleWithNewPid(first.pid!);

    const old = o.h.supervisorInfo()!;
    process.kill(old.pid, 'SIGKILL');
    const up = await o.h.run(['up'], { env: o.env });
    assert.equal(up.code, 0, up.stderr);
    process.kill(second.pid!, 'SIGKILL');

    const actions = async () =>
      (await events(o.h))
        .filter((e) => e.kind === 'instance.recovery' && e.instanceId === spawned.id)
        .map((e) => dataOf<{ action: string }>(e).action);
    await eventually('the supervisor to give up', async () => (await actions()).includes('gave-up'), LONG);
    assert.deepEqual(await actions(), ['restart', 'gave-up'], 'one restart in all, across both supervisors');
    assert.equal((await instances(o.h)).find((x) => x.id === spawned.id)?.state, 'dead');
  });
});
