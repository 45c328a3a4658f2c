// Standalone scripted model: `node dist/scripted-model/main.js [--port N] [--delay-ms N]`.
// Prints {"url": ...} as one JSON line on stdout once listening; logs go to stderr.
import { parseArgs } from 'node:util';
import { asError, createLogger } from '../core/index.js';
import { createScriptedModelServer } from './server.js';

const log = createLogger({ name: 'scripted-model' });

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, 'delay-ms': { type: 'string' } },
    strict: true,
  });
  const server = await createScriptedModelServer({
    port: intOption(values.port ?? process.env.SCRIPTED_MODEL_PORT, 'port'),
    delayMs: intOption(values['delay-ms'] ?? process.env.SCRIPTED_MODEL_DELAY_MS, 'delay-ms'),
    logger: log,
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
