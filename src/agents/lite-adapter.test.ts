import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { LaunchContext } from './adapter.js';
import { liteConfigFromEnv } from './lite/config.js';
import { liteAdapter } from './lite-adapter.js';

const CTX: LaunchContext = {
  instanceId: 'spec-ab12',
  role: 'specialist',
  cwd: '/tmp/wt',
  instanceDir: '/tmp/home/instances/spec-ab12',
  systemPromptFile: '/tmp/home/instances/spec-ab12/system.md',
  supervisorUrl: 'http://127.0.0.1:4100',
  token: 'tok',
  env: {},
  resume: false,
};

void describe('liteAdapter', () => {
  void test('a restart tells the runtime to resume its transcript; a first start does not', async () => {
    for (const resume of [false, true]) {
      // A value in the run environment does not stand in for the supervisor's decision.
      const spec = await liteAdapter.prepare({ ...CTX, resume, env: { TMUX_CLAUDE_RESUME: '1' } });
      assert.equal(spec.env.TMUX_CLAUDE_RESUME, resume ? '1' : '0');
      const config = liteConfigFromEnv(spec.env);
      assert.equal(config.resume, resume);
      assert.equal(config.transcriptPath, '/tmp/home/instances/spec-ab12/transcript.jsonl');
    }
  });

  void test('TMUX_CLAUDE_RESUME accepts only 0 or 1 (unset or empty mean 0)', async () => {
    const { env } = await liteAdapter.prepare(CTX);
    assert.equal(liteConfigFromEnv({ ...env, TMUX_CLAUDE_RESUME: '' }).resume, false);
    const { TMUX_CLAUDE_RESUME: _unset, ...without } = env;
    assert.equal(liteConfigFromEnv(without).resume, false);
    assert.throws(() => liteConfigFromEnv({ ...env, TMUX_CLAUDE_RESUME: 'yes' }), /TMUX_CLAUDE_RESUME/);
  });
});
