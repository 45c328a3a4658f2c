import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../core/index.js';
import type { InstanceView } from '../mcp/index.js';
import {
  createScriptedModelServer,
  processedIdsIn,
  type ScriptedModelServer,
} from '../scripted-model/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api, mcpClient, resultText, sampleRepo, tokenOf } from '../testing/org-helpers.js';
import type { MessageFlowRow } from './http-app.js';

const AGENTS = 20;
const PER_AGENT = 500; // 20 × 500 = 10,000 messages
const KILLED_FIRST = [0, 1, 2];
const KILLED_LATER = [3, 4, 5, 6]; // 7 of 20: a third

function chatterPrompt(self: string, peers: string[]): string {
  const cfg = { self, peers, count: PER_AGENT, batch: 50, wait_s: 2 };
  return `Exchange messages with your peers.\n\n\`\`\`chatter\n${JSON.stringify(cfg)}\n\`\`\``;
}

/** Ids an agent processed, in order, from the `Processed:` lines of its transcript's assistant texts. */
function processedBy(home: string, id: string): string[] {
  const file = join(home, 'instances', id, 'transcript.jsonl');
  if (!existsSync(file)) return [];
  const out: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let entry: { type?: string; content?: Array<{ type?: string; text?: string }> };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // a line torn by kill -9
    }
    if (entry.type !== 'assistant') continue;
    for (const b of entry.content ?? []) if (b.type === 'text' && b.text) out.push(...processedIdsIn(b.text));
  }
  return out;
}

