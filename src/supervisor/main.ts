/** The supervisor process: `tmux-claude up` starts it in the background. Logs go to <home>/logs. */
import { createLogger, loadConfig, pathsFor, TmuxClaudeError } from '../core/index.js';
import { Supervisor } from './supervisor.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ name: 'supervisor', file: pathsFor(config.home).supervisorLog });
  const supervisor = new Supervisor({ config, log });
  const exit = (code: number): void => {
    log.flush();
    setTimeout(() => process.exit(code), 50);
  };
  const stop = (stopInstances: boolean): void => {
    supervisor.stop({ stopInstances }).then(
      () => exit(0),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop(false));
  process.on('SIGINT', () => stop(false));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  try {
    await supervisor.start(() => stop(true));
  } catch (err) {
    log.error({ err }, 'supervisor failed to start');
    const e = err instanceof TmuxClaudeError ? err : undefined;
    process.stderr.write(
      `supervisor failed to start: ${e ? e.message : String(err)}${e?.hint ? `\n${e.hint}` : ''}\n`,
    );
    await supervisor.stop({ stopInstances: false }).catch(() => undefined);
    exit(1);
  }
}

void main();
