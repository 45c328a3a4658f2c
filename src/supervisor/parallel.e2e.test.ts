import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runCommand, type AuditEvent } from '../core/index.js';
import type { InstanceView, TaskView } from '../mcp/index.js';
import {
  createScriptedModelServer,
  generatedProject,
  overlappingTasks,
  type ManagerPlan,
  type ScriptedModelServer,
} from '../scripted-model/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, sampleRepo } from '../testing/org-helpers.js';
import type { RunStatus } from './organisation.js';

interface Started {
  run: { id: string; targetBranch: string };
}

/** Starts a run whose executive spawns one manager with this plan; returns the run and the repo. */
async function startRun(h: CliHarness, model: ScriptedModelServer, plan: ManagerPlan) {
  const repo = await sampleRepo(h);
  const goal = `Build the generated project.\n\`\`\`plan\n${JSON.stringify({ managers: [plan] })}\n\`\`\``;
  const res = await h.json<Started>(['run', goal, '--repo', repo], {
    env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test' },
  });
  return { repo, runId: res.run.id, target: res.run.targetBranch };
}

/** Waits until the manager is merged and terminated and nothing moves any more. */
async function finished(h: CliHarness, runId: string, timeoutMs: number): Promise<RunStatus> {
  return eventually(
    'the run to finish',
    async () => {
      const s = await api<RunStatus>(h, 'GET', `/runs/${runId}`);
      const managers = s.instances.filter((i) => i.role === 'manager');
      return s.quiescent && managers.length > 0 && managers.every((m) => m.state === 'terminated') ? s : null;
    },
    timeoutMs,
  );
}

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

async function show(repo: string, ref: string, path: string): Promise<string> {
  return (await runCommand(['git', '-C', repo, 'show', `${ref}:${path}`])).stdout;
}

