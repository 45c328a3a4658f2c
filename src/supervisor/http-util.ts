import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { TmuxClaudeError } from '../core/index.js';

/** Validates a request body; the first problem becomes INVALID_ARGUMENT naming the field. */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new TmuxClaudeError(
      'INVALID_ARGUMENT',
      `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return r.data;
}

type Handler = (req: Request, res: Response) => Promise<unknown>;

/**
 * An async route: its value is sent as JSON (`{ok: true}` for none) unless the handler answered itself (e.g. a
 * stream); a rejection goes to the error handler, or ends a response already under way.
 */
export const wrap =
  (fn: Handler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    fn(req, res).then(
      (value) => {
        if (!res.headersSent) res.json(value ?? { ok: true });
      },
      (err: unknown) => (res.headersSent ? res.end() : next(err)),
    );
  };
