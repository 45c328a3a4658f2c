import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { createHookClient } from './hooks.js';
import { startFakeSupervisor, type FakeSupervisor } from './testing/fake-supervisor.js';

const token = 'test-token-hooks';

/** A plain HTTP server answering each request with the next status of `statuses` (the last one repeats). */
async function statusServer(
  statuses: number[],
  port = 0,
): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    const status = statuses[Math.min(hits, statuses.length - 1)] ?? 200;
    hits += 1;
    res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{"ok":true}' : '');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A port nothing listens on: connections to it are refused. */
async function refusedPort(): Promise<number> {
  const { server, port } = await statusServer([200]);
  await closeServer(server);
  return port;
}

void describe('createHookClient', () => {
  const servers: FakeSupervisor[] = [];
  const plain: Server[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(plain.filter((s) => s.listening).map(closeServer));
  });

  void test('a hook posted while the supervisor is down is delivered once it is back on the same port', async () => {
    const port = await refusedPort();
    const notices: string[] = [];
    const hooks = createHookClient({
      baseUrl: `http://127.0.0.1:${port}`,
      token,
      reconnectWindowMs: 20_000,
      reconnectObserver: {
        retrying: () => notices.push('retrying'),
        reconnected: () => notices.push('reconnected'),
      },
    });
    const posted = hooks.post('Stop', { hook_event_name: 'Stop', last_assistant_message: 'done' });
    await new Promise((resolve) => setTimeout(resolve, 700));
    const sup = await startFakeSupervisor({ token, port });
    servers.push(sup);
    sup.stopResponses.push({ decision: 'block', reason: 'next message' });
    assert.deepEqual(await posted, { decision: 'block', reason: 'next message' });
    assert.deepEqual(
      sup.hooks.map((h) => [h.event, h.body.last_assistant_message]),
      [['Stop', 'done']],
    );
    assert.ok(notices.filter((n) => n === 'retrying').length >= 2);
    assert.equal(notices.at(-1), 'reconnected');
  });

  void test('503 (supervisor starting) is retried through the window; other 5xx only `attempts` times', async () => {
    const starting = await statusServer([503, 503, 503, 503, 503, 503, 200]);
    plain.push(starting.server);
    const hooks = createHookClient({ baseUrl: `http://127.0.0.1:${starting.port}`, token, baseDelayMs: 10 });
    assert.deepEqual(await hooks.post('SessionStart', {}), { ok: true });
    assert.equal(starting.hits(), 7);

    const broken = await statusServer([500]);
    plain.push(broken.server);
    const failing = createHookClient({
      baseUrl: `http://127.0.0.1:${broken.port}`,
      token,
      attempts: 3,
      baseDelayMs: 10,
    });
    await assert.rejects(failing.post('Stop', {}), /hook Stop failed \(3 failed attempts\): HTTP 500/);
    assert.equal(broken.hits(), 3);
  });

  void test('a 4xx is final', async () => {
    const refusing = await statusServer([401]);
    plain.push(refusing.server);
    const hooks = createHookClient({ baseUrl: `http://127.0.0.1:${refusing.port}`, token });
    await assert.rejects(hooks.post('Stop', {}), /hook Stop refused: HTTP 401/);
    assert.equal(refusing.hits(), 1);
  });

  void test('gives up once the reconnect window is over, naming why', async () => {
    const port = await refusedPort();
    const hooks = createHookClient({ baseUrl: `http://127.0.0.1:${port}`, token, reconnectWindowMs: 300 });
    const started = Date.now();
    await assert.rejects(
      hooks.post('Stop', {}),
      /hook Stop failed \(supervisor unreachable for 0\.3 s\): connect ECONNREFUSED/,
    );
    assert.ok(Date.now() - started < 2000);
    // A single try when asked for one (leaving the session), even from a supervisor that is starting.
    const starting = await statusServer([503]);
    plain.push(starting.server);
    const leaving = createHookClient({ baseUrl: `http://127.0.0.1:${starting.port}`, token });
    await assert.rejects(leaving.post('SessionEnd', {}, { attempts: 1, reconnectWindowMs: 0 }));
    assert.equal(starting.hits(), 1);
  });
});
