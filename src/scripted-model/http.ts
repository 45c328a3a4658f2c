import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TmuxClaudeError, asError, type Logger } from '../core/index.js';

/** Small HTTP plumbing shared by the OpenAI- and Gemini-compatible scripted endpoints. */

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function readBody(req: IncomingMessage): Promise<string> {
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

/** Parses a JSON object body; a string says what is wrong. */
export function parseJsonBody(raw: string): Record<string, unknown> | string {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return 'request body is not valid JSON';
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return 'request body must be a JSON object';
  return body as Record<string, unknown>;
}

/** Writes server-sent events: `event:` (when named) and `data:` lines, one blank line after each. */
export function writeSse(res: ServerResponse, events: readonly { event?: string; data: unknown }[]): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  for (const e of events) {
    res.write(`${e.event ? `event: ${e.event}\n` : ''}data: ${JSON.stringify(e.data)}\n\n`);
  }
  res.end();
}

/** A listening loopback server; `close()` is idempotent and drops open connections. */
export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1; a handler failure becomes a 500 (or a dropped stream) and a warning, never a crash. */
export async function listen(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  opts: { port?: number | undefined; log: Logger; onError: (res: ServerResponse, message: string) => void },
): Promise<Listening> {
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = asError(err);
      opts.log.warn({ err: e }, 'scripted model request failed');
      if (!res.headersSent) opts.onError(res, e.message);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/**
 * A minimal value that satisfies a simple JSON schema (objects, strings, numbers, booleans, enums, arrays),
 * for the CLIs' side requests that want structured output (titles, summaries, next-speaker checks).
 * `prefer` picks an enum value by property name.
 */
export function minimalInstance(schema: unknown, prefer: Record<string, string> = {}, key = ''): unknown {
  if (schema === null || typeof schema !== 'object') return 'scripted';
  const s = schema as Record<string, unknown>;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (Array.isArray(s.enum) && s.enum.length > 0) {
    const wanted = prefer[key];
    return wanted !== undefined && s.enum.includes(wanted) ? wanted : s.enum[0];
  }
  switch (String(type ?? (s.properties ? 'object' : 'string')).toLowerCase()) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, minimalInstance(v, prefer, k)]));
    }
    case 'array':
      return [];
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    default: {
      const max = typeof s.maxLength === 'number' ? s.maxLength : 40;
      return 'Scripted reply'.slice(0, Math.max(1, max));
    }
  }
}
