import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { screenToAnsi } from './ansi';
import type { TaskView } from './api';
import { qs } from './api';
import { layoutDag } from './dag';
import { flowSeries } from './flow';
import type { MessageFlowRow } from './api';
import { budgetMeters, clip, fmtBytes, fmtMs, fmtUntil, stateClass } from './format';

function task(id: string, depends_on: string[] = [], state = 'ready'): TaskView {
  return {
    id,
    title: id,
    description: '',
    state,
    depends_on,
    files: [],
    priority: 0,
    created_by: 'mgr',
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
  };
}

describe('dashboard app: task graph layout', () => {
  it('puts a task one column right of its deepest dependency', () => {
    const { nodes } = layoutDag([
      task('a'),
      task('b'),
      task('c', ['a', 'b']),
      task('d', ['c']),
      task('e', ['a', 'd']),
    ]);
    const col = (id: string) => nodes.get(id)!.col;
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map(col), [0, 0, 1, 2, 3]);
  });

  it('ignores dependencies outside the graph and survives a cycle', () => {
    const { nodes, width, height } = layoutDag([task('x', ['missing']), task('p', ['q']), task('q', ['p'])]);
    assert.equal(nodes.size, 3);
    assert.equal(nodes.get('x')!.col, 0);
    assert.ok(width > 0 && height > 0);
  });

  it('orders a column by the rows of the dependencies', () => {
    const { nodes } = layoutDag([task('a'), task('b'), task('fromB', ['b']), task('fromA', ['a'])]);
    assert.ok(nodes.get('fromA')!.row < nodes.get('fromB')!.row);
  });
});

describe('dashboard app: terminal frames', () => {
  it('clears, places every row and then the cursor', () => {
    const out = screenToAnsi({
      text: 'one\n\x1b[31mtwo\x1b[0m\nthree',
      cursorX: 4,
      cursorY: 1,
      width: 10,
      height: 2,
    });
    assert.ok(out.startsWith('\x1b[0m\x1b[2J'));
    assert.ok(out.includes('\x1b[1;1Hone'));
    assert.ok(out.includes('\x1b[2;1H\x1b[31mtwo\x1b[0m'));
    assert.ok(!out.includes('three'), 'rows beyond the pane height are dropped');
    assert.ok(out.endsWith('\x1b[2;5H'));
  });
});

describe('dashboard app: formatting', () => {
  it('formats sizes, durations and state classes', () => {
    assert.equal(fmtBytes(512), '512 B');
    assert.equal(fmtBytes(1536), '1.5 kB');
    assert.equal(fmtBytes(null), '–');
    assert.equal(fmtMs(250), '250 ms');
    assert.equal(fmtMs(1500), '1.5 s');
    assert.equal(fmtMs(null), '–');
    assert.equal(clip('abcdef', 4), 'abc…');
    assert.equal(stateClass('dead"><x'), 'st-deadx');
  });

  it('says until when a blocked instance waits, and that it resumes once the time has passed', () => {
    const now = new Date(2026, 0, 1, 12, 0, 0).getTime();
    assert.equal(fmtUntil(now + 90_000, now), 'until 12:01:30 (in 1m30s)');
    assert.equal(fmtUntil(now - 1, now), 'resuming');
  });

  it('builds budget meters for limited and used resources, warning at 80 % and over at 100 %', () => {
    const meters = budgetMeters({
      limits: { maxInstances: 4, maxTokens: 1000, maxCost: 2 },
      used: { instances: 3, depth: 0, minutes: 1.25, tokens: 1000, cost: 0.5 },
    });
    assert.deepEqual(
      meters.map((m) => [m.label, m.used, m.limit, m.level]),
      [
        ['instances', '3', '4', 'ok'],
        ['minutes', '1.3', null, 'ok'],
        ['tokens', '1,000', '1,000', 'bad'],
        ['cost', '$0.50', '$2.00', 'ok'],
      ],
    );
    assert.equal(meters[0]!.percent, 75);
    assert.equal(
      budgetMeters({
        limits: { maxTokens: 100 },
        used: { instances: 0, depth: 0, minutes: 0, tokens: 85, cost: 0 },
      })[0]!.level,
      'warn',
    );
  });

  it('builds query strings from the defined values only', () => {
    assert.equal(
      qs({ run: 'r1', after: 5, dead: true, to: undefined, from: '', x: false }),
      '?run=r1&after=5&dead=1',
    );
    assert.equal(qs({}), '');
  });
});

describe('dashboard app: message flow over time', () => {
  const row = (sentAt: number, deliveredMs: number | null, state = 'delivered'): MessageFlowRow => ({
    seq: sentAt,
    id: `m${sentAt}`,
    runId: 'r',
    from: 'a',
    to: 'b',
    address: 'b',
    subject: null,
    state,
    requiresAck: false,
    attempts: 0,
    bytes: 1,
    sentAt,
    deliveredMs,
    ackedMs: null,
    error: null,
    body: '',
  });

  it('counts sends and dead letters per second and takes the median delivery latency', () => {
    const data = flowSeries([row(10_000, 5), row(10_400, 30), row(10_900, 7), row(12_100, null, 'dead')]);
    assert.deepEqual(data, [
      [10, 12],
      [3, 1],
      [0, 1],
      [7, null],
    ]);
  });

  it('widens the buckets for a long span and is empty without rows', () => {
    const data = flowSeries([row(0, 1), row(600_000, 1)]);
    assert.deepEqual(data[0], [0, 600]);
    assert.deepEqual(flowSeries([]), [[], [], [], []]);
  });
});
