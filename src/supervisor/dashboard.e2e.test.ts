import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../core/index.js';
import type { TaskView } from '../mcp/index.js';
import { CliHarness } from '../testing/cli-harness.js';
import {
  api,
  callJson,
  callRefused,
  closeAll,
  idleRun,
  tokenOf,
  type ActingInstance,
} from '../testing/org-helpers.js';

/** Reads server-sent events from a stream until `until` returns a value (or the stream ends). */
async function readEvents<T>(
  res: Response,
  until: (event: string, data: unknown) => T | undefined,
): Promise<T | undefined> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || data === undefined) continue;
        const found = until(event, JSON.parse(data));
        if (found !== undefined) return found;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

describe('dashboard server: login, live stream, terminal, actions', () => {
  const h = new CliHarness();
  let url: string;
  let token: string;
  let cookie: string;
  let runId: string;
  let exec: Client;
  let specs: ActingInstance[] = [];

  before(async () => {
    ({ runId, url, exec, specs } = await idleRun(h, ['one', 'two']));
    token = h.supervisorInfo()!.token;
  });
  after(async () => {
    await closeAll([exec, ...specs.map((s) => s.client)]);
    await h.cleanup();
  });

  /** A request as the signed-in browser: the cookie, and JSON for anything that changes state. */
  const browser = (path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${url}${path}`, {
      ...init,
      redirect: 'manual',
      headers: {
        cookie,
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
    });

  const dashboardActions = async (): Promise<AuditEvent[]> =>
    (await api<AuditEvent[]>(h, 'GET', '/events')).filter((e) => e.kind === 'dashboard.action');

  it('signs in with the token link only, then serves the page and the API by cookie', async () => {
    assert.equal((await fetch(`${url}/`)).status, 401);
    assert.equal((await fetch(`${url}/?token=wrong`)).status, 401);
    const login = await fetch(`${url}/?token=${encodeURIComponent(token)}`, { redirect: 'manual' });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/');
    const setCookie = login.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Strict/i);
    cookie = setCookie.split(';')[0]!;

    const page = await browser('/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /<script/);
    const instances = (await (await browser('/api/instances')).json()) as Array<{ id: string }>;
    assert.ok(instances.some((i) => i.id === specs[0]!.id));
    const runs = (await (await browser('/api/runs')).json()) as Array<Record<string, unknown>>;
    assert.equal(runs[0]?.id, runId);
    assert.equal('agentEnv' in runs[0]!, false, 'agent environments (credentials) stay on the server');
  });

  it('refuses agent tokens, other cookies and non-JSON writes from a browser', async () => {
    const agentToken = tokenOf(h, specs[0]!.tmuxSession);
    const asAgent = await fetch(`${url}/api/instances`, {
      headers: { authorization: `Bearer ${agentToken}` },
    });
    assert.equal(asAgent.status, 401);
    const agentCookie = await fetch(`${url}/api/instances`, {
      headers: { cookie: `${cookie.split('=')[0]}=${agentToken}` },
    });
    assert.equal(agentCookie.status, 401);
    assert.equal((await fetch(`${url}/assets/x.js`)).status, 401);
    // A cross-site form post carries the cookie but cannot be JSON without a (never granted) preflight.
    const actionsBefore = (await dashboardActions()).length;
    const form = await fetch(`${url}/api/instances/${specs[1]!.id}/kill`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'cascade=true',
    });
    assert.equal(form.status, 403);
    const live = (await (await browser('/api/instances')).json()) as Array<{ id: string; state: string }>;
    assert.notEqual(live.find((i) => i.id === specs[1]!.id)?.state, 'terminated');
    assert.equal((await dashboardActions()).length, actionsBefore);
  });

  it('reassigns a claimed task: the holder is fenced out, the new owner claims it, all audited and streamed', async () => {
    const [one, two] = specs;
    const { task } = await callJson<{ task: TaskView }>(exec, 'create_task', {
      title: 'moved by the user',
      files: ['moved/**'],
    });
    const claim = await callJson<{ epoch: number }>(one!.client, 'claim_task', { task_id: task.id });
    const head = await api<{ seq: number }>(h, 'GET', '/events/head');
    const stream = await browser(`/api/stream?after=${head.seq}`);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
    const released = readEvents(stream, (event, data) => {
      const e = data as AuditEvent;
      return event === 'audit' && e.kind === 'task.released' ? e : undefined;
    });

    const bad = await browser(`/api/tasks/tnope123/reassign`, { method: 'POST', body: '{}' });
    assert.equal(bad.status, 404);
    const res = await browser(`/api/tasks/${task.id}/reassign`, {
      method: 'POST',
      body: JSON.stringify({ to: two!.id }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const moved = (await res.json()) as TaskView;
    assert.equal(moved.state, 'ready');
    assert.equal(moved.assignee, two!.id);

    const seen = await released;
    assert.equal(seen?.instanceId, one!.id, 'the release reached the live stream');
    assert.match(
      await callRefused(one!.client, 'complete_task', { task_id: task.id, epoch: claim.epoch }),
      /STALE_LEASE/,
    );
    const again = await callJson<{ epoch: number }>(two!.client, 'claim_task', { task_id: task.id });
    assert.equal(again.epoch, claim.epoch + 1);
    // Both instances were told over the bus.
    const inboxOf = async (c: Client): Promise<string> =>
      JSON.stringify(await callJson(c, 'inbox', { unread_only: false }));
    assert.match(await inboxOf(one!.client), /reassigned by the user/);
    assert.match(await inboxOf(two!.client), new RegExp(`assigned task ${task.id}`));

    const actions = (await dashboardActions()).map((e) => e.data);
    assert.deepEqual(actions.slice(-2), [
      { action: 'tasks.reassign', target: 'tnope123', ok: false, error: 'task "tnope123" not found' },
      { action: 'tasks.reassign', target: task.id, ok: true },
    ]);
  });

  it('streams a pane screen and types into it only through the audited input route', async () => {
    const [one] = specs;
    const term = await browser(`/api/instances/${one!.id}/terminal`);
    assert.equal(term.status, 200);
    const first = await readEvents(term, (event, data) =>
      event === 'screen' ? (data as { text: string; width: number; height: number }) : undefined,
    );
    assert.ok(first);
    assert.ok(first.width > 0 && first.height > 0);

    const text = 'echo $(whoami) `id` "quoted" ünïcode';
    const typed = await browser(`/api/instances/${one!.id}/input`, {
      method: 'POST',
      body: JSON.stringify({ data: text }),
    });
    assert.equal(typed.status, 200);
    const again = await browser(`/api/instances/${one!.id}/terminal`);
    const shown = await readEvents(again, (event, data) => {
      const s = data as { text: string };
      return event === 'screen' && s.text.includes(text) ? s : undefined;
    });
    assert.ok(shown, 'the typed text appears in the pane byte for byte');
    const input = (await api<AuditEvent[]>(h, 'GET', `/events?instance=${one!.id}`)).filter(
      (e) => e.kind === 'dashboard.input',
    );
    assert.deepEqual(input.at(-1)?.data, { bytes: Buffer.byteLength(text), text });

    assert.equal(
      (await browser(`/api/instances/${one!.id}/input`, { method: 'POST', body: '{"data":""}' })).status,
      400,
    );
    assert.equal((await browser(`/api/instances/inope/terminal`)).status, 404);
  });
});
