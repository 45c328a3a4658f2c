import { mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { asError, runCommand, TmuxClaudeError } from '../../core/index.js';
import type { ToolCall, ToolDefinition, ToolExecutor, ToolOutcome } from './tool-types.js';

const MAX_READ_BYTES = 1024 * 1024;

/** The in-process tools a specialist gets (executives and managers get none: they must not edit files). */
export const LOCAL_TOOL_DEFINITIONS: readonly ToolDefinition[] = [
  {
    name: 'write_file',
    description:
      'Write a UTF-8 text file, creating parent directories. `path` is relative to the working directory and must stay inside it.',
    input_schema: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
  },
  {
    name: 'read_file',
    description:
      'Read a UTF-8 text file. `path` is relative to the working directory and must stay inside it.',
    input_schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
  {
    name: 'git_commit',
    description:
      'Stage every change in the working directory (git add -A) and commit it. Returns {"commit": sha}.',
    input_schema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  },
];

function inside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/** The deepest existing ancestor of a path (the path itself when it exists), resolved through symlinks. */
async function realAncestor(path: string): Promise<string> {
  let p = path;
  for (;;) {
    try {
      return await realpath(p);
    } catch (err) {
      const parent = dirname(p);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) throw err;
      p = parent;
    }
  }
}

/**
 * Resolves a tool's `path` argument against `cwd`, refusing anything that would land outside it (`..`,
 * absolute paths elsewhere, symlinks leading out) or inside `.git`. Throws TmuxClaudeError INVALID_ARGUMENT
 * or FORBIDDEN with a message the model can act on.
 */
export async function resolveInsideCwd(cwd: string, path: unknown): Promise<string> {
  if (typeof path !== 'string' || path.trim() === '' || path.includes('\0')) {
    throw new TmuxClaudeError('INVALID_ARGUMENT', 'path must be a non-empty string', {
      hint: 'pass a path relative to the working directory, e.g. "src/index.js"',
    });
  }
  const root = resolve(cwd);
  const target = resolve(root, path);
  const refuse = (why: string): TmuxClaudeError =>
    new TmuxClaudeError('FORBIDDEN', `path ${JSON.stringify(path)} ${why}`, {
      hint: 'use a path relative to the working directory, without ".." segments',
    });
  if (!inside(root, target)) throw refuse('is outside the working directory');
  if (relative(root, target).split(sep)[0] === '.git') throw refuse('is inside .git');
  const realRoot = await realpath(root);
  const real = await realAncestor(target);
  if (real !== realRoot && !inside(realRoot, real))
    throw refuse('leads outside the working directory through a symlink');
  return target;
}

/** The local tools bound to one working directory and instance. */
export interface LocalTools extends ToolExecutor {
  readonly definitions: readonly ToolDefinition[];
  has(name: string): boolean;
}

function str(input: Record<string, unknown>, key: string): string {
  const v = input[key];
  if (typeof v !== 'string') throw new TmuxClaudeError('INVALID_ARGUMENT', `${key} must be a string`);
  return v;
}

function describe(err: unknown): string {
  const e = asError(err);
  const hint = e instanceof TmuxClaudeError && e.hint ? ` (${e.hint})` : '';
  return `${e.message}${hint}`;
}

/** Creates write_file / read_file / git_commit for a specialist working in `cwd`. */
export function createLocalTools(opts: { cwd: string; instanceId: string }): LocalTools {
  const git = (args: string[], allowExitCodes?: number[]) =>
    runCommand(['git', ...args], {
      cwd: opts.cwd,
      timeoutMs: 60_000,
      ...(allowExitCodes ? { allowExitCodes } : {}),
    });

  const run = async (call: ToolCall): Promise<string> => {
    switch (call.name) {
      case 'write_file': {
        const content = str(call.input, 'content');
        const target = await resolveInsideCwd(opts.cwd, call.input.path);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content, 'utf8');
        return JSON.stringify({
          path: relative(resolve(opts.cwd), target),
          bytes: Buffer.byteLength(content),
        });
      }
      case 'read_file': {
        const target = await resolveInsideCwd(opts.cwd, call.input.path);
        const info = await stat(target);
        if (info.size > MAX_READ_BYTES) {
          throw new TmuxClaudeError(
            'INVALID_ARGUMENT',
            `file is ${info.size} bytes; read_file reads at most ${MAX_READ_BYTES}`,
          );
        }
        return await readFile(target, 'utf8');
      }
      case 'git_commit': {
        const message = str(call.input, 'message');
        if (message.trim() === '') throw new TmuxClaudeError('INVALID_ARGUMENT', 'message must not be empty');
        await git(['add', '-A']);
        const res = await git(
          [
            '-c',
            `user.name=tmux-claude-${opts.instanceId}`,
            '-c',
            `user.email=${opts.instanceId}@tmux-claude.local`,
            'commit',
            '-m',
            message,
          ],
          [1],
        );
        if (res.exitCode !== 0) {
          const nothing = `${res.stdout}\n${res.stderr}`.includes('nothing to commit');
          // Idempotent: the same commit is already HEAD (a retry, or a successor starting from the branch of
          // a predecessor that committed this work before it died).
          if (nothing && (await git(['log', '-1', '--format=%B'], [128])).stdout.trim() === message.trim()) {
            const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();
            return JSON.stringify({ commit: head, alreadyCommitted: true });
          }
          const why = nothing
            ? 'nothing to commit'
            : (res.stderr.trim().split('\n')[0] ?? `git commit exited with ${res.exitCode}`);
          throw new TmuxClaudeError('CONFLICT', `git commit failed: ${why}`, {
            hint: 'write the files first',
          });
        }
        const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim();
        return JSON.stringify({ commit: sha });
      }
      default:
        throw new TmuxClaudeError('NOT_FOUND', `unknown local tool ${call.name}`);
    }
  };

  return {
    definitions: LOCAL_TOOL_DEFINITIONS,
    has: (name) => LOCAL_TOOL_DEFINITIONS.some((d) => d.name === name),
    async execute(call: ToolCall): Promise<ToolOutcome> {
      try {
        return { content: await run(call), isError: false };
      } catch (err) {
        return { content: describe(err), isError: true };
      }
    },
  };
}
