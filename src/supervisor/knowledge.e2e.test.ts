import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../core/index.js';
import type { InstanceView, TaskView } from '../mcp/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from '../scripted-model/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, callJson, callRefused, mcpClient, sampleRepo, tokenOf } from '../testing/org-helpers.js';
import type { RunStatus } from './organisation.js';

interface KnowledgeRow {
  key: string;
  value: string;
  stale: boolean;
  version: number;
  recorded_by: string;
  task_id: string | null;
  commit: string | null;
}

async function commitOnMain(repo: string, path: string, content: string): Promise<void> {
  mkdirSync(join(repo, path, '..'), { recursive: true });
  writeFileSync(join(repo, path), content);
  await runCommand(['git', '-C', repo, 'add', '-A']);
  await runCommand([
    'git',
    '-C',
    repo,
    '-c',
    'user.name=t',
    '-c',
    'user.email=t@t',
    'commit',
    '-qm',
    `edit ${path}`,
  ]);
}

describe('shared knowledge through the real supervisor', () => {
  const h = new CliHarness();
  let repo: string;
  let exec: Client;
  let spec: Client;
  let specId: string;

  before(async () => {
    repo = await sampleRepo(h);
    await commitOnMain(repo, 'src/a.ts', 'export const a = 1;\n');
    const res = await h.json<{ executive: { tmuxSession: string } }>(
      ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo, '--target', 'main'],
      { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', ANTHROPIC_API_KEY: 'test' } },
    );
    const url = h.supervisorInfo()!.url;
    exec = await mcpClient(url, tokenOf(h, res.executive.tmuxSession));
    const s = await callJson<{ id: string; tmuxSession: string }>(exec, 'spawn', {
      role: 'specialist',
      name: 'notes',
    });
    specId = s.id;
    spec = await mcpClient(url, tokenOf(h, s.tmuxSession));
  });
  after(async () => {
    await exec?.close().catch(() => undefined);
    await spec?.close().catch(() => undefined);
    await h.cleanup();
  });

  const lookup = async (c: Client, query: string): Promise<KnowledgeRow[]> =>
    (await callJson<{ results: KnowledgeRow[] }>(c, 'query_knowledge', { query })).results;

  it('records with provenance and keeps history; every other instance retrieves it', async () => {
    const first = await callJson<{ recorded: KnowledgeRow }>(spec, 'record_discovery', {
      key: 'auth.token-format',
      value: 'Tokens are base64url, 32 bytes; compare them in constant time.',
      tags: ['Auth', 'security'],
      paths: ['src/a.ts'],
    });
    assert.equal(first.recorded.version, 1);
    assert.equal(first.recorded.recorded_by, specId);
    assert.match(first.recorded.commit ?? '', /^[0-9a-f]{40}$/);
    await callJson(spec, 'record_discovery', {
      key: 'auth.token-format',
      value: 'Tokens are base64url, 32 bytes; hashed with sha256 in the store.',
      paths: ['src/a.ts'],
    });
    const seen = await lookup(exec, 'token base64url');
    assert.equal(seen[0]?.key, 'auth.token-format');
    assert.equal(seen[0]?.version, 2, 'the newest version answers');
    assert.match(seen[0]?.value ?? '', /sha256/);
    const all = await h.json<KnowledgeRow[]>(['knowledge', 'ls', '--all']);
    assert.deepEqual(
      all.filter((k) => k.key === 'auth.token-format').map((k) => k.version),
      [2, 1],
      'history is kept',
    );
  });

  it('flags an entry stale after a later commit on the branch changes its file, and only then', async () => {
    await callJson(spec, 'record_discovery', {
      key: 'a.shape',
      value: 'a exports the number 1',
      paths: ['src/a.ts'],
    });
    const fresh = async (): Promise<boolean> =>
      !(await lookup(exec, 'exports number')).find((k) => k.key === 'a.shape')!.stale;
    assert.equal(await fresh(), true);
    await commitOnMain(repo, 'docs/other.md', 'unrelated\n');
    assert.equal(await fresh(), true, 'a commit that does not touch src/a.ts keeps it fresh');
    await commitOnMain(repo, 'src/a.ts', 'export const a = 2;\n');
    assert.equal(await fresh(), false, 'a commit that changes src/a.ts makes it stale');
    const cli = await h.run(['knowledge', 'search', 'exports number']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /a\.shape +\[stale\] +by spec-/);
  });

  it('refuses bad input clearly and stores nothing', async () => {
    const before = (await h.json<KnowledgeRow[]>(['knowledge', 'ls', '--all'])).length;
    assert.match(
      await callRefused(spec, 'record_discovery', { key: 'k', value: '   ' }),
      /INVALID_ARGUMENT: the value is empty/,
    );
    assert.match(
      await callRefused(spec, 'record_discovery', { key: 'k', value: 'x'.repeat(64 * 1024 + 1) }),
      /65537 bytes; the limit is 65536/,
    );
    assert.match(
      await callRefused(spec, 'record_discovery', { key: 'k', value: 'v', paths: ['../x'] }),
      /escapes the repo/,
    );
    assert.match(
      await callRefused(spec, 'record_discovery', { key: 'k', value: 'v', tags: ['no spaces'] }),
      /tag "no spaces"/,
    );
    assert.match(
      await callRefused(spec, 'query_knowledge', { query: '"unbalanced', syntax: 'fts' }),
      /INVALID_ARGUMENT: knowledge query syntax error/,
    );
    // The same text as plain words is safe.
    await callJson(spec, 'query_knowledge', { query: '"unbalanced AND $(rm -rf /)' });
    const cli = await h.run(['knowledge', 'search', 'a AND', '--fts']);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /syntax error/);
    assert.equal((await h.json<KnowledgeRow[]>(['knowledge', 'ls', '--all'])).length, before);
  });

  it('report_progress feeds get_progress and ls', async () => {
    await callJson(spec, 'report_progress', { percent: 40, note: 'halfway there' });
    const p = await callJson<{
      instances: Array<{ id: string; progress: { percent: number; note: string } }>;
    }>(exec, 'get_progress');
    const mine = p.instances.find((i) => i.id === specId);
    assert.equal(mine?.progress.percent, 40);
    assert.equal(mine?.progress.note, 'halfway there');
    const ls = await h.run(['ls']);
    assert.match(ls.stdout, new RegExp(`${specId}.*40%`));
    assert.match(await callRefused(spec, 'report_progress', {}), /pass percent, note, or both/);
  });
});

