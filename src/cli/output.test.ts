import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { InstanceView } from '../mcp/index.js';
import { renderTree } from './output.js';

function view(id: string, parentId: string | null, extra: Partial<InstanceView> = {}): InstanceView {
  const role = id.startsWith('exec') ? 'executive' : id.startsWith('mgr') ? 'manager' : 'specialist';
  return {
    id,
    role,
    parentId,
    name: id,
    state: 'idle',
    branch: null,
    agent: 'lite',
    tmuxSession: `tc-${id}`,
    pid: null,
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
});
