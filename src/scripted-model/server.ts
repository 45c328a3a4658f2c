import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isRecord, asError, silentLogger, type Logger } from '../core/index.js';
import { readBody, sendJson } from './http.js';
import { roleFromSystemPrompt, textOf } from './prompt-formats.js';
import { knobsOf, nextTurn } from './scenarios.js';
import { sideRequest } from './side-requests.js';
import {
  isToolUseBlock,
  type ReplyBlock,
  type ScriptedTurn,
  type WireBlock,
  type WireMessage,
  type WireToolResultBlock,
} from './wire.js';

/** Options of {@link createScriptedModelServer}. */
export interface ScriptedModelServerOptions {
  /** Port to listen on; 0 or absent picks a free one. */
  port?: number;
  /** Only loopback: the server has no authentication. */
  host?: '127.0.0.1';
  /**
   * Fault knob: wait this long before answering each request (a slow model). A conversation's own
   * ```scripted {"delayMs": N} knob overrides it for that conversation's requests.
   */
  delayMs?: number;
  logger?: Logger;
  /** Called with every request the server receives, once classified (for request logs in tests). */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** A running scripted model. Owns its listening socket until `close()`. */
export interface ScriptedModelServer {
  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  readonly url: string;
  /** Number of POST /v1/messages requests received so far. */
  readonly requests: number;
  /** Stops listening and drops open connections; idempotent. */
  close(): Promise<void>;
}

/** Rough token count, as the task asks: characters / 4. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The full (non-streaming) Messages API response for a scripted turn. */
export interface ScriptedMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: ReplyBlock[];
  stop_reason: ScriptedTurn['stop_reason'];
  stop_sequence: string | null;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_creation_input_tokens: number;
    cache_read_input_tokens: number;
  };
}

/** One server-sent event of a streamed reply. */
export interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
}

function chunks(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
  return parts.length > 0 ? parts : [''];
}

/**
 * The SSE sequence the real API sends for a message: message_start (usage with input and cache token counts),
 * ping, per block content_block_start / content_block_delta (text_delta or input_json_delta, in chunks) /
 * content_block_stop, message_delta with the stop reason and the final usage, message_stop.
 */
export function streamEvents(msg: ScriptedMessage): StreamEvent[] {
  const events: StreamEvent[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          ...msg,
          content: [],
          stop_reason: null,
          usage: { ...msg.usage, output_tokens: 1 },
        },
      },
    },
    { event: 'ping', data: { type: 'ping' } },
  ];
  msg.content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push({
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } },
      });
      for (const part of chunks(block.text, 64)) {
        events.push({
          event: 'content_block_delta',
          data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text: part } },
        });
      }
    } else {
      events.push({
        event: 'content_block_start',
        data: {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        },
      });
      for (const part of chunks(JSON.stringify(block.input), 128)) {
        events.push({
          event: 'content_block_delta',
          data: {
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: part },
          },
        });
      }
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push({
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: msg.stop_reason, stop_sequence: msg.stop_sequence },
      usage: { ...msg.usage },
    },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { type: 'error', error: { type, message } });
}

/** A message as clients send it: Claude Code also sends `system`-role messages (environment context). */
interface RequestMessage {
  role: string;
  content: string | WireBlock[];
}

/** The fields the server reads; any other top-level field (thinking, metadata, …) is accepted and ignored. */
interface MessagesRequest {
  model?: unknown;
  system?: unknown;
  messages: RequestMessage[];
  tools?: unknown;
  stream?: unknown;
  max_tokens?: unknown;
  stop_sequences?: unknown;
  output_config?: unknown;
}

/**
 * Checks the shape the server relies on and nothing more: a well-formed request from any client (Claude
 * Code's `system`-role messages, thinking/image/document/server-tool blocks, extra top-level fields) passes.
 * Returns the request, or an error message that names the offending field.
 */
function parseRequest(raw: string): MessagesRequest | string {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return 'request body is not valid JSON';
  }
  if (!isRecord(body)) return 'request body must be a JSON object';
  const { messages, system, tools } = body;
  if (!Array.isArray(messages)) return 'messages: expected an array';
  for (const [i, m] of messages.entries()) {
    if (!isRecord(m)) return `messages.${i}: expected an object {role, content}`;
    if (typeof m.role !== 'string') return `messages.${i}.role: expected a string`;
    if (typeof m.content === 'string') continue;
    if (!Array.isArray(m.content)) return `messages.${i}.content: expected a string or an array of blocks`;
    for (const [j, b] of m.content.entries()) {
      if (!isRecord(b) || typeof b.type !== 'string') {
        return `messages.${i}.content.${j}: expected a content block with a string "type"`;
      }
    }
  }
  if (system !== undefined && typeof system !== 'string' && !Array.isArray(system)) {
    return 'system: expected a string or an array of text blocks';
  }
  if (tools !== undefined && !Array.isArray(tools)) return 'tools: expected an array';
  return body as unknown as MessagesRequest;
}

