// Standalone scripted model: `node dist/scripted-model/main.js [--api anthropic|openai|gemini] [--port N]
// [--delay-ms N] [--request-log FILE]`. Prints {"url": ...} as one JSON line on stdout once listening; logs go
// to stderr. --api picks the wire format: Anthropic Messages (Claude Code, the light runtime; the default),
// OpenAI Responses (Codex CLI: OPENAI_BASE_URL=<url>/v1) or Gemini (Gemini CLI: GOOGLE_GEMINI_BASE_URL=<url>).
// --request-log (Anthropic only) appends every request (with how it was classified and the scripted reply) as
// a JSON line: the way to see what a client sends.
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { asError, createLogger } from '../core/index.js';
import { createScriptedGeminiServer } from './gemini/index.js';
import { createScriptedResponsesServer } from './openai/index.js';
import { createScriptedModelServer, type RequestLogEntry } from './server.js';

const APIS = ['anthropic', 'openai', 'gemini'] as const;

const log = createLogger({ name: 'scripted-model' });

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      api: { type: 'string' },
      port: { type: 'string' },
      'delay-ms': { type: 'string' },
      'request-log': { type: 'string' },
    },
    strict: true,
  });
  const api = values.api ?? 'anthropic';
  if (!(APIS as readonly string[]).includes(api))
    throw new Error(`--api must be one of ${APIS.join(', ')}, got ${api}`);
  const port = intOption(values.port ?? process.env.SCRIPTED_MODEL_PORT, 'port');
  const requestLog = values['request-log'] ?? process.env.SCRIPTED_MODEL_REQUEST_LOG;
  const server =
    api === 'openai'
      ? await createScriptedResponsesServer({ port, logger: log })
      : api === 'gemini'
        ? await createScriptedGeminiServer({ port, logger: log })
        : await createScriptedModelServer({
            port,
            delayMs: intOption(values['delay-ms'] ?? process.env.SCRIPTED_MODEL_DELAY_MS, 'delay-ms'),
            logger: log,
            ...(requestLog
              ? {
                  onRequest: (entry: RequestLogEntry) =>
                    appendFileSync(
                      requestLog,
                      `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`,
                    ),
                }
              : {}),
          });
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  log.error({ err: asError(err) }, 'scripted model failed to start');
  process.stderr.write(`scripted-model: ${asError(err).message}\n`);
  process.exit(1);
});
