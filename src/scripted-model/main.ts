// Standalone scripted model: `node dist/scripted-model/main.js [--port N] [--delay-ms N] [--request-log FILE]`.
// Prints {"url": ...} as one JSON line on stdout once listening; logs go to stderr. --request-log appends every
// request (with how it was classified and the scripted reply) as a JSON line: the way to see what a client sends.
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { asError, createLogger } from '../core/index.js';
import { createScriptedModelServer, type RequestLogEntry } from './server.js';

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
      port: { type: 'string' },
      'delay-ms': { type: 'string' },
      'request-log': { type: 'string' },
    },
    strict: true,
  });
  const requestLog = values['request-log'] ?? process.env.SCRIPTED_MODEL_REQUEST_LOG;
  const server = await createScriptedModelServer({
    port: intOption(values.port ?? process.env.SCRIPTED_MODEL_PORT, 'port'),
    delayMs: intOption(values['delay-ms'] ?? process.env.SCRIPTED_MODEL_DELAY_MS, 'delay-ms'),
    logger: log,
    ...(requestLog
      ? {
          onRequest: (entry: RequestLogEntry) =>
            appendFileSync(requestLog, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`),
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
