import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The one logger. Writes JSON lines to stderr (fd 2) or to a file, never to stdout: stdout belongs to the
 * CLI's output and to the stdio MCP protocol.
 */
export function createLogger(opts: { name: string; file?: string; level?: string }): Logger {
  const level = opts.level ?? process.env.TMUX_CLAUDE_LOG_LEVEL ?? 'info';
  const dest = opts.file
    ? pino.destination({ dest: opts.file, mkdir: true, sync: false })
    : pino.destination(2);
  return pino({ name: opts.name, level }, dest);
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
