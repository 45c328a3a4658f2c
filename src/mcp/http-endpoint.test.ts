import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import express from 'express';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { silentLogger } from '../core/index.js';
import { mcpHandler } from './http-endpoint.js';
import type { Caller, Orchestrator } from './orchestrator.js';

const CALLERS: Record<string, Caller> = {
  'token-a': { id: 'spec-a', role: 'specialist', runId: 'run-1', parentId: 'mgr-1', branch: 'a' },
  'token-b': { id: 'mgr-b', role: 'manager', runId: 'run-1', parentId: 'exec-1', branch: 'b' },
};

describe('MCP HTTP endpoint', () => {
  it('serves many requests per caller and never answers one caller with another’s server', async () => {
    const seen: string[] = [];
    // Only what these calls reach: heartbeat answers with the caller the server was built for.
    const orchestrator = {
      heartbeat: async (caller: Caller) => {
        seen.push(caller.id);
        return { tasks: [], reservations: 0, expiresAt: 0 };
      },
      recordToolCall: async () => undefined,
    } as unknown as Orchestrator;
    const app = express();
    app.use(express.json());
    const handler = mcpHandler(orchestrator, async (t) => CALLERS[t] ?? null, silentLogger());
    app.post('/mcp', (req, res) => void handler(req, res));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
    const connect = async (token: string): Promise<Client> => {
      const c = new Client({ name: 'test', version: '1' });
      await c.connect(
        new StreamableHTTPClientTransport(url, {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      return c;
    };
    const [a, b] = [await connect('token-a'), await connect('token-b')];
    try {
      const expected: string[] = [];
      for (let i = 0; i < 10; i++) {
        // Interleaved and concurrent: pooled servers are reused while others are busy.
        await Promise.all([
          a.callTool({ name: 'heartbeat', arguments: {} }),
          b.callTool({ name: 'heartbeat', arguments: {} }),
        ]);
        expected.push('spec-a', 'mgr-b');
      }
      assert.deepEqual([...seen].sort(), expected.sort());
      const denied = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope' } });
      assert.equal(denied.status, 401);
    } finally {
      await a.close();
      await b.close();
      server.close();
    }
  });
});
