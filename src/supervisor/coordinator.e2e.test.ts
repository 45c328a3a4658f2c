import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand, type AuditEvent } from '../core/index.js';
import type { TaskView } from '../mcp/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import {
  api,
  callJson,
  callRefused,
  closeAll,
  idleRun,
  resultText,
  type ActingInstance,
} from '../testing/org-helpers.js';

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await runCommand(['git', '-C', dir, ...args])).stdout.trim();
}

async function commitFile(worktree: string, path: string, content: string): Promise<string> {
  writeFileSync(join(worktree, path), content);
  await git(worktree, 'add', '-A');
  await git(worktree, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', `edit ${path}`);
  return git(worktree, 'rev-parse', 'HEAD');
}

describe('work coordinator through the real supervisor', () => {
  const h = new CliHarness();
  let runId: string;
  let exec: Client;
  let specs: ActingInstance[] = [];
  // Short leases so expiry can be seen; every tool call of the holder renews them (throttled).
  const env = { TMUX_CLAUDE_LEASE_TTL_S: '3' };

  before(async () => {
    ({ runId, exec, specs } = await idleRun(h, ['one', 'two'], env));
  });
  after(async () => {
    await closeAll([exec, ...specs.map((s) => s.client)]);
    await h.cleanup();
  });

  const tasks = async (): Promise<TaskView[]> =>
    (await api<{ tasks: TaskView[] }>(h, 'GET', `/tasks?run=${runId}`)).tasks;

  it('refuses bad input with clear errors and changes nothing', async () => {
    const [one] = specs;
    const before = (await tasks()).length;
    assert.match(
      await callRefused(exec, 'create_task', { title: 'x', files: ['../outside.txt'] }),
      /escapes the repo/,
    );
    assert.match(await callRefused(exec, 'create_task', { title: 'x', files: ['/etc/passwd'] }), /absolute/);
    assert.match(
      await callRefused(exec, 'create_task', { title: 'x', depends_on: ['tnope123'] }),
      /NOT_FOUND/,
    );
    assert.match(
      await callRefused(exec, 'execute_parallel', {
        tasks: [
          { name: 'a', depends_on: ['c'] },
          { name: 'b', depends_on: ['a'] },
          { name: 'c', depends_on: ['b'] },
        ],
      }),
      /dependency cycle: (a|b|c) → .* → /,
    );
    const overlap = await callRefused(exec, 'execute_parallel', {
      tasks: [
        { name: 'left', files: ['src/**'] },
        { name: 'right', files: ['src/util.js'] },
      ],
    });
    assert.match(overlap, /CONFLICT.*left \(src\/\*\*\) and right \(src\/util\.js\)/);
    assert.match(overlap, /serialize_overlaps/);
    assert.match(await callRefused(one!.client, 'claim_task', { task_id: 'tnope123' }), /NOT_FOUND/);
    assert.match(
      await callRefused(one!.client, 'complete_task', { task_id: 'tnope123', epoch: 1 }),
      /NOT_FOUND/,
    );
    assert.match(
      await callRefused(one!.client, 'reserve_files', { patterns: ['a/../../b'] }),
      /escapes the repo/,
    );
    assert.match(await callRefused(one!.client, 'create_task', { title: 'x' }), /Tool create_task not found/);
    assert.equal((await tasks()).length, before, 'no task was created by a refused call');
  });

  it('fences leases: one holder at a time, a foreign or stale completion is refused, a lapsed lease returns the task', async () => {
    const [one, two] = specs;
    const title = 'Task with $(rm -rf /) `metachars` and "quotes"';
    const { task } = await callJson<{ task: TaskView }>(exec, 'create_task', {
      title,
      description: 'd'.repeat(5000),
      files: ['fenced/**'],
    });
    assert.equal(task.title, title);
    const claim = await callJson<{ epoch: number; task: TaskView }>(one!.client, 'claim_task', {
      task_id: task.id,
    });
    assert.equal(claim.epoch, 1);
    assert.match(await callRefused(two!.client, 'claim_task', { task_id: task.id }), /not ready: claimed by/);
    assert.match(
      await callRefused(two!.client, 'complete_task', { task_id: task.id, epoch: 1 }),
      /STALE_LEASE: cannot complete task .*you do not hold it/,
    );
    // The claim reserved its files for the holder.
    assert.match(
      await callRefused(two!.client, 'reserve_files', { patterns: ['fenced/a.txt'] }),
      new RegExp(`fenced/\\*\\* \\(exclusive, held by ${one!.id} for task ${task.id}\\)`),
    );
    // Silence past the TTL: the lease lapses and the task is claimable again, by someone else.
    const regained = await eventually(
      'the lapsed task to be claimed by another',
      async () => {
        const r = await two!.client.callTool({ name: 'claim_task', arguments: { task_id: task.id } });
        return r.isError ? null : (JSON.parse(resultText(r)) as { epoch: number });
      },
      15_000,
    );
    assert.equal(regained.epoch, 2);
    assert.match(
      await callRefused(one!.client, 'complete_task', { task_id: task.id, epoch: 1, result: 'late' }),
      /STALE_LEASE: .*stale: the task is at epoch 2/,
    );
    const done = await callJson<{ task: TaskView }>(two!.client, 'complete_task', {
      task_id: task.id,
      epoch: 2,
      result: 'ok',
    });
    assert.equal(done.task.state, 'done');
    assert.equal(done.task.attempts, 2);
    const events = await api<AuditEvent[]>(h, 'GET', '/events?after=0');
    const refusedEvents = events.filter((e) => e.kind === 'task.refused');
    assert.ok(refusedEvents.some((e) => (e.data as { reason: string }).reason === 'stale_epoch'));
    assert.ok(
      events.some((e) => e.kind === 'task.released' && (e.data as { taskId: string }).taskId === task.id),
    );
  });

  it('reservations: exclusive overlaps are refused with the holder named, shared ones coexist, release frees', async () => {
    const [one, two] = specs;
    await callJson(one!.client, 'reserve_files', { patterns: ['lib/**'] });
    const msg = await callRefused(two!.client, 'reserve_files', { patterns: ['lib/x.js', 'other.txt'] });
    assert.match(msg, new RegExp(`lib/\\*\\* \\(exclusive, held by ${one!.id}\\)`));
    // All or nothing: other.txt was not reserved either.
    await callJson(one!.client, 'reserve_files', { patterns: ['other.txt'], mode: 'shared' });
    await callJson(two!.client, 'reserve_files', { patterns: ['other.txt'], mode: 'shared' });
    const conflicts = await callJson<{ reservation_overlaps: unknown[] }>(two!.client, 'check_conflicts');
    assert.equal(conflicts.reservation_overlaps.length, 1);
    const released = await callJson<{ released: string[]; not_held: string[] }>(
      one!.client,
      'release_files',
      {
        patterns: ['lib/', 'never.txt'],
      },
    );
    assert.deepEqual(released, { released: ['lib/**'], not_held: ['never.txt'] });
    await callJson(two!.client, 'reserve_files', { patterns: ['lib/x.js'] });
    await callJson(one!.client, 'release_files');
    await callJson(two!.client, 'release_files');
  });

  it('check_conflicts reports files changed in two live worktrees at once', async () => {
    const [one, two] = specs;
    writeFileSync(join(one!.worktree, 'shared.txt'), 'one\n');
    writeFileSync(join(two!.worktree, 'shared.txt'), 'two\n');
    const r = await callJson<{
      worktree_overlaps: Array<{ path: string; instances: Array<{ id: string }> }>;
    }>(exec, 'check_conflicts');
    const hit = r.worktree_overlaps.find((o) => o.path === 'shared.txt');
    assert.deepEqual(hit?.instances.map((i) => i.id).sort(), [one!.id, two!.id].sort());
    const cli = await h.run(['conflicts', '--run', runId]);
    assert.match(cli.stdout, /shared\.txt: changed in spec-/);
    await runCommand(['rm', join(one!.worktree, 'shared.txt'), join(two!.worktree, 'shared.txt')]);
  });

  it('merges in dependency order and names the owners of conflicting files', async () => {
    const [one, two] = specs;
    const a = (await callJson<{ task: TaskView }>(exec, 'create_task', { title: 'A', files: ['a.txt'] }))
      .task;
    const b = (
      await callJson<{ task: TaskView }>(exec, 'create_task', {
        title: 'B',
        files: ['b.txt'],
        depends_on: [a.id],
      })
    ).task;
    assert.equal(b.state, 'blocked');
    const ca = await callJson<{ epoch: number; task: TaskView }>(one!.client, 'claim_task', {
      task_id: a.id,
    });
    const shaA = await commitFile(one!.worktree, 'a.txt', 'a\n');
    const doneA = await callJson<{ unblocked: string[] }>(one!.client, 'complete_task', {
      task_id: a.id,
      epoch: ca.epoch,
      result: shaA,
    });
    assert.deepEqual(doneA.unblocked, [b.id]);
    const cb = await callJson<{ epoch: number; task: TaskView }>(two!.client, 'claim_task', {
      task_id: b.id,
    });
    await commitFile(two!.worktree, 'b.txt', 'b\n');
    await callJson(two!.client, 'complete_task', { task_id: b.id, epoch: cb.epoch });
    assert.match(
      await callRefused(exec, 'merge_branch', { instance_id: two!.id }),
      new RegExp(`merge in dependency order: .*unmerged tasks ${a.id}`),
    );
    await callJson(exec, 'merge_branch', { instance_id: one!.id });
    await callJson(exec, 'merge_branch', { instance_id: two!.id });
    const after = await tasks();
    assert.ok(after.find((t) => t.id === a.id)?.merged);
    assert.ok(after.find((t) => t.id === b.id)?.merged);

    // Both edit README.md on their branches: the second merge is refused, naming the file and its owner.
    const c = (await callJson<{ task: TaskView }>(exec, 'create_task', { title: 'C', files: ['README.md'] }))
      .task;
    const cc = await callJson<{ epoch: number }>(one!.client, 'claim_task', { task_id: c.id });
    await commitFile(one!.worktree, 'README.md', 'from one\n');
    await callJson(one!.client, 'complete_task', { task_id: c.id, epoch: cc.epoch });
    await commitFile(two!.worktree, 'README.md', 'from two\n');
    await callJson(exec, 'merge_branch', { instance_id: one!.id });
    const conflict = await callRefused(exec, 'merge_branch', { instance_id: two!.id });
    assert.match(
      conflict,
      new RegExp(
        `MERGE_CONFLICT: .*README\\.md \\(also: ${one!.id} \\(task ${c.id}\\)\\); nothing was merged`,
      ),
    );
  });

  it('`tmux-claude tasks` shows the graph with states, owners, epochs and attempts', async () => {
    const r = await h.json<{ tasks: TaskView[] }>(['tasks', '--run', runId]);
    assert.ok(r.tasks.length >= 4);
    for (const t of r.tasks) assert.ok(typeof t.epoch === 'number' && typeof t.attempts === 'number');
    const text = await h.run(['tasks', '--run', runId]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^TASK +STATE +OWNER +EPOCH +TRIES +AFTER +TITLE/m);
    assert.match(text.stdout, / merged +spec-\S+ +1 +1\/3 +- +A$/m);
    const bad = await h.run(['tasks', '--state', 'sleeping']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--state must be one of/);
  });
});
