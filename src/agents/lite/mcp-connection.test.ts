import { strict as assert } from 'node:assert';
import { after, describe, test } from 'node:test';
import { McpConnection } from './mcp-connection.js';
import { startFakeSupervisor, type FakeSupervisor } from './testing/fake-supervisor.js';

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

  void test('keeps working after the server restarts on the same port; fails clearly while it is down', async () => {
    const first = await startFakeSupervisor({ token });
    const conn = new McpConnection({ url: `${first.url}/mcp`, token });
    connections.push(conn);
    await conn.listTools();
    await first.close();

    await assert.rejects(conn.callTool('send', { to: 'parent', text: 'while down' }));

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
