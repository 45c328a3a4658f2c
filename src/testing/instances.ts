import type { Instance } from '../core/index.js';

let counter = 0;

/**
 * An instance record for tests that write the store directly: an idle light-runtime specialist on host h1
 * unless overridden. Ids, sessions and token hashes are unique per call (token hashes are unique in the store).
 */
export function testInstance(overrides: Partial<Instance> = {}): Instance {
  counter += 1;
  const role = overrides.role ?? 'specialist';
  const id = overrides.id ?? `${role.slice(0, 4)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
  const now = Date.now();
  return {
    id,
    runId: 'run-1',
    role,
    parentId: null,
    name: `${role}-${counter}`,
    agent: 'lite',
    state: 'idle',
    branch: null,
    worktree: null,
    cwd: '/tmp',
    tmuxSession: `tc-${id}`,
    host: 'h1',
    pid: null,
    tokenHash: `hash-${id}`,
    task: null,
    taskId: null,
    createdAt: now,
    updatedAt: now,
    endedAt: null,
    error: null,
    progress: null,
    ...overrides,
  };
}
