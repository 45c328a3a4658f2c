import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import { after, describe, test } from 'node:test';
import { McpConnection } from './mcp-connection.js';
import { startFakeSupervisor, type FakeSupervisor } from './testing/fake-supervisor.js';

/** Polls `cond` every 20 ms; fails after 10 s. */
async function waitUntil(cond: () => boolean): Promise<void> {
  for (const started = Date.now(); !cond();) {
    if (Date.now() - started > 10_000) throw new Error('condition not met in 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

void describe('McpConnection against a real stateless MCP server', () => {
  const token = 'test-token-mcp';
  const servers: FakeSupervisor[] = [];
  const connections: McpConnection[] = [];
  after(async () => {
    await Promise.all(connections.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
  });

  void test('lists tools and calls them with the bearer token', async () => {
    const sup = await startFakeSupervisor({ token });
    servers.push(sup);
    const conn = new McpConnection({ url: `${sup.url}/mcp`, token });
    connections.push(conn);
    const tools = await conn.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['merge_branch', 'send', 'spawn', 'terminate']);
    assert.equal(tools.find((t) => t.name === 'send')?.input_schema.type, 'object');
    const out = await conn.callTool('send', { to: 'parent', text: 'hi' });
    assert.equal(out.isError, false);
    assert.equal((JSON.parse(out.content) as { delivered: boolean }).delivered, true);
    assert.deepEqual(sup.toolCalls, [{ name: 'send', args: { to: 'parent', text: 'hi' } }]);
    assert.equal(sup.unauthorized, 0);
  });

  void test('a wrong token is refused', async () => {
    const sup = await startFakeSupervisor({ token });
    servers.push(sup);
    const conn = new McpConnection({ url: `${sup.url}/mcp`, token: 'wrong' });
    connections.push(conn);
    await assert.rejects(conn.listTools());
    assert.ok(sup.unauthorized > 0);
  });

  void test('keeps working after the server restarts on the same port; fails clearly once the window is over', async () => {
    const first = await startFakeSupervisor({ token });
    const conn = new McpConnection({ url: `${first.url}/mcp`, token, reconnectWindowMs: 300 });
    connections.push(conn);
    await conn.listTools();
    await first.close();

    const started = Date.now();
    await assert.rejects(conn.callTool('send', { to: 'parent', text: 'while down' }), (err: Error) => {
      assert.match(
        err.message,
        /supervisor unreachable for 0\.3 s \(connect ECONNREFUSED .*\); the request was not sent/,
      );
      return true;
    });
    assert.ok(Date.now() - started < 2000, 'gives up after the window, not later');

    const second = await startFakeSupervisor({ token, port: first.port });
    servers.push(second);
    const out = await conn.callTool('send', { to: 'parent', text: 'after restart' });
    assert.equal(out.isError, false);
    assert.deepEqual(second.toolCalls, [{ name: 'send', args: { to: 'parent', text: 'after restart' } }]);
    assert.equal((await conn.listTools()).length, 4);

    // A restart between two calls is invisible to the caller.
    await second.close();
    const third = await startFakeSupervisor({ token, port: first.port });
    servers.push(third);
    assert.equal((await conn.callTool('send', { to: 'parent', text: 'third' })).isError, false);
    assert.equal(third.toolCalls.length, 1);
  });

  void test('a call made while the supervisor is down waits for it and runs once it is back', async () => {
    const first = await startFakeSupervisor({ token });
    const observed: string[] = [];
    const conn = new McpConnection({
      url: `${first.url}/mcp`,
      token,
      reconnectWindowMs: 20_000,
      reconnectObserver: {
        retrying: (err) => observed.push(`retrying: ${String((err as Error).message)}`),
        reconnected: () => observed.push('reconnected'),
      },
    });
    connections.push(conn);
    await conn.listTools();
    await first.close();

    const call = conn.callTool('send', { to: 'parent', text: 'during the outage' });
    await waitUntil(() => observed.length >= 3);
    const second = await startFakeSupervisor({ token, port: first.port });
    servers.push(second);
    const out = await call;
    assert.equal(out.isError, false);
    assert.deepEqual(second.toolCalls, [{ name: 'send', args: { to: 'parent', text: 'during the outage' } }]);
    assert.equal(observed.at(-1), 'reconnected');
    assert.equal(observed.filter((o) => o === 'reconnected').length, 1);
  });

  void test('a supervisor that listens but answers 503 while it starts is waited for too', async () => {
    const first = await startFakeSupervisor({ token });
    const conn = new McpConnection({ url: `${first.url}/mcp`, token, reconnectWindowMs: 20_000 });
    connections.push(conn);
    await conn.listTools();
    await first.close();

    // What the real supervisor does between listening and serving.
    let refused = 0;
    const starting = createServer((_req, res) => {
      refused += 1;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => starting.listen(first.port, '127.0.0.1', resolve));
    const call = conn.callTool('send', { to: 'parent', text: 'while starting' });
    await waitUntil(() => refused >= 2);
    await new Promise<void>((resolve) => {
      starting.close(() => resolve());
      starting.closeAllConnections();
    });
    const second = await startFakeSupervisor({ token, port: first.port });
    servers.push(second);
    assert.equal((await call).isError, false);
    assert.deepEqual(second.toolCalls, [{ name: 'send', args: { to: 'parent', text: 'while starting' } }]);
  });

  void test('a call whose connection drops mid-request is not retried: it fails naming the dropped connection', async () => {
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    // The first server takes the call and never answers.
    const first = await startFakeSupervisor({
      token,
      beforeTool: () => {
        arrived();
        return new Promise<void>(() => undefined);
      },
    });
    const conn = new McpConnection({ url: `${first.url}/mcp`, token, reconnectWindowMs: 20_000 });
    connections.push(conn);
    const call = conn.callTool('spawn', { role: 'specialist', name: 'x', prompt: 'p' });
    await inFlight;
    await first.close();
    // Back at once: a retry would reach it.
    const second = await startFakeSupervisor({ token, port: first.port });
    servers.push(second);
    await assert.rejects(
      call,
      /supervisor connection dropped mid-call \(other side closed\): the call may or may not have taken effect/,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(second.toolCalls, []);
    // The connection itself recovers for the next call.
    assert.equal((await conn.callTool('send', { to: 'parent', text: 'next' })).isError, false);
  });

  void test('an interrupt ends the wait for the supervisor', async () => {
    const first = await startFakeSupervisor({ token });
    const conn = new McpConnection({ url: `${first.url}/mcp`, token, reconnectWindowMs: 20_000 });
    connections.push(conn);
    await first.close();
    const controller = new AbortController();
    const call = conn.callTool('send', { to: 'parent', text: 'x' }, controller.signal);
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    await assert.rejects(call);
    assert.ok(Date.now() - started < 1500);
  });

  void test('an MCP validation error becomes a rejection the turn loop reports, and the connection stays usable', async () => {
    const sup = await startFakeSupervisor({ token });
    servers.push(sup);
    const conn = new McpConnection({ url: `${sup.url}/mcp`, token });
    connections.push(conn);
    const bad = await conn.callTool('send', { to: 'parent' }).then(
      (r) => r,
      (err: unknown) => ({ content: String(err), isError: true }),
    );
    assert.equal(bad.isError, true);
    assert.equal((await conn.callTool('send', { to: 'parent', text: 'ok' })).isError, false);
  });
});
