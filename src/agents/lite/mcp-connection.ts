import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { asError, TmuxClaudeError } from '../../core/index.js';
import {
  causeChain,
  DEFAULT_RECONNECT_WINDOW_MS,
  failedBeforeSend,
  ReconnectBackoff,
  rootMessage,
  sleep,
  type ReconnectObserver,
} from './reconnect.js';
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
  /**
   * How long a request keeps retrying while the supervisor is unreachable (connection refused) or still
   * starting (503), as while it restarts on the same port (default 60 s).
   */
  reconnectWindowMs?: number;
  /** Told while requests wait for the supervisor (for the UI notice). */
  reconnectObserver?: ReconnectObserver;
}

/**
 * How a request to the supervisor failed: `unreached` when the supervisor certainly did not act on it (no
 * connection, or 503 while it starts up), `answered` when it replied with an error (MCP or HTTP), `dropped`
 * when the connection broke after the request was sent, so it may or may not have been acted on.
 */
type Failure = 'unreached' | 'answered' | 'dropped';

function classifyFailure(err: unknown): Failure {
  if (failedBeforeSend(err)) return 'unreached';
  for (const e of causeChain(err)) {
    if (e instanceof McpError) return 'answered';
    // The supervisor answers 503 from the moment it listens until it is ready to serve.
    if (e instanceof StreamableHTTPError) return e.code === 503 ? 'unreached' : 'answered';
  }
  return 'dropped';
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
 * stateless, so a restarted supervisor is reached by reconnecting. While the supervisor is unreachable or
 * starting, requests wait for it with backoff for up to `reconnectWindowMs`. A tool call whose connection
 * broke after it was sent is not retried (tool calls are not idempotent): it rejects naming the dropped
 * connection. Protocol errors (McpError) reject as they are. The turn loop reports every rejection to the
 * model as an error result.
 */
export class McpConnection {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;

  constructor(private readonly opts: McpConnectionOptions) {}

  listTools(): Promise<ToolDefinition[]> {
    return this.withReconnect(
      async (client) => {
        const out: ToolDefinition[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor === undefined ? {} : { cursor });
          out.push(...page.tools.map(toToolDefinition));
          cursor = page.nextCursor;
        } while (cursor);
        return out;
      },
      { idempotent: true },
    );
  }

  callTool(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolOutcome> {
    return this.withReconnect(
      async (client) => {
        const res = await client.callTool({ name, arguments: args }, undefined, {
          timeout: this.opts.toolTimeoutMs ?? 30 * 60_000,
          resetTimeoutOnProgress: true,
          ...(signal ? { signal } : {}),
        });
        return { content: resultText(res.content, res.structuredContent), isError: res.isError === true };
      },
      { idempotent: false, ...(signal ? { signal } : {}) },
    );
  }

  /**
   * Runs `op` on a connected client, waiting and retrying while the supervisor is unreachable. A dropped
   * connection is retried too while connecting (initializing acts on nothing) or when `idempotent`.
   */
  private async withReconnect<T>(
    op: (client: Client) => Promise<T>,
    opts: { idempotent: boolean; signal?: AbortSignal },
  ): Promise<T> {
    const windowMs = this.opts.reconnectWindowMs ?? DEFAULT_RECONNECT_WINDOW_MS;
    const backoff = new ReconnectBackoff(windowMs);
    const observer = this.opts.reconnectObserver;
    for (let waited = false; ; waited = true) {
      // Once connected, op's request may have reached the supervisor.
      let connected = false;
      try {
        const client = await this.ensure();
        connected = true;
        const result = await op(client);
        if (waited) observer?.reconnected();
        return result;
      } catch (err) {
        const failure = classifyFailure(err);
        if (!(err instanceof McpError)) await this.reset();
        if (failure === 'answered' || opts.signal?.aborted) throw err;
        if (failure === 'dropped' && connected && !opts.idempotent) {
          throw new TmuxClaudeError(
            'UNAVAILABLE',
            `the supervisor connection dropped mid-call (${rootMessage(err)}): the call may or may not ` +
              'have taken effect; check before repeating it',
            { cause: err },
          );
        }
        const delay = backoff.next();
        if (backoff.exceeds(delay)) {
          throw new TmuxClaudeError(
            'UNAVAILABLE',
            `supervisor unreachable for ${windowMs / 1000} s (${rootMessage(err)}); the request was not sent`,
            { cause: err, hint: 'is the supervisor running? `tmux-claude status`' },
          );
        }
        observer?.retrying(err, delay);
        await sleep(delay, opts.signal);
      }
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