function offeredToolNames(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  return tools
    .map((t: unknown) => (t !== null && typeof t === 'object' ? (t as { name?: unknown }).name : undefined))
    .filter((n): n is string => typeof n === 'string');
}

/** The user/assistant turns of a request; Claude Code's `system`-role messages are context, not turns. */
function conversationOf(req: MessagesRequest): WireMessage[] {
  return req.messages.filter((m): m is WireMessage => m.role === 'user' || m.role === 'assistant');
}

/** The system prompt and the text of every `system`-role message. */
function contextOf(req: MessagesRequest): string[] {
  return [
    textOf(req.system),
    ...req.messages.filter((m) => m.role === 'system').map((m) => textOf(m.content)),
  ].filter((t) => t !== '');
}

/** How the server classified a request, for logs and tests. */
export interface RequestLogEntry {
  method: string;
  /** Path and query as received, e.g. `/v1/messages?beta=true`. */
  url: string;
  /** The parsed JSON body, the raw text when it is not JSON, or null without a body. */
  body: unknown;
  /**
   * `scenario:<role>` for a role's conversation, a Claude Code side request's name (see side-requests.ts),
   * `count_tokens`, `invalid` (answered 400), `not_found` (404) or `rate_limited` (429, the
   * rateLimitAfterClaim fault).
   */
  kind: string;
  /** The scripted answer, for POST /v1/messages requests that got one. */
  reply?: ScriptedTurn;
}

/** A scripted turn, and how long to wait before sending it. */
interface Decision {
  kind: string;
  turn: ScriptedTurn;
  /** From a ```scripted {"delayMs"} knob of the conversation; undefined without one. */
  delayMs?: number;
  /** From a ```scripted {"rateLimitAfterClaim"} knob: answer 429 with this retry-after (seconds) instead. */
  rateLimitS?: number;
}

/**
 * Whether a conversation ends with the result of a successful claim_task and nothing else: the last message
 * is a user message of tool_result blocks only, one of them answering a claim_task call (by its plain or
 * `mcp__…__` name) without an error.
 */
export function endsWithClaimResult(messages: readonly WireMessage[]): boolean {
  const last = messages.at(-1);
  const before = messages.at(-2);
  if (last?.role !== 'user' || typeof last.content === 'string' || last.content.length === 0) return false;
  if (!last.content.every((b) => b.type === 'tool_result')) return false;
  if (before?.role !== 'assistant' || typeof before.content === 'string') return false;
  const claims = new Set(
    before.content
      .filter(isToolUseBlock)
      .filter((b) => b.name === 'claim_task' || b.name.endsWith('__claim_task'))
      .map((b) => b.id),
  );
  return last.content.some((b) => {
    const r = b as WireToolResultBlock;
    return claims.has(r.tool_use_id) && r.is_error !== true;
  });
}

/** Decides one Messages request; a scenario bug becomes a text reply, never a crash or a 500. */
function decide(req: MessagesRequest): Decision {
  const side = sideRequest(req);
  if (side) return side;
  const context = contextOf(req);
  const role = roleFromSystemPrompt(context.join('\n'));
  const conversation = conversationOf(req);
  try {
    const turn = nextTurn(role, conversation, { tools: offeredToolNames(req.tools), context });
    const { delayMs, rateLimitAfterClaim } = knobsOf(conversation, context);
    const rateLimited = rateLimitAfterClaim !== undefined && endsWithClaimResult(conversation);
    return {
      kind: `scenario:${role ?? 'unknown'}`,
      turn,
      ...(delayMs !== undefined ? { delayMs } : {}),
      ...(rateLimited ? { rateLimitS: rateLimitAfterClaim } : {}),
    };
  } catch (err) {
    const turn: ScriptedTurn = {
      content: [{ type: 'text', text: `Scripted model: internal error: ${asError(err).message}` }],
      stop_reason: 'end_turn',
    };
    return { kind: `scenario:${role ?? 'unknown'}`, turn };
  }
}