describe('briefings', () => {
  const h = new CliHarness();
  let model: ScriptedModelServer;
  after(async () => {
    await h.cleanup();
    await model?.close();
  });

  it('a second manager spawned after the first finished is briefed with the first one’s completed work', async () => {
    model = await createScriptedModelServer();
    const repo = await sampleRepo(h);
    const plan = {
      managers: [
        {
          name: 'first',
          specialists: [
            {
              name: 'greet',
              files: [{ path: 'src/greet.js', content: 'module.exports = () => "hi";\n' }],
              commit: 'feat(greet): add greet',
            },
          ],
        },
      ],
    };
    const res = await h.json<{ run: { id: string }; executive: { tmuxSession: string } }>(
      ['run', `Greet people.\n\`\`\`plan\n${JSON.stringify(plan)}\n\`\`\``, '--repo', repo],
      { env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test' } },
    );
    const runId = res.run.id;
    await eventually(
      'the first manager to finish',
      async () => {
        const s = await api<RunStatus>(h, 'GET', `/runs/${runId}`);
        const m = s.instances.filter((i) => i.role === 'manager');
        return s.quiescent && m.length === 1 && m[0]!.state === 'terminated';
      },
      120_000,
    );
    const tasks = (await api<{ tasks: TaskView[] }>(h, 'GET', `/tasks?run=${runId}`)).tasks;
    assert.equal(tasks.length, 1);

    const exec = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, res.executive.tmuxSession));
    try {
      const second = await callJson<{ id: string }>(exec, 'spawn', {
        role: 'manager',
        name: 'second',
        prompt: 'Add a farewell next to the greeting.',
      });
      const prompt = readFileSync(join(h.home, 'instances', second.id, 'system-prompt.md'), 'utf8');
      assert.match(prompt, /## Briefing/);
      assert.match(
        prompt,
        /Done already \(do not redo\):\n- feat\(greet\): add greet \(t\w+, by spec-\w+, merged\)/,
      );
      assert.match(prompt, /Relevant discoveries/);
      const views = await api<InstanceView[]>(h, 'GET', '/instances');
      assert.equal(views.find((v) => v.id === second.id)?.state === 'dead', false);
    } finally {
      await exec.close();
    }
  });
});
