import { spawn } from 'node:child_process';
import { CommandError, TmuxClaudeError } from './errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs a command from an argument array (never through a shell) with a timeout.
 * Rejects with CommandError on a non-zero exit (unless `allowExitCodes` lists it), a timeout, or a spawn
 * failure; a missing binary becomes DEPENDENCY_MISSING.
 */
export function runCommand(
  argv: string[],
  opts: {
    cwd?: string;
    input?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    allowExitCodes?: number[];
  } = {},
): Promise<RunResult> {
  const [bin, ...args] = argv;
  if (!bin) return Promise.reject(new TmuxClaudeError('INVALID_ARGUMENT', 'empty command'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // A grandchild that inherited stdout/stderr keeps the pipes (and so 'close') open after the kill.
      child.stdout.destroy();
      child.stderr.destroy();
      reject(new CommandError(argv, { exitCode: null, stderr, timedOut: true }));
    }, opts.timeoutMs ?? 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') {
        reject(
          new TmuxClaudeError('DEPENDENCY_MISSING', `${bin} is not installed or not on PATH`, {
            cause: err,
            hint: `install ${bin} (e.g. apt-get install ${bin}) and run \`tmux-claude doctor\``,
          }),
        );
      } else reject(new CommandError(argv, { exitCode: null, stderr, timedOut: false, cause: err }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const exitCode = code ?? -1;
      if (timedOut) reject(new CommandError(argv, { exitCode: null, stderr, timedOut: true }));
      else if (exitCode === 0 || opts.allowExitCodes?.includes(exitCode))
        resolvePromise({ stdout, stderr, exitCode });
      else reject(new CommandError(argv, { exitCode, stderr, timedOut: false }));
    });
    child.stdin.on('error', () => {
      /* the child may exit before reading its input; the exit code tells what happened */
    });
    child.stdin.end(opts.input ?? '');
  });
}
