import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Request, Response } from 'express';
import type { Logger } from '../core/index.js';
import type { Caller, Orchestrator } from './orchestrator.js';
import { buildMcpServer } from './tools.js';

/**
 * The Streamable HTTP endpoint, stateless: each POST gets a fresh server bound to the caller resolved from
 * its bearer token. Stateless means agents keep working across a supervisor restart with no session to lose.
 */
export function mcpHandler(
  orchestrator: Orchestrator,
  authenticate: (token: string) => Promise<Caller | null>,
  log: Logger,
): (req: Request, res: Response) => Promise<void> {
  return async (req, res) => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const caller = token ? await authenticate(token) : null;
    if (!caller) {
      res.status(401).json({
        jsonrpc: '2.0',
        error: {
          code: -32001,
          message: 'missing or unknown bearer token: only tmux-claude instances may call /mcp',
        },
        id: null,
      });
      return;
    }
    const server = buildMcpServer(caller, orchestrator);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      log.error({ err, caller: caller.id }, 'mcp request failed');
      if (!res.headersSent) {
        res
          .status(500)
          .json({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null });
      }
    }
  };
}
