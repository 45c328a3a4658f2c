/** Stable error codes; the CLI maps them to exit codes, the API to HTTP statuses, MCP to tool errors. */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'FORBIDDEN'
  | 'UNAUTHORIZED'
  | 'CONFLICT'
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'DEPENDENCY_MISSING'
  | 'EXTERNAL_COMMAND_FAILED'
  | 'MERGE_CONFLICT'
  | 'UNMERGED_WORK'
  | 'STALE_LEASE'
  | 'INTERNAL';

/** The one base error. `hint` tells a user or agent what to do next. */
export class TmuxClaudeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TmuxClaudeError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** A child process (tmux, git, an agent CLI) failed or timed out. */
export class CommandError extends TmuxClaudeError {
  readonly command: string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly timedOut: boolean;

  constructor(
    command: string[],
    res: { exitCode: number | null; stderr: string; timedOut: boolean; cause?: unknown },
  ) {
    const what = res.timedOut
      ? 'timed out'
      : res.exitCode === null
        ? 'could not start'
        : `exited with ${res.exitCode}`;
    const first = res.stderr.trim().split('\n')[0] ?? '';
    super(
      'EXTERNAL_COMMAND_FAILED',
      `${command.slice(0, 3).join(' ')} ${what}${first ? `: ${first}` : ''}`,
      res.cause === undefined ? {} : { cause: res.cause },
    );
    this.name = 'CommandError';
    this.command = command;
    this.exitCode = res.exitCode;
    this.stderr = res.stderr;
    this.timedOut = res.timedOut;
  }
}

export function notFound(what: string, id: string, hint?: string): TmuxClaudeError {
  return new TmuxClaudeError('NOT_FOUND', `${what} ${JSON.stringify(id)} not found`, hint ? { hint } : {});
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
