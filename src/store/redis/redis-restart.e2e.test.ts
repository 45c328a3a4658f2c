import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../../core/index.js';
import type { MessageView, TaskView } from '../../mcp/index.js';
import type { MessageFlowRow } from '../../supervisor/http-app.js';
import { CliHarness, eventually } from '../../testing/cli-harness.js';
import { api, callJson, mcpClient, resultText, sampleRepo, tokenOf } from '../../testing/org-helpers.js';
import { randomPrefix } from './testing/redis-harness.js';
import { PrivateRedis, redisServerMissing } from './testing/redis-server.js';

/** A harness whose every CLI call (and so its supervisor) uses the given store. */
class StoreHarness extends CliHarness {
  constructor(private readonly store: string) {
    super();
  }

  override env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return super.env({ TMUX_CLAUDE_STORE: this.store, ...extra });
  }
}

interface Spawned {
  id: string;
  tmuxSession: string;
}

const missing = redisServerMissing();
if (missing !== null && process.env.CI) {
  describe('redis restart mid-run', () => {
    it('needs redis-server in CI', () => assert.fail(missing));
  });
} else if (missing !== null) {
  process.stderr.write(`NOTICE: skipping redis restart mid-run: ${missing}\n`);
  describe('redis restart mid-run', () => {
    it('redis restart mid-run (skipped)', { skip: missing }, () => {});
  });
} else {
  describe('redis restart mid-run (AOF, appendfsync always)', () => {
    let redis: PrivateRedis | undefined;
    let h: StoreHarness | undefined;
    let runId: string;
    let exec: Client;
    const specs: Array<Spawned & { client: Client }> = [];

    before(async () => {
      redis = await PrivateRedis.start();
      const url = new URL(redis.url);
      url.searchParams.set('prefix', randomPrefix('restart'));
      h = new StoreHarness(url.href);
      const repo = await sampleRepo(h);
      // The model is unreachable: every agent idles, and the test acts with their tokens.
      const res = await h.json<{ run: { id: string }; executive: { tmuxSession: string } }>(
        ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo],
        { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', ANTHROPIC_API_KEY: 'test' } },
      );
      runId = res.run.id;
      const sup = h.supervisorInfo()!.url;
      exec = await mcpClient(sup, tokenOf(h, res.executive.tmuxSession));
      for (const name of ['one', 'two']) {
        const s = await callJson<Spawned>(exec, 'spawn', { role: 'specialist', name });
        specs.push({ ...s, client: await mcpClient(sup, tokenOf(h, s.tmuxSession)) });
      }
    });
    after(async () => {
      for (const c of [exec, ...specs.map((s) => s.client)]) await c?.close().catch(() => undefined);
      try {
        // The supervisor needs its store to stop cleanly; a dead Redis must not keep the test's processes.
        if (redis && !redis.running) await redis.start().catch(() => undefined);
        await h?.cleanup();
      } finally {
        await redis?.dispose();
      }
    });

    it('loses nothing, answers UNAVAILABLE while Redis is down, and recovers without a supervisor restart', async () => {
      const [one, two] = specs as [Spawned & { client: Client }, Spawned & { client: Client }];
      const pid = h!.supervisorInfo()!.pid;

      // ---- before the crash: messages that ask for an ack, tasks, a claim, an ack, a wait in flight ----
      const sent: string[] = [];
      for (const [to, body] of [
        [one.id, 'first for one'],
        [two.id, 'first for two'],
        [one.id, 'second for one'],
      ] as const) {
        const r = await callJson<{ message_id: string }>(exec, 'send_message', {
          to,
          body,
          requires_ack: true,
        });
        sent.push(r.message_id);
      }
      const created: string[] = [];
      for (const title of ['before crash A', 'before crash B']) {
        created.push((await callJson<{ task: TaskView }>(exec, 'create_task', { title })).task.id);
      }
      const claim = await callJson<{ epoch: number }>(one.client, 'claim_task', { task_id: created[0] });
      const oneMail = await callJson<{ messages: MessageView[] }>(one.client, 'inbox', {
        unread_only: false,
      });
      const firstForOne = oneMail.messages.find((m) => m.body === 'first for one')!;
      assert.ok(firstForOne, 'one has its first message');
      await callJson(one.client, 'ack', { ids: [firstForOne.id] });
      // two waits for mail that will only be sent after Redis is back: the wait must outlive the outage.
      const waiting = two.client.callTool(
        { name: 'wait_for_messages', arguments: { timeout_s: 300, subject: 'after restart' } },
        undefined,
        { timeout: 310_000 },
      );

      const rowsBefore = await api<MessageFlowRow[]>(h!, 'GET', `/messages?run=${runId}&limit=1000`);
      const tasksBefore = (await api<{ tasks: TaskView[] }>(h!, 'GET', `/tasks?run=${runId}`)).tasks;
      const eventsBefore = await api<AuditEvent[]>(h!, 'GET', '/events?after=0');
      assert.equal((await h!.run(['log', '--verify'])).code, 0);

      // ---- Redis dies: SIGKILL, no shutdown; every write was fsynced before it was answered ----
      await redis!.crash();

      const refused = async (c: Client, name: string, args: Record<string, unknown>): Promise<string> => {
        const r = await c.callTool({ name, arguments: args });
        assert.equal(r.isError, true, `${name} during the outage: ${resultText(r)}`);
        return resultText(r);
      };
      const unavailable = /UNAVAILABLE: .*Redis store at redis:\/\/127\.0\.0\.1:\d+/;
      assert.match(await refused(exec, 'send_message', { to: two.id, body: 'lost?' }), unavailable);
      assert.match(await refused(one.client, 'claim_task', { task_id: created[1] }), unavailable);
      assert.match(await refused(two.client, 'inbox', {}), unavailable);
      const cli = await h!.run(['tasks', '--run', runId]);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, /UNAVAILABLE|Redis/);
      assert.doesNotThrow(() => process.kill(pid, 0), 'the supervisor is still running');

      // ---- Redis comes back on the same port and dir, reloading its AOF ----
      await redis!.start();
      await eventually('the supervisor to reach Redis again', async () => {
        const r = await exec.callTool({ name: 'list_tasks', arguments: {} });
        return !r.isError;
      });
      assert.equal(h!.supervisorInfo()!.pid, pid, 'the same supervisor, not a restart');

      // Nothing lost: every delivery, task and event from before the crash is there as it was (or further on).
      const rowsAfter = await api<MessageFlowRow[]>(h!, 'GET', `/messages?run=${runId}&limit=1000`);
      const order = ['pending', 'delivered', 'acked'];
      for (const b of rowsBefore) {
        const a = rowsAfter.find((r) => r.id === b.id && r.to === b.to);
        assert.ok(a, `delivery of ${b.id} to ${b.to} survived`);
        assert.equal(a.body, b.body);
        assert.ok(order.indexOf(a.state) >= order.indexOf(b.state), `${b.id}: ${b.state} → ${a.state}`);
      }
      for (const id of sent) assert.ok(rowsAfter.some((r) => r.id === id));
      assert.ok(!rowsAfter.some((r) => r.body === 'lost?'), 'the refused send stored nothing');
      const tasksAfter = (await api<{ tasks: TaskView[] }>(h!, 'GET', `/tasks?run=${runId}`)).tasks;
      for (const b of tasksBefore) {
        const a = tasksAfter.find((t) => t.id === b.id);
        assert.deepEqual(a && [a.state, a.owner, a.epoch], [b.state, b.owner, b.epoch], `task ${b.id}`);
      }
      const eventsAfter = await api<AuditEvent[]>(h!, 'GET', '/events?after=0');
      assert.deepEqual(
        eventsAfter.slice(0, eventsBefore.length).map((e) => [e.seq, e.hash]),
        eventsBefore.map((e) => [e.seq, e.hash]),
      );
      const verify = await h!.run(['log', '--verify']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);

      // And work goes on: the lease from before the crash still completes, the other task is claimed,
      // every message sent before the crash is read and acked.
      const done = await callJson<{ task: TaskView }>(one.client, 'complete_task', {
        task_id: created[0],
        epoch: claim.epoch,
        result: 'ok',
      });
      assert.equal(done.task.state, 'done');
      await callJson(two.client, 'claim_task', { task_id: created[1] });
      for (const s of [one, two]) {
        const mail = await callJson<{ messages: MessageView[] }>(s.client, 'inbox', { unread_only: false });
        const mine = mail.messages.filter((m) => sent.includes(m.id));
        await callJson(s.client, 'ack', { ids: mine.map((m) => m.id) });
      }
      await callJson(exec, 'send_message', { to: two.id, subject: 'after restart', body: 'back' });
      const woke = await waiting;
      assert.equal(woke.isError, undefined, resultText(woke));
      const got = JSON.parse(resultText(woke)) as { messages: MessageView[]; timed_out: boolean };
      assert.deepEqual([got.timed_out, got.messages.map((m) => m.body)], [false, ['back']]);
      const final = await api<MessageFlowRow[]>(h!, 'GET', `/messages?run=${runId}&limit=1000`);
      for (const id of sent) {
        assert.deepEqual(
          final.filter((r) => r.id === id).map((r) => r.state),
          ['acked'],
          `message ${id} delivered and acked`,
        );
      }
      assert.ok(
        (await api<AuditEvent[]>(h!, 'GET', '/events?after=0')).some((e) => e.kind === 'task.completed'),
      );
    });
  });
}
