import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { ConflictReport, InstanceView, TaskView } from '../mcp/index.js';
import type { HostSample, ResourceSnapshot } from '../supervisor/index.js';
import { clockTime, renderBudgets, renderHosts, renderTop, renderTree, topSnapshot } from './output.js';

function view(id: string, parentId: string | null, extra: Partial<InstanceView> = {}): InstanceView {
  const role = id.startsWith('exec') ? 'executive' : id.startsWith('mgr') ? 'manager' : 'specialist';
  return {
    id,
    runId: 'run-1',
    role,
    parentId,
    name: id,
    state: 'idle',
    branch: null,
    agent: 'lite',
    tmuxSession: `tc-${id}`,
    host: 'h1',
    pid: null,
    taskId: null,
    error: null,
    pendingMessages: 0,
    progress: null,
    ...extra,
  };
}

/** Each line's tree drawing and id, without the columns after it. */
function shape(tree: string): string[] {
  return tree.split('\n').map((line) => /^[ │├└─]*\S+/.exec(line)?.[0] ?? line);
}

void describe('renderTree', () => {
  void test('renders nothing for no instances', () => {
    assert.equal(renderTree([]), '');
  });

  void test('puts roots first and indents children with ├─ and └─ in spawn order', () => {
    const tree = renderTree([
      view('exec-1', null, { state: 'busy', branch: 'tmux-claude/run-1' }),
      view('mgr-a', 'exec-1', { branch: 'manager-mgr-a-api' }),
      view('spec-1', 'mgr-a', { branch: 'specialist-spec-1-t1-auth' }),
      view('spec-2', 'mgr-a', { state: 'busy' }),
      view('mgr-b', 'exec-1'),
      view('spec-3', 'mgr-b'),
    ]);
    assert.equal(
      tree,
      [
        'exec-1  executive  busy  tmux-claude/run-1',
        '├─ mgr-a  manager  idle  manager-mgr-a-api',
        '│  ├─ spec-1  specialist  idle  specialist-spec-1-t1-auth',
        '│  └─ spec-2  specialist  busy  -',
        '└─ mgr-b  manager  idle  -',
        '   └─ spec-3  specialist  idle  -',
      ].join('\n'),
    );
  });

  void test('places children under their parent even when they are listed before it', () => {
    const tree = renderTree([view('spec-1', 'mgr-a'), view('mgr-a', 'exec-1'), view('exec-1', null)]);
    assert.deepEqual(shape(tree), ['exec-1', '└─ mgr-a', '   └─ spec-1']);
  });

  void test('shows an instance whose parent is not in the list as a root, with its own children under it', () => {
    const tree = renderTree([
      view('spec-orphan', 'mgr-gone'),
      view('exec-1', null),
      view('mgr-a', 'exec-1'),
      view('spec-kid', 'spec-orphan'),
    ]);
    assert.deepEqual(shape(tree), ['spec-orphan', '└─ spec-kid', 'exec-1', '└─ mgr-a']);
  });

  void test('shows the unread message count and the error of a dead or blocked instance', () => {
    const lines = renderTree([
      view('exec-1', null, { pendingMessages: 3 }),
      view('mgr-a', 'exec-1', { state: 'dead', error: 'exited with status 137' }),
      view('mgr-b', 'exec-1', { state: 'blocked', error: 'permission prompt', pendingMessages: 1 }),
      view('mgr-c', 'exec-1', { state: 'idle', error: 'an old error', pendingMessages: 0 }),
    ]).split('\n');
    assert.equal(lines[0], 'exec-1  executive  idle  -  ✉ 3');
    assert.equal(lines[1], '├─ mgr-a  manager  dead  -  (exited with status 137)');
    assert.equal(lines[2], '├─ mgr-b  manager  blocked  -  ✉ 1  (permission prompt)');
    assert.equal(lines[3], '└─ mgr-c  manager  idle  -', 'a live instance does not show a stale error');
  });

  void test('shows when a rate-limited instance resumes', () => {
    const at = Date.UTC(2030, 0, 1, 12, 0, 0);
    const [line] = renderTree([
      view('spec-1', null, { state: 'blocked', blockedUntil: at, error: 'rate_limit' }),
    ]).split('\n');
    assert.equal(line, `spec-1  specialist  blocked until ${clockTime(at)}  -  (rate_limit)`);
  });
});

void describe('renderBudgets', () => {
  void test('shows used/max per resource, - less where unlimited, and the paused state', () => {
    const text = renderBudgets([
      {
        root: 'mgr-1',
        runId: 'run-1',
        role: 'manager',
        name: 'm',
        rootState: 'idle',
        state: 'paused',
        pausedFor: 'tokens',
        limits: { maxInstances: 3, maxTokens: 2000 },
        used: { instances: 2, depth: 1, minutes: 1.25, tokens: 2500, cost: 0 },
        reserved: { tokens: 0, cost: 0 },
        startedAt: 0,
      },
    ]).split('\n');
    assert.match(text[0]!, /^ROOT\s+ROLE\s+STATE\s+INSTANCES\s+DEPTH\s+MINUTES\s+TOKENS\s+COST$/);
    assert.match(
      text[1]!,
      /^mgr-1\s+manager\s+paused \(tokens\)\s+2\/3\s+1\s+1\.3\s+2,500\/2,000\s+\$0\.00$/,
    );
  });
});

function task(id: string, extra: Partial<TaskView> = {}): TaskView {
  return {
    id,
    title: `title of ${id}`,
    description: '',
    state: 'ready',
    depends_on: [],
    files: [],
    priority: 0,
    created_by: 'exec-1',
    assignee: null,
    owner: null,
    epoch: 0,
    attempts: 0,
    max_attempts: 3,
    lease_expires_at: null,
    result: null,
    error: null,
    branch: null,
    merged: false,
    ...extra,
  };
}