describe('message bus under chaos', () => {
  const h = new CliHarness();
  let model: ScriptedModelServer;
  let runId: string;
  let execSession: string;

  before(async () => {
    model = await createScriptedModelServer();
    const repo = await sampleRepo(h);
    const res = await h.json<{ run: { id: string }; executive: { tmuxSession: string } }>(
      ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo],
      { env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test' } },
    );
    runId = res.run.id;
    execSession = res.executive.tmuxSession;
  });
  after(async () => {
    await h.cleanup();
    await model.close();
  });

  it('20 light-runtime agents exchange 10,000 messages through kill -9 of a third of them and of the supervisor; each is processed exactly once per recipient', async (t) => {
    const started = Date.now();
    let exec = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, execSession));
    const ids: string[] = [];
    for (let wave = 0; wave < AGENTS; wave += 10) {
      const spawned = await Promise.all(
        Array.from({ length: Math.min(10, AGENTS - wave) }, async (_, i) => {
          const r = await exec.callTool({
            name: 'spawn',
            arguments: { role: 'manager', name: `chatter-${wave + i}` },
          });
          assert.equal(r.isError, undefined, resultText(r));
          return (JSON.parse(resultText(r)) as { id: string }).id;
        }),
      );
      ids.push(...spawned);
    }
    const kick = async (id: string): Promise<void> => {
      const r = await exec.callTool({
        name: 'send_message',
        arguments: { to: id, subject: 'chatter-start', body: chatterPrompt(id, ids) },
      });
      assert.equal(r.isError, undefined, resultText(r));
    };
    for (const id of ids) await kick(id);

    const chatterRows = async (): Promise<MessageFlowRow[]> =>
      (await api<MessageFlowRow[]>(h, 'GET', `/messages?run=${runId}&limit=50000`)).filter(
        (r) => r.subject === 'chatter',
      );
    const total = AGENTS * PER_AGENT;
    /** Polls the flow every 2 s (a few MB each time), failing when it stops moving for 2 minutes. */
    const ackedAtLeast = async (target: number): Promise<void> => {
      let last = -1;
      let lastMoved = Date.now();
      for (;;) {
        const rows = await chatterRows();
        const acked = rows.filter((r) => r.state === 'acked').length;
        if (acked >= target) return;
        if (acked !== last) [last, lastMoved] = [acked, Date.now()];
        if (Date.now() - lastMoved >= 120_000) {
          const views = await api<InstanceView[]>(h, 'GET', '/instances');
          const open = rows
            .filter((r) => r.state !== 'acked')
            .slice(0, 10)
            .map(
              (r) =>
                `${r.id} → ${r.to} ${r.state}, ${r.attempts} attempts, recipient ${views.find((v) => v.id === r.to)?.state}`,
            );
          assert.fail(`stuck at ${acked}/${total} acked (waiting for ${target}):\n${open.join('\n')}`);
        }
        await new Promise((r) => setTimeout(r, 2_000));
      }
    };

    const killAndRestart = async (victims: string[]): Promise<void> => {
      const views = await api<InstanceView[]>(h, 'GET', '/instances');
      const oldPids = new Map<string, number>();
      for (const id of victims) {
        const pid = views.find((v) => v.id === id)?.pid;
        assert.ok(pid, `${id} has a pid`);
        oldPids.set(id, pid);
        process.kill(pid, 'SIGKILL');
      }
      // The supervisor detects each death and restarts the agent in place (its recovery policy).
      await eventually(
        'the killed agents to be restarted by the supervisor',
        async () => {
          const now = await api<InstanceView[]>(h, 'GET', '/instances');
          return victims.every((id) => {
            const v = now.find((x) => x.id === id);
            return v && (v.state === 'idle' || v.state === 'busy') && v.pid !== oldPids.get(id);
          });
        },
        60_000,
      );
      for (const id of victims) await kick(id); // a fresh turn, in case nothing else is queued for it
    };

    await ackedAtLeast(total * 0.15);
    await killAndRestart(KILLED_FIRST.map((i) => ids[i]!));

    await ackedAtLeast(total * 0.4);
    const old = h.supervisorInfo()!;
    process.kill(old.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1_000));
    const up = await h.run(['up']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(h.supervisorInfo()!.port, old.port, 'the restarted supervisor keeps its port');
    await exec.close();
    exec = await mcpClient(h.supervisorInfo()!.url, tokenOf(h, execSession));

    await ackedAtLeast(total * 0.55);
    await killAndRestart(KILLED_LATER.map((i) => ids[i]!));

    await ackedAtLeast(total);
    await exec.close();

    // The store's view: every message stored once, delivered to its one recipient and acked; nothing dead.
    const rows = await chatterRows();
    assert.equal(rows.length, total);
    assert.equal(new Set(rows.map((r) => r.id)).size, total);
    assert.ok(rows.every((r) => r.state === 'acked'));

    // The agents' view: each recipient processed each of its messages exactly once, duplicates dropped by id.
    const chatterIds = new Set(rows.map((r) => r.id));
    let processedTotal = 0;
    for (const id of ids) {
      const processed = processedBy(h.home, id).filter((m) => chatterIds.has(m));
      const twice = processed.filter((m, i) => processed.indexOf(m) !== i);
      assert.deepEqual(twice, [], `${id} processed no message twice`);
      const expected = rows.filter((r) => r.to === id).map((r) => r.id);
      assert.deepEqual(
        [...processed].sort(),
        [...expected].sort(),
        `${id} processed every message sent to it`,
      );
      processedTotal += processed.length;
    }

    const events: AuditEvent[] = [];
    for (let page = await api<AuditEvent[]>(h, 'GET', '/events?after=0'); page.length > 0;) {
      events.push(...page);
      page = await api<AuditEvent[]>(h, 'GET', `/events?after=${page.at(-1)!.seq}`);
    }
    const restarts = events.filter((e) => e.kind === 'instance.restarted').length;
    const requeued = events
      .filter((e) => e.kind === 'message.requeued')
      .reduce((n, e) => n + (e.kind === 'message.requeued' ? e.data.messageIds.length : 0), 0);
    assert.equal(restarts, KILLED_FIRST.length + KILLED_LATER.length);
    assert.equal(events.filter((e) => e.kind === 'supervisor.started').length, 2);
    t.diagnostic(
      `${total} messages, ${processedTotal} processed once each (delivery rate ${((100 * processedTotal) / total).toFixed(2)} %), ` +
        `${restarts} agents killed and restarted, supervisor killed once, ${requeued} deliveries requeued for redelivery, ` +
        `${Math.round((Date.now() - started) / 1000)} s`,
    );
  });
});
