import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { asError, TmuxClaudeError } from '../../core/index.js';
import type { ToolDefinition, ToolOutcome } from './tool-types.js';

/** Options of {@link McpConnection}. */
export interface McpConnectionOptions {
  /** The MCP endpoint, e.g. `http://127.0.0.1:PORT/mcp`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  token: string;
  clientName?: string;
  /** Per tool call; `spawn` and blocking waits can take minutes (default 30 min). */
  toolTimeoutMs?: number;
}

// Errors that mean the TCP connection was never made, so the request cannot have reached the server.
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** True when the error (or one of its causes) says the request never left this process. */
export function failedBeforeSend(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** An MCP tool as the model sees it (the MCP inputSchema becomes the Anthropic input_schema). */
export function toToolDefinition(tool: {
  name: string;
  description?: string;
  inputSchema: object;
}): ToolDefinition {
  return {
    name: tool.name,
    description: tool.description ?? tool.name,
    input_schema: { type: 'object', ...(tool.inputSchema as Record<string, unknown>) },
  };
}

function resultText(content: unknown, structured: unknown): string {
  const items = Array.isArray(content) ? (content as { type?: unknown; text?: unknown }[]) : [];
  const text = items
    .map((c) => (c.type === 'text' && typeof c.text === 'string' ? c.text : JSON.stringify(c)))
    .join('\n');
  if (text === '' && structured !== undefined) return JSON.stringify(structured);
  return text;
}

/**
 * A real MCP client over Streamable HTTP to the supervisor. Owns its Client and transport. The server is
 * stateless, so a restarted supervisor is reached by reconnecting: `listTools` reconnects and retries once
 * on any failure; `callTool` retries only when the connection failed before the request was sent (a tool
 * call is not idempotent). Protocol errors (McpError) are returned to the model as error results.
 */
export class McpConnection {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;

  constructor(private readonly opts: McpConnectionOptions) {}

  async listTools(): Promise<ToolDefinition[]> {
    const list = async (client: Client): Promise<ToolDefinition[]> => {
      const out: ToolDefinition[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor });
        out.push(...page.tools.map(toToolDefinition));
        cursor = page.nextCursor;
      } while (cursor);
      return out;
    };
    try {
      return await list(await this.ensure());
    } catch {
      await this.reset();
      return await list(await this.ensure());
    }
  }

  async callTool(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolOutcome> {
    const call = async (client: Client): Promise<ToolOutcome> => {
      const res = await client.callTool({ name, arguments: args }, undefined, {
        timeout: this.opts.toolTimeoutMs ?? 30 * 60_000,
        resetTimeoutOnProgress: true,
        ...(signal ? { signal } : {}),
      });
      return { content: resultText(res.content, res.structuredContent), isError: res.isError === true };
    };
    let client: Client;
    try {
      client = await this.ensure();
    } catch {
      // Connecting sends nothing that acts, so one more attempt is safe.
      await this.reset();
      client = await this.ensure();
    }
    try {
      return await call(client);
    } catch (err) {
      if (err instanceof McpError) throw err;
      await this.reset();
      if (!failedBeforeSend(err) || signal?.aborted) throw err;
      return await call(await this.ensure());
    }
  }

  async close(): Promise<void> {
    await this.reset();
  }

  private ensure(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const client = new Client({ name: this.opts.clientName ?? 'tmux-claude-lite', version: '0.1.0' });
    client.onerror = () => {
      // Transport errors also reject the pending request, which is where they are handled.
    };
    // `Connection: close`: a pooled socket to a supervisor that has since restarted fails with "other side
    // closed", which cannot be told apart from a request the server did receive. A fresh connection per
    // request makes a refused connection the only failure mode before sending, so retries stay safe.
    const transport = new StreamableHTTPClientTransport(new URL(this.opts.url), {
      requestInit: { headers: { Authorization: `Bearer ${this.opts.token}`, Connection: 'close' } },
    });
    try {
      await client.connect(transport);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new TmuxClaudeError(
        'UNAVAILABLE',
        `cannot connect to MCP at ${this.opts.url}: ${asError(err).message}`,
        {
          cause: err,
          hint: 'is the supervisor running? `tmux-claude status`',
        },
      );
    }
    this.client = client;
    return client;
  }

  private async reset(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.close().catch(() => undefined);
  }
}
