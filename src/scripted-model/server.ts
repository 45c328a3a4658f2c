import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asError, silentLogger, TmuxClaudeError, type Logger } from '../core/index.js';
import { roleFromSystemPrompt } from './prompt-formats.js';
import { nextTurn } from './scenarios.js';
import type { ReplyBlock, ScriptedTurn, WireMessage } from './wire.js';

/** Options of {@link createScriptedModelServer}. */
export interface ScriptedModelServerOptions {
  /** Port to listen on; 0 or absent picks a free one. */
  port?: number;
  /** Only loopback: the server has no authentication. */
  host?: '127.0.0.1';
  /** Fault knob: wait this long before answering each request (a slow model). */
  delayMs?: number;
  logger?: Logger;
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

const MAX_BODY_BYTES = 64 * 1024 * 1024;

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
  stop_sequence: null;
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
 * The SSE sequence the real API sends for a message: message_start, per block content_block_start /
 * content_block_delta (text_delta or input_json_delta, in chunks) / content_block_stop, message_delta with the
 * stop reason and output usage, message_stop.
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
      delta: { stop_reason: msg.stop_reason, stop_sequence: null },
      usage: { output_tokens: msg.usage.output_tokens },
    },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { type: 'error', error: { type, message } });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new TmuxClaudeError('INVALID_ARGUMENT', `request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

interface MessagesRequest {
  model?: unknown;
  system?: unknown;
  messages: WireMessage[];
  tools?: unknown;
  stream?: unknown;
}

function parseRequest(raw: string): MessagesRequest | string {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return 'request body is not valid JSON';
  }
  if (body === null || typeof body !== 'object') return 'request body must be a JSON object';
  const messages = (body as { messages?: unknown }).messages;
  if (!Array.isArray(messages)) return 'messages: expected an array';
  for (const [i, m] of messages.entries()) {
    const ok =
      m !== null &&
      typeof m === 'object' &&
      ((m as WireMessage).role === 'user' || (m as WireMessage).role === 'assistant') &&
      (typeof (m as WireMessage).content === 'string' || Array.isArray((m as WireMessage).content));
    if (!ok) return `messages.${i}: expected {role: "user"|"assistant", content: string|array}`;
  }
  return body as MessagesRequest;
}

function offeredToolNames(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  return tools
    .map((t: unknown) => (t !== null && typeof t === 'object' ? (t as { name?: unknown }).name : undefined))
    .filter((n): n is string => typeof n === 'string');
}

/** Answers one Messages request; a scenario bug becomes a text reply, never a crash or a 500. */
function scriptedReply(req: MessagesRequest): ScriptedMessage {
  const role = roleFromSystemPrompt(req.system);
  let turn: ScriptedTurn;
  try {
    turn = nextTurn(role, req.messages, { tools: offeredToolNames(req.tools) });
  } catch (err) {
    turn = {
      content: [{ type: 'text', text: `Scripted model: internal error: ${asError(err).message}` }],
      stop_reason: 'end_turn',
    };
  }
  const prompt = JSON.stringify({ system: req.system ?? '', messages: req.messages, tools: req.tools ?? [] });
  const output = JSON.stringify(turn.content);
  return {
    id: `msg_scripted_${createHash('sha256').update(prompt).digest('hex').slice(0, 24)}`,
    type: 'message',
    role: 'assistant',
    model: typeof req.model === 'string' ? req.model : 'scripted',
    content: turn.content,
    stop_reason: turn.stop_reason,
    stop_sequence: null,
    usage: {
      input_tokens: estimateTokens(prompt),
      output_tokens: estimateTokens(output),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '' || path === '/health')) {
      sendJson(res, 200, { ok: true, requests });
      return;
    }
    if (req.method !== 'POST' || (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')) {
      sendError(
        res,
        404,
        'not_found_error',
        `${req.method ?? ''} ${path} is not served by the scripted model`,
      );
      return;
    }
    const parsed = parseRequest(await readBody(req));
    if (typeof parsed === 'string') {
      sendError(res, 400, 'invalid_request_error', parsed);
      return;
    }
    if (path === '/v1/messages/count_tokens') {
      const all = JSON.stringify({
        system: parsed.system ?? '',
        messages: parsed.messages,
        tools: parsed.tools ?? [],
      });
      sendJson(res, 200, { input_tokens: estimateTokens(all) });
      return;
    }
    requests += 1;
    const msg = scriptedReply(parsed);
    log.debug({ role: roleFromSystemPrompt(parsed.system), stop: msg.stop_reason }, 'scripted reply');
    if (delayMs > 0) await sleep(delayMs);
    if (res.destroyed) return;
    if (parsed.stream !== true) {
      sendJson(res, 200, msg);
      return;
    }
    res.writeHead(200, {
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