describe('execute_parallel with light-runtime specialists', () => {
  const harnesses: CliHarness[] = [];
  const models: ScriptedModelServer[] = [];
  after(async () => {
    for (const h of harnesses) await h.cleanup();
    for (const m of models) await m.close();
  });

  it('runs a generated project of 40 tasks with overlapping file needs: no merge conflict reaches merge time', async (t) => {
    const h = new CliHarness();
    harnesses.push(h);
    const model = await createScriptedModelServer();
    models.push(model);
    const plan = generatedProject({ tasks: 40, seed: 7 });
    const overlapping = overlappingTasks(plan);
    assert.ok(overlapping.length >= 8, 'the project has real overlapping file needs');
    const started = Date.now();
    const { repo, runId, target } = await startRun(h, model, plan);
    await finished(h, runId, 600_000);

    const tasks = (await api<{ tasks: TaskView[] }>(h, 'GET', `/tasks?run=${runId}`)).tasks;
    assert.equal(tasks.length, 40);
    for (const task of tasks)
      assert.ok(task.state === 'done' && task.merged, `${task.title} is done and merged`);
    const log = await events(h);
    const completions = log.filter((e) => e.kind === 'task.completed');
    assert.equal(completions.length, 40, 'every task completed exactly once');
    assert.equal(new Set(completions.map((e) => dataOf<{ taskId: string }>(e).taskId)).size, 40);
    const refusedMerges = log.filter((e) => e.kind === 'git.merge_refused');
    assert.deepEqual(refusedMerges, [], 'no merge conflict reached merge time');

    // Never more than max_active (default 4) tasks in flight at once.
    let inFlight = 0;
    let peak = 0;
    for (const e of log) {
      if (e.kind === 'task.claimed') peak = Math.max(peak, ++inFlight);
      if (e.kind === 'task.completed' || e.kind === 'task.released' || e.kind === 'task.failed') inFlight--;
    }
    assert.ok(peak <= 4 && peak >= 2, `peak of ${peak} tasks in flight`);

    // Each appending task left exactly its own line in the shared files.
    const appends = plan.specialists.flatMap((s) =>
      s.files.filter((f) => f.append).map((f) => ({ path: f.path, line: f.content.trim() })),
    );
    for (const path of new Set(appends.map((a) => a.path))) {
      const text = await show(repo, target, path);
      for (const a of appends.filter((x) => x.path === path)) {
        assert.equal(text.split(a.line).length - 1, 1, `${path} holds "${a.line}" once`);
      }
    }
    // Every specialist's discovery is visible to the manager, which queried after the last merge.
    assert.equal(log.filter((e) => e.kind === 'knowledge.recorded').length, 40);
    const reports = await api<Array<{ from: string; body: string }>>(h, 'GET', `/messages?run=${runId}`);
    assert.ok(
      reports.some((m) => /^DONE manager .*: merged 40 tasks; knowledge: 40 entries visible$/.test(m.body)),
      'the manager saw all 40 discoveries',
    );
    const share = overlapping.length / plan.specialists.length;
    t.diagnostic(
      `${overlapping.length}/${plan.specialists.length} tasks (${(share * 100).toFixed(1)} %) had overlapping file ` +
        `needs; 0 merge conflicts reached merge time; peak ${peak} in flight; ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  });

  it('kill -9 of a specialist holding a task: another completes it; the stale one’s late complete_task is refused', async () => {
    const h = new CliHarness();
    harnesses.push(h);
    // Slow replies leave time to kill the holder between its claim and its completion.
    const model = await createScriptedModelServer({ delayMs: 700 });
    models.push(model);
    // Two tasks in parallel, and a third after both: the run outlasts the killed specialist's comeback.
    const gen = generatedProject({ tasks: 3, seed: 3, sharedEvery: 0 });
    const [a, b, c] = gen.specialists;
    const plan: ManagerPlan = {
      name: 'fragile',
      specialists: [
        { ...a!, depends_on: [] },
        { ...b!, depends_on: [] },
        { ...c!, depends_on: [a!.name, b!.name] },
      ],
    };
    const { runId } = await startRun(h, model, plan);
    const taskList = async (): Promise<TaskView[]> =>
      (await api<{ tasks: TaskView[] }>(h, 'GET', `/tasks?run=${runId}`)).tasks;

    const victim = await eventually(
      'a task to be claimed',
      async () => (await taskList()).find((x) => x.state === 'claimed') ?? null,
      60_000,
    );
    const holder = victim.owner!;
    const views = await api<InstanceView[]>(h, 'GET', '/instances');
    const pid = views.find((v) => v.id === holder)?.pid;
    assert.ok(pid, `${holder} has a pid`);
    process.kill(pid, 'SIGKILL');

    const reclaimed = await eventually(
      'another specialist to claim the task',
      async () =>
        (await taskList()).find((x) => x.id === victim.id && x.state !== 'ready' && x.owner !== holder) ??
        null,
      60_000,
    );
    assert.equal(reclaimed.epoch, victim.epoch + 1);
    const recovery = (await events(h)).find((e) => e.kind === 'instance.recovery' && e.instanceId === holder);
    assert.equal(
      dataOf<{ action: string }>(recovery!).action,
      'replace',
      'a batch specialist is replaced, not restarted',
    );
    assert.equal(
      (await api<InstanceView[]>(h, 'GET', '/instances')).find((v) => v.id === holder)?.state,
      'dead',
    );

    // The killed specialist comes back, resumes its conversation, and tries to finish the task it lost.
    await api(h, 'POST', `/instances/${holder}/restart`);
    await api(h, 'POST', `/instances/${holder}/send`, { text: 'continue your task' });
    const refusal = await eventually(
      'the stale completion to be refused',
      async () =>
        (await events(h)).find(
          (e) =>
            e.kind === 'task.refused' &&
            e.actor === holder &&
            dataOf<{ taskId: string }>(e).taskId === victim.id,
        ) ?? null,
      60_000,
    );
    assert.equal(dataOf<{ epoch: number }>(refusal).epoch, victim.epoch);

    await finished(h, runId, 180_000);
    const final = (await taskList()).find((x) => x.id === victim.id)!;
    assert.deepEqual(
      [final.state, final.merged, final.owner, final.epoch],
      ['done', true, reclaimed.owner, reclaimed.epoch],
      'completed once, by the specialist that re-claimed it',
    );
    const completions = (await events(h)).filter(
      (e) => e.kind === 'task.completed' && dataOf<{ taskId: string }>(e).taskId === victim.id,
    );
    assert.equal(completions.length, 1);
  });
});