const HOST: HostSample = {
  ts: 0,
  cpuPercent: 37.4,
  cpus: 4,
  load: [1.5, 1.25, 1],
  memFreeBytes: 6 * 1024 ** 3,
  memTotalBytes: 8 * 1024 ** 3,
  supervisor: { cpuPercent: 2.5, rssBytes: 120 * 1024 ** 2, processes: 1 },
  tmux: null,
};

void describe('top', () => {
  const resources: ResourceSnapshot = {
    intervalMs: 2000,
    host: HOST,
    instances: {
      'exec-1': { ts: 0, pid: 10, cpuPercent: 1.25, rssBytes: 100 * 1024 ** 2, processes: 1 },
      'spec-1': { ts: 0, pid: 11, cpuPercent: null, rssBytes: 50 * 1024 ** 2, processes: 3 },
    },
  };
  const conflict: ConflictReport = {
    reservationOverlaps: [],
    worktreeOverlaps: [{ path: 'a.txt', instances: [] }],
    tasksWaitingOnFiles: ['t2', 't3'],
  };

  void test('shows the claimed task, else the one spawned for, with progress, CPU, RSS and unread', () => {
    const snap = topSnapshot(
      {
        instances: [
          view('exec-1', null, { state: 'busy', pendingMessages: 2 }),
          view('spec-1', 'exec-1', { taskId: 't1', progress: { percent: 40, note: null, updatedAt: 0 } }),
          view('spec-2', 'exec-1', { taskId: 't1' }),
          view('spec-3', 'exec-1', { taskId: 'tgone' }),
        ],
        resources,
        tasks: [task('t1'), task('t9', { state: 'claimed', owner: 'spec-2', title: 'x'.repeat(50) })],
        conflicts: new Map([['run-1', conflict]]),
      },
      0,
    );
    assert.deepEqual(
      snap.instances.map((i) => [i.id, i.task?.id ?? null, i.progressPercent, i.cpuPercent, i.unread]),
      [
        ['exec-1', null, null, 1.25, 2],
        ['spec-1', 't1', 40, null, 0],
        ['spec-2', 't9', null, null, 0],
        ['spec-3', null, null, null, 0],
      ],
    );
    assert.deepEqual(snap.runs, [{ id: 'run-1', conflicts: 3, worktreeOverlaps: 1, tasksWaitingOnFiles: 2 }]);
    const lines = renderTop(snap).split('\n');
    assert.match(
      lines[1]!,
      /^host: CPU 37% of 4 cores {2}load 1\.50 1\.25 1\.00 {2}mem 2\.0\/8\.0 GB used {2}supervisor 2\.5% 120 MB$/,
    );
    assert.equal(
      lines[2],
      'runs: run-1 3 conflicts (1 file(s) changed in two worktrees, 2 task(s) waiting for files)',
    );
    assert.match(lines[4]!, /^INSTANCE +STATE +TASK +PROG +CPU% +RSS MB +UNREAD$/);
    assert.match(lines[5]!, /^exec-1 +busy +- +- +1\.3 +100 +2$/);
    assert.match(lines[6]!, /^├─ spec-1 +idle +t1 title of t1 +40% +- +50 +-$/);
    assert.match(lines[7]!, /^├─ spec-2 +idle +t9 x+… +- +- +- +-$/, 'a long title is cut');
    assert.match(
      lines[8]!,
      /^└─ spec-3 +idle +- +- +- +- +-$/,
      'a task the graph does not have is not shown',
    );
  });

  void test('fits the terminal: lines cut to its width, rows to its height', () => {
    const instances = Array.from({ length: 20 }, (_, n) => view(`spec-${n}`, null));
    const snap = topSnapshot({ instances, resources, tasks: [], conflicts: new Map() }, 0);
    const lines = renderTop(snap, { columns: 30, rows: 10 }).split('\n');
    assert.equal(lines.length, 10);
    assert.equal(lines[2], 'runs: none live');
    assert.equal(lines.at(-1), '… 16 more');
    assert.ok(lines.every((l) => l.length <= 30));
    assert.ok(lines[1]!.endsWith('…'));
  });
});

describe('several hosts', () => {
  test('ls marks each instance with its host once there are several; one host shows none', () => {
    const one = renderTree([view('exec-1', null), view('mgr-1', 'exec-1')]);
    assert.doesNotMatch(one, /@h1/);
    const two = renderTree([view('exec-1', null), view('mgr-1', 'exec-1', { host: 'h2' })]);
    assert.match(two, /^exec-1 {2}executive {2}idle {2}@h1/m);
    assert.match(two, /mgr-1 {2}manager {2}idle {2}@h2/);
  });

  test('hosts: this one starred, a lost one with who declared it', () => {
    const row = { url: 'http://127.0.0.1:1', pid: 1, capacity: 50, lostBy: null, self: false };
    const text = renderHosts([
      { ...row, id: 'h1', state: 'up', live: 3, silentMs: 400, self: true },
      { ...row, id: 'h2', state: 'lost', live: 0, silentMs: 12_000, lostBy: 'h1' },
    ]);
    const lines = text.split('\n');
    assert.match(lines[0]!, /^HOST\s+STATE\s+LAST SEEN\s+LIVE\s+CAPACITY/);
    assert.match(lines[1]!, /^\*h1\s+up\s+0\.4 s ago\s+3\s+50/);
    assert.match(lines[2]!, /^ h2\s+lost \(by h1\)\s+12\.0 s ago\s+0/);
  });
});
