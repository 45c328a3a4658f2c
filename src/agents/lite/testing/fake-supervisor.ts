import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/** A hook POST the fake supervisor received. */
export interface ReceivedHook {
  event: string;
  body: Record<string, unknown>;
}

/** A tool call the fake supervisor's MCP server executed. */
export interface ReceivedToolCall {
  name: string;
  args: Record<string, unknown>;
}

/**
 * A stand-in for the supervisor's HTTP surface, built on the real MCP SDK: a stateless Streamable HTTP MCP
 * endpoint at /mcp (a new McpServer per request) and /hooks/:event, both behind a bearer token. Records
 * what it receives. Test-only.
 */
export interface FakeSupervisor {
  readonly url: string;
  readonly port: number;
  readonly hooks: ReceivedHook[];
  readonly toolCalls: ReceivedToolCall[];
  /** Requests refused for a missing or wrong token. */
  readonly unauthorized: number;
  /** Responses for the next Stop hooks, in order; `{}` once empty. */
  readonly stopResponses: unknown[];
  /** Resolves with the `n`-th (1-based) hook of this event once it has arrived. */
  waitForHook(event: string, n?: number): Promise<ReceivedHook>;
  close(): Promise<void>;
}

/** Options of {@link startFakeSupervisor}. */
export interface FakeSupervisorOptions {
  token: string;
  /** Listen on this port (a restart on the same port); a free one when absent. */
  port?: number;
  /** Awaited before a tool runs: lets a test hold a call in flight. */
  beforeTool?: (call: ReceivedToolCall) => Promise<void>;
}

export async function startFakeSupervisor(opts: FakeSupervisorOptions): Promise<FakeSupervisor> {
  const hooks: ReceivedHook[] = [];
  const toolCalls: ReceivedToolCall[] = [];
  const stopResponses: unknown[] = [];
  const waiters: (() => void)[] = [];
  let unauthorized = 0;
  let spawned = 0;

  const record = async (name: string, args: Record<string, unknown>, result: unknown) => {
    await opts.beforeTool?.({ name, args });
    toolCalls.push({ name, args });
    return { content: [{ type: 'text' as const, text: JSON.stringify(result) }] };
  };

  const buildServer = (): McpServer => {
    const server = new McpServer({ name: 'fake-supervisor', version: '0.0.0' });
    server.registerTool(
      'send',
      { description: 'Send a message', inputSchema: { to: z.string(), text: z.string() } },
      (args) => record('send', args, { messageId: `msg-${toolCalls.length + 1}`, delivered: true }),
    );
    server.registerTool(
      'spawn',
      {
        description: 'Spawn an instance',
        inputSchema: { role: z.enum(['manager', 'specialist']), name: z.string(), prompt: z.string() },
      },
      (args) => {
        const id = `${args.role === 'manager' ? 'mgr' : 'spec'}-fake${++spawned}`;
        return record('spawn', args, { id, role: args.role, branch: `b-${id}`, tmuxSession: `tc-${id}` });
      },
    );
    server.registerTool(
      'merge_branch',
      { description: 'Merge a branch', inputSchema: { instance_id: z.string() } },
      (args) => record('merge_branch', args, { merged: true, commit: 'abc1234', into: 'main', commits: 1 }),
    );
    server.registerTool(
      'terminate',
      { description: 'Terminate', inputSchema: { id: z.string(), cascade: z.boolean().optional() } },
      (args) => record('terminate', args, { terminated: true }),
    );
    return server;
  };

  const app = express();
  app.use(express.json({ limit: '20mb' }));
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.headers.authorization !== `Bearer ${opts.token}`) {
      unauthorized += 1;
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
    next();
  });
  app.post('/mcp', async (req: Request, res: Response) => {
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  app.all('/mcp', (_req: Request, res: Response) => {
    res.status(405).set('allow', 'POST').json({ error: 'method not allowed' });
  });
  app.post('/hooks/:event', (req: Request, res: Response) => {
    const event = String(req.params.event);
    hooks.push({ event, body: (req.body ?? {}) as Record<string, unknown> });
    for (const w of waiters.splice(0)) w();
    res.json(event === 'Stop' && stopResponses.length > 0 ? stopResponses.shift() : {});
  });

  const http: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = http.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hooks,
    toolCalls,
    stopResponses,
    get unauthorized() {
      return unauthorized;
    },
    waitForHook(event, n = 1) {
      return new Promise((resolve) => {
        const check = (): void => {
          const found = hooks.filter((h) => h.event === event)[n - 1];
          if (found) resolve(found);
          else waiters.push(check);
        };
        check();
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
