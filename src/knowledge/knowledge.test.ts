import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger, type EventInput } from '../core/index.js';
import { SqliteStore } from '../store/index.js';
import { BRIEFING_MAX_CHARS, KnowledgeBase } from './knowledge.js';

/** A store with one run; git answers that no branch exists, so entries carry no commit. */
async function setup() {
  const store = new SqliteStore(':memory:');
  await store.runs.create({
    id: 'run-1',
    goal: 'goal',
    repo: '/nonexistent',
    targetBranch: 'main',
    agent: 'lite',
    agentEnv: {},
    createdAt: 0,
  });
  const events: EventInput[] = [];
  const kb = new KnowledgeBase({
    store,
    git: { head: async () => null, changedSince: async () => false },
    emit: async (e) => void events.push(e),
    log: silentLogger(),
  });
  return { store, kb, events };
}

const who = { id: 'spec-1', runId: 'run-1', branch: null, taskId: null };

describe('knowledge base', () => {
  it('normalises tags and paths and audits each record', async () => {
    const { store, kb, events } = await setup();
    try {
      const e = await kb.record(who, {
        key: ' api.shape ',
        value: 'v',
        tags: ['API', 'api'],
        paths: ['./src//x.ts'],
      });
      assert.deepEqual([e.key, e.tags, e.paths, e.commit], ['api.shape', ['api'], ['src/x.ts'], null]);
      assert.deepEqual(
        events.map((x) => x.kind),
        ['knowledge.recorded'],
      );
    } finally {
      await store.close();
    }
  });

  it('keeps a briefing within its budget, whatever the store holds', async () => {
    const { store, kb } = await setup();
    try {
      for (let i = 0; i < 40; i++) {
        await kb.record(who, { key: `auth.note-${i}`, value: `auth detail ${i} `.repeat(200) });
      }
      const text = await kb.briefing({
        runId: 'run-1',
        parentGoal: 'Build auth.\n'.repeat(100),
        creators: [],
        taskText: 'auth detail',
        files: [],
        reservations: [],
      });
      assert.ok(text.length <= BRIEFING_MAX_CHARS, `${text.length} characters`);
      assert.match(text, /^Your parent's goal:\nBuild auth\./);
      assert.match(text, /Relevant discoveries \(query_knowledge for more\):\n- auth\.note-/);
    } finally {
      await store.close();
    }
  });
});
