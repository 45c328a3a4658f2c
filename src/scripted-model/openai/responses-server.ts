import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asError, silentLogger, type Logger } from '../../core/index.js';
import { roleFromSystemPrompt } from '../prompt-formats.js';
import { nextTurn, type NextTurnOptions } from '../scenarios.js';
import type { ScriptedTurn, WireMessage } from '../wire.js';
import { listen, minimalInstance, parseJsonBody, readBody, sendJson, writeSse } from '../http.js';
import { toConversation, toOutputItems, type OutputItem } from './responses-wire.js';

/** Decides the next assistant turn; {@link nextTurn} by default. */
export type DecideTurn = (
  role: string | undefined,
  messages: readonly WireMessage[],
  opts: NextTurnOptions,
) => ScriptedTurn;

/** Options of {@link createScriptedResponsesServer}. */
export interface ScriptedResponsesServerOptions {
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** Replaces the role scenarios (tests use it to script one exact tool call). */
  decide?: DecideTurn;
  /** Fault knob: an HTTP error to answer instead of a turn, decided per request from its conversation. */
  fault?: (messages: readonly WireMessage[]) => { status: number; message: string } | undefined;
  logger?: Logger;
}

/** A running OpenAI-Responses-compatible scripted model. Owns its socket until `close()`. */
export interface ScriptedResponsesServer {
  /** Base URL for OPENAI_BASE_URL, with `/v1`, e.g. `http://127.0.0.1:40123/v1`. */
  readonly url: string;
  /** POST /v1/responses requests answered so far. */
  readonly requests: number;
  /** Stops listening and drops open connections; idempotent. */
  close(): Promise<void>;
}

interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: 'completed';
  model: string;
  output: OutputItem[];
  usage: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
}

function tokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The turn for one request: structured-output side requests get a schema-shaped JSON text. */
function turnFor(
  body: Record<string, unknown>,
  decide: DecideTurn,
): { turn: ScriptedTurn; conv: ReturnType<typeof toConversation> } {
  const conv = toConversation(body);
  const format = (body.text as { format?: { type?: unknown; schema?: unknown } } | undefined)?.format;
  if (format?.type === 'json_schema') {
    return {
      conv,
      turn: {
        content: [{ type: 'text', text: JSON.stringify(minimalInstance(format.schema)) }],
        stop_reason: 'end_turn',
      },
    };
  }
  const role = roleFromSystemPrompt(conv.system);
  try {
    return {
      conv,
      turn: decide(role, conv.messages, {
        tools: [...conv.tools.keys()],
        context: [conv.system],
      }),
    };
  } catch (err) {
    return {
      conv,
      turn: {
        content: [{ type: 'text', text: `Scripted model: internal error: ${asError(err).message}` }],
        stop_reason: 'end_turn',
      },
    };
  }
}

/**
 * The SSE sequence of a completed response as the Responses API streams it: response.created, per output
 * item output_item.added, its deltas (output_text / function_call_arguments) and output_item.done, then
 * response.completed carrying the whole response.
 */
export function responseEvents(response: ResponseObject): { event: string; data: Record<string, unknown> }[] {
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) => ({
    event: type,
    data: { type, sequence_number: seq++, ...data },
  });
  const events = [ev('response.created', { response: { ...response, status: 'in_progress', output: [] } })];
  response.output.forEach((item, output_index) => {
    if (item.type === 'message') {
      events.push(
        ev('response.output_item.added', {
          output_index,
          item: { ...item, status: 'in_progress', content: [] },
        }),
      );
      const text = item.content[0]?.text ?? '';
      events.push(
        ev('response.output_text.delta', { output_index, item_id: item.id, content_index: 0, delta: text }),
      );
      events.push(
        ev('response.output_text.done', { output_index, item_id: item.id, content_index: 0, text }),
      );
    } else {
      events.push(
        ev('response.output_item.added', {
          output_index,
          item: { ...item, status: 'in_progress', arguments: '' },
        }),
      );
      events.push(
        ev('response.function_call_arguments.delta', {
          output_index,
          item_id: item.id,
          delta: item.arguments,
        }),
      );
      events.push(
        ev('response.function_call_arguments.done', {
          output_index,
          item_id: item.id,
          arguments: item.arguments,
        }),
      );
    }
    events.push(ev('response.output_item.done', { output_index, item }));
  });
  events.push(ev('response.completed', { response }));
  return events;
}

/**
 * Starts an OpenAI-Responses-compatible HTTP server (POST /v1/responses, streaming and JSON; GET /v1/models)
 * whose replies come from the role scenarios, for Codex CLI. Stateless: every reply is derived from the
 * request alone. Tool calls are answered under the name (and namespace) the request offered.
 */
export async function createScriptedResponsesServer(
  opts: ScriptedResponsesServerOptions = {},
): Promise<ScriptedResponsesServer> {
  const log = opts.logger ?? silentLogger();
  const decide = opts.decide ?? nextTurn;
  let requests = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: 'scripted', object: 'model', owned_by: 'tmux-claude' }],
      });
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/responses') {
      sendJson(res, 404, {
        error: { type: 'not_found', message: `${req.method ?? ''} ${path} is not served` },
      });
      return;
    }
    const body = parseJsonBody(await readBody(req));
    if (typeof body === 'string') {
      sendJson(res, 400, { error: { type: 'invalid_request_error', message: body } });
      return;
    }
    requests += 1;
    const { turn, conv } = turnFor(body, decide);
    const fault = opts.fault?.(conv.messages);
    if (fault) {
      sendJson(res, fault.status, { error: { type: 'invalid_request_error', message: fault.message } });
      return;
    }
    const seed = createHash('sha256')
      .update(JSON.stringify(body.input ?? ''))
      .digest('hex')
      .slice(0, 20);
    const output = toOutputItems(turn, conv.tools, seed);
    const inputTokens = tokens(JSON.stringify(body.input ?? '') + conv.system);
    const outputTokens = tokens(JSON.stringify(output));
    const response: ResponseObject = {
      id: `resp_${seed}`,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: 'completed',
      model: typeof body.model === 'string' ? body.model : 'scripted',
      output,
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: inputTokens + outputTokens,
      },
    };
    log.debug({ items: output.map((o) => o.type) }, 'scripted response');
    if (body.stream === true) writeSse(res, responseEvents(response));
    else sendJson(res, 200, response);
  };

  const server = await listen(handle, {
    log,
    port: opts.port,
    onError: (res, message) => sendJson(res, 500, { error: { type: 'server_error', message } }),
  });
  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    get requests() {
      return requests;
    },
    close: () => server.close(),
  };
}
