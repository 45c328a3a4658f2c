import type { IncomingMessage, ServerResponse } from 'node:http';
import { asError, silentLogger, type Logger } from '../../core/index.js';
import type { DecideTurn } from '../openai/index.js';
import { listen, minimalInstance, parseJsonBody, readBody, sendJson, writeSse } from '../http.js';
import { roleFromSystemPrompt } from '../prompt-formats.js';
import { nextTurn } from '../scenarios.js';
import type { ScriptedTurn, WireMessage } from '../wire.js';
import { toConversation, toParts } from './gemini-wire.js';

/** Options of {@link createScriptedGeminiServer}. */
export interface ScriptedGeminiServerOptions {
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** Replaces the role scenarios (tests use it to script one exact tool call). */
  decide?: DecideTurn;
  /** Fault knob: an HTTP error to answer instead of a turn, decided per request from its conversation. */
  fault?: (messages: readonly WireMessage[]) => { status: number; message: string } | undefined;
  logger?: Logger;
}

/** A running Gemini-API-compatible scripted model. Owns its socket until `close()`. */
export interface ScriptedGeminiServer {
  /** Base URL for GOOGLE_GEMINI_BASE_URL, e.g. `http://127.0.0.1:40123` (the client adds `/v1beta`). */
  readonly url: string;
  /** generateContent / streamGenerateContent requests answered so far. */
  readonly requests: number;
  /** Stops listening and drops open connections; idempotent. */
  close(): Promise<void>;
}

const ROUTE = /^\/v1(?:alpha|beta)?\/models\/([^/:]+):([A-Za-z]+)$/;
const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
};

function tokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function sendError(res: ServerResponse, code: number, message: string): void {
  sendJson(res, code, { error: { code, message, status: STATUS_NAMES[code] ?? 'INTERNAL' } });
}

/**
 * The turn for one request. The CLI's side requests that want JSON (next-speaker checks, routing, summaries)
 * get a schema-shaped answer that hands the turn back to the user.
 */
function turnFor(
  body: Record<string, unknown>,
  decide: DecideTurn,
): { turn: ScriptedTurn; conv: ReturnType<typeof toConversation> } {
  const conv = toConversation(body);
  const config = (body.generationConfig ?? {}) as {
    responseMimeType?: unknown;
    responseJsonSchema?: unknown;
    responseSchema?: unknown;
  };
  if (config.responseMimeType === 'application/json') {
    const value = minimalInstance(config.responseJsonSchema ?? config.responseSchema, {
      next_speaker: 'user',
    });
    return {
      conv,
      turn: { content: [{ type: 'text', text: JSON.stringify(value) }], stop_reason: 'end_turn' },
    };
  }
  try {
    return {
      conv,
      turn: decide(roleFromSystemPrompt(conv.system), conv.messages, {
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
 * Starts a Gemini-API-compatible HTTP server (POST /v1beta/models/<model>:generateContent,
 * :streamGenerateContent with `alt=sse`, :countTokens) whose replies come from the role scenarios, for Gemini
 * CLI. Stateless: every reply is derived from the request alone.
 */
export async function createScriptedGeminiServer(
  opts: ScriptedGeminiServerOptions = {},
): Promise<ScriptedGeminiServer> {
  const log = opts.logger ?? silentLogger();
  const decide = opts.decide ?? nextTurn;
  let requests = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = ROUTE.exec(url.pathname);
    if (req.method !== 'POST' || !route) {
      sendError(res, 404, `${req.method ?? ''} ${url.pathname} is not served by the scripted model`);
      return;
    }
    const [, model, method] = route;
    const body = parseJsonBody(await readBody(req));
    if (typeof body === 'string') {
      sendError(res, 400, body);
      return;
    }
    if (method === 'countTokens') {
      sendJson(res, 200, { totalTokens: tokens(JSON.stringify(body)) });
      return;
    }
    if (method !== 'generateContent' && method !== 'streamGenerateContent') {
      sendError(res, 404, `models/${model}:${method} is not served by the scripted model`);
      return;
    }
    requests += 1;
    const { turn, conv } = turnFor(body, decide);
    const fault = opts.fault?.(conv.messages);
    if (fault) {
      sendError(res, fault.status, fault.message);
      return;
    }
    const parts = toParts(turn, conv.tools);
    const promptTokens = tokens(JSON.stringify(body.contents ?? []) + conv.system);
    const outputTokens = tokens(JSON.stringify(parts));
    const response = {
      candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
      usageMetadata: {
        promptTokenCount: promptTokens,
        candidatesTokenCount: outputTokens,
        totalTokenCount: promptTokens + outputTokens,
      },
      modelVersion: model,
    };
    log.debug({ parts: parts.length }, 'scripted gemini response');
    if (method === 'streamGenerateContent') writeSse(res, [{ data: response }]);
    else sendJson(res, 200, response);
  };

  const server = await listen(handle, {
    log,
    port: opts.port,
    onError: (res, message) => sendError(res, 500, message),
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    get requests() {
      return requests;
    },
    close: () => server.close(),
  };
}
