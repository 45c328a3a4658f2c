import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type Request, type Response } from 'express';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/** One JSON-RPC request that reached /mcp, with whether it carried the right bearer token. */
export interface McpRequestRecord {
  method: string;
  authorized: boolean;
  clientName?: string;
}

/** One POST to /hooks/:event. */
export interface HookRecord {
  event: string;
  authorized: boolean;
  body: Record<string, unknown>;
}

/** One tools/call the MCP server executed. */
export interface ToolCallRecord {
  name: string;
  args: Record<string, unknown>;
}

/**
 * A stand-in for the supervisor's /mcp and /hooks, for adapter tests against the real agent CLIs: the real MCP
 * SDK (a stateless Streamable HTTP server per request) behind a bearer token, with the tools `list`,
 * `spawn` and `send`. It records every request, so tests wait for what the CLI did rather than for time to pass.
 */
export interface StandInSupervisor {
  readonly url: string;
  readonly mcp: readonly McpRequestRecord[];
  readonly hooks: readonly HookRecord[];
  readonly toolCalls: readonly ToolCallRecord[];
  /** Answers for the next Stop hooks, in order; `{}` once empty. */
  readonly stopAnswers: Record<string, unknown>[];
  /** Resolves with the first record `pick` returns a value for, once it exists; rejects after `timeoutMs`. */
  waitFor<T>(what: string, pick: () => T | undefined, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1 with the token every request must carry. */
export async function startStandInSupervisor(token: string): Promise<StandInSupervisor> {
  const mcp: McpRequestRecord[] = [];
  const hooks: HookRecord[] = [];
  const toolCalls: ToolCallRecord[] = [];
  const stopAnswers: Record<string, unknown>[] = [];
  const changed = new EventEmitter();
  changed.setMaxListeners(0);
  const authorized = (req: Request): boolean => req.headers.authorization === `Bearer ${token}`;

  const buildServer = (): McpServer => {
    const server = new McpServer({ name: 'tmux-claude', version: '0.0.0-test' });
    const record = (name: string, args: Record<string, unknown>, result: Record<string, unknown>) => {
      toolCalls.push({ name, args });
      changed.emit('change');
      return { content: [{ type: 'text' as const, text: JSON.stringify(result) }] };
    };
    server.registerTool(
      'list',
      { description: 'List the instances of your organisation.', inputSchema: {} },
      () => record('list', {}, { instances: [{ id: 'exec-test', role: 'executive', state: 'busy' }] }),
    );
    server.registerTool(
      'spawn',
      {
        description: 'Start a new agent under you.',
        inputSchema: {
          role: z.enum(['manager', 'specialist']),
          name: z.string(),
          prompt: z.string().optional(),
        },
      },
      (args) =>
        record('spawn', args, {
          id: `${args.role === 'manager' ? 'mgr' : 'spec'}-${args.name}`,
          role: args.role,
        }),
    );
    server.registerTool(
      'send',
      { description: 'Send a message to another agent.', inputSchema: { to: z.string(), text: z.string() } },
      (args) => record('send', args, { messageId: `msg-${toolCalls.length + 1}`, delivered: true }),
    );
    return server;
  };

  const app = express();
  app.use(express.json({ limit: '20mb' }));
  app.post('/mcp', async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { method?: unknown; params?: { clientInfo?: { name?: unknown } } };
    const clientName = body.params?.clientInfo?.name;
    mcp.push({
      method: typeof body.method === 'string' ? body.method : '(batch or response)',
      authorized: authorized(req),
      ...(typeof clientName === 'string' ? { clientName } : {}),
    });
    changed.emit('change');
    if (!authorized(req)) {
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
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
    res.status(405).set('allow', 'POST').json({ error: 'use POST' });
  });
  app.post('/hooks/:event', (req: Request, res: Response) => {
    const event = String(req.params.event);
    hooks.push({ event, authorized: authorized(req), body: (req.body ?? {}) as Record<string, unknown> });
    changed.emit('change');
    if (!authorized(req)) {
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
    res.json(event === 'Stop' ? (stopAnswers.shift() ?? {}) : {});
  });

  const http: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = http.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    mcp,
    hooks,
    toolCalls,
    stopAnswers,
    waitFor<T>(what: string, pick: () => T | undefined, timeoutMs = 60_000): Promise<T> {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const value = pick();
          if (value === undefined) return false;
          cleanup();
          resolve(value);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        const onChange = (): void => void check();
        const cleanup = (): void => {
          clearTimeout(timer);
          changed.off('change', onChange);
        };
        changed.on('change', onChange);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