/** The Messages API response for a scripted turn. */
function toMessage(req: MessagesRequest, turn: ScriptedTurn): ScriptedMessage {
  const prompt = JSON.stringify({ system: req.system ?? '', messages: req.messages, tools: req.tools ?? [] });
  const output = JSON.stringify(turn.content);
  return {
    id: `msg_scripted_${createHash('sha256').update(prompt).digest('hex').slice(0, 24)}`,
    type: 'message',
    role: 'assistant',
    model: typeof req.model === 'string' ? req.model : 'scripted',
    content: turn.content,
    stop_reason: turn.stop_reason,
    stop_sequence: turn.stop_sequence ?? null,
    usage: {
      input_tokens: estimateTokens(prompt),
      output_tokens: estimateTokens(output),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    },
  };
}

/** Waits `ms`, or less when the client goes away (an interrupted turn, the server closing). */
function sleepUnlessClosed(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

/**
 * Starts an Anthropic-Messages-compatible HTTP server whose replies come from the role scenarios
 * ({@link nextTurn}). Serves POST /v1/messages (streaming SSE and JSON) and POST /v1/messages/count_tokens.
 * Stateless: every reply is derived from the request's conversation alone.
 */
export async function createScriptedModelServer(
  opts: ScriptedModelServerOptions = {},
): Promise<ScriptedModelServer> {
  const log = opts.logger ?? silentLogger();
  const delayMs = opts.delayMs ?? 0;
  let requests = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const method = req.method ?? '';
    // Claude Code appends `?beta=true`; the query is ignored.
    const path = new URL(url, 'http://localhost').pathname.replace(/\/+$/, '');
    if (method === 'GET' && (path === '' || path === '/health')) {
      sendJson(res, 200, { ok: true, requests });
      return;
    }
    if (method !== 'POST' || (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')) {
      // Claude Code probes `HEAD /api/hello` unless CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC is set.
      opts.onRequest?.({ method, url, body: null, kind: 'not_found' });
      sendError(res, 404, 'not_found_error', `${method} ${path} is not served by the scripted model`);
      return;
    }
    const raw = await readBody(req);
    const parsed = parseRequest(raw);
    if (typeof parsed === 'string') {
      if (opts.onRequest) {
        let body: unknown = raw;
        try {
          body = JSON.parse(raw);
        } catch {
          // logged as text
        }
        opts.onRequest({ method, url, body, kind: 'invalid' });
      }
      log.warn({ url, error: parsed }, 'scripted model refused a malformed request');
      sendError(res, 400, 'invalid_request_error', parsed);
      return;
    }
    if (path === '/v1/messages/count_tokens') {
      opts.onRequest?.({ method, url, body: parsed, kind: 'count_tokens' });
      const all = JSON.stringify({
        system: parsed.system ?? '',
        messages: parsed.messages,
        tools: parsed.tools ?? [],
      });
      sendJson(res, 200, { input_tokens: estimateTokens(all) });
      return;
    }
    requests += 1;
    const decision = decide(parsed);
    if (decision.rateLimitS !== undefined) {
      opts.onRequest?.({ method, url, body: parsed, kind: 'rate_limited' });
    } else {
      opts.onRequest?.({ method, url, body: parsed, kind: decision.kind, reply: decision.turn });
    }
    if (decision.rateLimitS !== undefined) {
      // As the API answers a usage limit: retry-after, the reset time, and no point in the client retrying now.
      const resetAt = new Date(Date.now() + decision.rateLimitS * 1000).toISOString();
      res.setHeader('retry-after', String(decision.rateLimitS));
      res.setHeader('anthropic-ratelimit-requests-reset', resetAt);
      res.setHeader('x-should-retry', 'false');
      sendError(res, 429, 'rate_limit_error', `Scripted rate limit: retry after ${decision.rateLimitS} s`);
      return;
    }
    const msg = toMessage(parsed, decision.turn);
    log.debug({ kind: decision.kind, stop: msg.stop_reason }, 'scripted reply');
    const wait = decision.delayMs ?? delayMs;
    if (wait > 0) await sleepUnlessClosed(wait, res);
    if (res.destroyed || res.writableEnded || req.socket.destroyed) return;
    const headers = { 'request-id': `req_${msg.id.slice('msg_scripted_'.length)}` };
    if (parsed.stream !== true) {
      res.setHeader('request-id', headers['request-id']);
      sendJson(res, 200, msg);
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    for (const e of streamEvents(msg)) res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = asError(err);
      log.warn({ err: e }, 'scripted model request failed');
      if (!res.headersSent) sendError(res, 500, 'api_error', e.message);
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  log.info({ url, delayMs }, 'scripted model listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    get requests() {
      return requests;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
