import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Request, Response } from 'express';
import { TmuxClaudeError, type Logger } from '../core/index.js';
import type { Caller, Orchestrator } from './orchestrator.js';
import { buildMcpServer } from './tools.js';

const IDLE_PER_CALLER = 2;
/** Servers unused this long are dropped: an idle agent's server should not hold memory for hours. */
const IDLE_MS = 30_000;

/**
 * Idle servers per caller, reused across requests: building one (every tool's schema) costs more than most
 * requests it answers. A server is bound to its caller's identity, so it is only reused for the same one.
 */
class ServerPool {
  /** In least-recently-used order (a Map keeps insertion order). */
  private readonly idle = new Map<string, { servers: McpServer[]; usedAt: number }>();

  constructor(private readonly orchestrator: Orchestrator) {
    setInterval(() => this.prune(Date.now()), IDLE_MS).unref();
  }

  take(caller: Caller): McpServer {
    const key = callerKey(caller);
    const entry = this.idle.get(key);
    const server = entry?.servers.pop();
    if (entry && entry.servers.length === 0) this.idle.delete(key);
    return server ?? buildMcpServer(caller, this.orchestrator);
  }

  give(caller: Caller, server: McpServer): void {
    const key = callerKey(caller);
    const now = Date.now();
    const entry = this.idle.get(key) ?? { servers: [], usedAt: now };
    this.idle.delete(key);
    if (entry.servers.length < IDLE_PER_CALLER) entry.servers.push(server);
    entry.usedAt = now;
    this.idle.set(key, entry);
    this.prune(now);
  }

  /** Drops the callers whose servers have not been used for IDLE_MS (the oldest come first). */
  private prune(now: number): void {
    for (const [key, e] of this.idle) {
      if (now - e.usedAt < IDLE_MS) break;
      this.idle.delete(key);
    }
  }
}

/**
 * The answer when the caller could not be looked up (the store is down): a tool call gets a tool error with
 * the reason, as any failed call does (the agent reads it and can retry; its MCP client keeps the server
 * connected); any other request gets a JSON-RPC error, status 503 for UNAVAILABLE.
 */
function lookupFailed(req: Request, res: Response, err: unknown): void {
  const e =
    err instanceof TmuxClaudeError
      ? err
      : new TmuxClaudeError('INTERNAL', err instanceof Error ? err.message : String(err));
  const text = `Error ${e.code}: ${e.message}${e.hint ? `\nWhat to do: ${e.hint}` : ''}`;
  const body = req.body as { method?: unknown; id?: unknown } | null | undefined;
  const id = typeof body?.id === 'string' || typeof body?.id === 'number' ? body.id : null;
  if (body?.method === 'tools/call' && id !== null) {
    res
      .status(200)
      .json({ jsonrpc: '2.0', id, result: { isError: true, content: [{ type: 'text', text }] } });
    return;
  }
  res
    .status(e.code === 'UNAVAILABLE' ? 503 : 500)
    .json({ jsonrpc: '2.0', error: { code: -32000, message: text }, id });
}

function callerKey(c: Caller): string {
  return JSON.stringify([c.id, c.role, c.runId, c.parentId, c.branch]);
}

/**
 * The Streamable HTTP endpoint, stateless: each POST is served on its own transport by a server bound to the
 * caller resolved from its bearer token (taken from a pool of idle ones). Stateless means agents keep working
 * across a supervisor restart with no session to lose.
 */
export function mcpHandler(
  orchestrator: Orchestrator,
  authenticate: (token: string) => Promise<Caller | null>,
  log: Logger,
): (req: Request, res: Response) => Promise<void> {
  const pool = new ServerPool(orchestrator);
  return async (req, res) => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    let caller: Caller | null;
    try {
      caller = token ? await authenticate(token) : null;
    } catch (err) {
      // E.g. the store is unreachable: answer at once with the reason rather than leave the agent waiting.
      log.warn({ err }, 'mcp caller lookup failed');
      lookupFailed(req, res, err);
      return;
    }
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
    const server = pool.take(caller);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    let failed = false;
    res.on('close', () => {
      // Closing the transport detaches the server from it; a clean one goes back to the pool.
      void transport.close().then(() => {
        if (!failed) pool.give(caller, server);
      });
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      failed = true;
      log.error({ err, caller: caller.id }, 'mcp request failed');
      if (!res.headersSent) {
        res
          .status(500)
          .json({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null });
      }
    }
  };
}
