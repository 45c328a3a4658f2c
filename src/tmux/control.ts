import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandError } from '../core/index.js';

/**
 * Sessions whose name starts with this hold a control client (see {@link ControlClient}); the driver never
 * reports them. A control client must be attached to a session: tmux 3.3a ends a control client that is not
 * attached as soon as its first command is done (`tmux -C start-server`, `-C list-sessions` … print one block
 * and `%exit`), and a client whose session is destroyed exits too.
 */
export const CONTROL_SESSION_PREFIX = 'tmux-claude-control-';

/**
 * Quotes one argument for tmux's command parser, which is what reads a control client's input: single quotes,
 * in which nothing is special, with every byte that must not appear raw there (the quote itself, control
 * characters — a newline would end the command line — and DEL) written as an octal escape in double quotes,
 * e.g. `'it'"\047"'s'`. Adjacent quoted parts form one argument. NUL cannot be passed (tmux's arguments are C
 * strings); callers avoid it. Verified byte for byte with tmux 3.3a for all other bytes, UTF-8 and lines of
 * several megabytes.
 */
export function quoteArg(arg: string): string {
  let out = '';
  let open = false;
  for (const ch of arg) {
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || ch === "'") {
      if (open) out += "'";
      open = false;
      out += `"\\${code.toString(8).padStart(3, '0')}"`;
    } else {
      if (!open) out += "'";
      open = true;
      out += ch;
    }
  }
  if (open) out += "'";
  return out === '' ? "''" : out;
}

/** One control-mode command line: the commands joined with `;`, so tmux runs them back to back. */
export function commandLine(commands: string[][]): string {
  return `${commands.map((cmd) => cmd.map(quoteArg).join(' ')).join(' ; ')}\n`;
}

/** The connection ended before the command's reply; `begun` says whether tmux had started running it. */
export class ControlLostError extends Error {
  constructor(
    readonly begun: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'ControlLostError';
  }
}

interface Refable {
  ref(): void;
  unref(): void;
}

interface Request {
  /** The command words, for error messages. */
  argv: string[];
  /** Commands on the line: tmux answers each with a block, and skips the rest after an `%error`. */
  count: number;
  ended: number;
  output: string;
  /** A `%begin` for this line was seen: tmux ran (part of) it. */
  begun: boolean;
  /** The caller gave up (timeout); the reply is still read, to keep replies matched to requests. */
  abandoned: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve: (stdout: string) => void;
  reject: (err: Error) => void;
}

export interface ControlClientOptions {
  tmuxBin: string;
  socketName: string;
  /** The session to create and attach to; destroyed when the client goes (`destroy-unattached`). */
  session: string;
  /** Commands run before the session is created (the server setup), as part of the client's own command. */
  setup: string[][];
  /** The client must be attached by then, or it is killed and {@link ControlClient.ready} rejects. */
  startTimeoutMs: number;
  /** Called once when the connection ends, whether by {@link ControlClient.close} or not. */
  onEnd: (client: ControlClient) => void;
}

/**
 * One `tmux -C` client: commands go to its stdin one line each, and tmux answers every command with a
 * `%begin <time> <number> <flags>` … `%end`/`%error` block (with the same three words) on stdout, in order;
 * notifications (`%sessions-changed`, `%window-add`, `%exit` …) come only between blocks and are skipped.
 * Blocks of the client's own start command have flags 0; those of commands read from stdin have flags 1.
 * The client is attached to its own session with the `no-output` flag (no `%output` for panes) and
 * `ignore-size`. A command written before the start command finished would run without a session (tmux reads
 * stdin at once), so {@link run} waits for {@link ready}.
 */
export class ControlClient {
  /** Resolves once the session exists and commands can be sent; rejects if the client could not start. */
  readonly ready: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly requests: Request[] = [];
  private readonly exited: Promise<void>;
  /** Blocks of the start command still to come (flags 0). */
  private startBlocks: number;
  private block: { guard: string; flags: string; lines: string[] } | null = null;
  private pending = '';
  private stderr = '';
  private ended = false;
  private starting = true;
  private referenced = true;
  /** Waiting for the last reply (close). */
  private readonly drained: (() => void)[] = [];
  private closing = false;
  private markReady!: () => void;
  private failReady!: (err: Error) => void;

  constructor(private readonly opts: ControlClientOptions) {
    const start = [
      ...opts.setup,
      ['new-session', '-s', opts.session, '-x', '80', '-y', '24', '--', 'sleep', 'infinity'],
      // `=name` does not resolve for session options in tmux 3.3a; the name is unique.
      ['set-option', '-t', opts.session, 'destroy-unattached', 'on'],
      ['refresh-client', '-f', 'no-output,ignore-size'],
    ];
    this.startBlocks = start.length;
    const args: string[] = [];
    for (const cmd of start) {
      if (args.length > 0) args.push(';');
      args.push(...cmd.map((a) => (a.endsWith(';') ? `${a.slice(0, -1)}\\;` : a)));
    }
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    // Nobody may be waiting yet; a failed start is reported to every run() through ready.
    this.ready.catch(() => undefined);
    // -u: output is UTF-8 whatever the locale (tmux would replace non-ASCII with `_` otherwise).
    this.child = spawn(opts.tmuxBin, ['-u', '-L', opts.socketName, '-f', '/dev/null', '-C', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise<void>((resolve) => {
      this.child.once('close', () => resolve());
      this.child.once('error', () => resolve());
    });
    this.child.on('error', (err) => this.end(`could not start tmux: ${err.message}`));
    this.child.once('close', (code, signal) =>
      this.end(
        `tmux control client exited (${signal ?? `code ${code}`})${this.stderr ? `: ${this.stderr.trim()}` : ''}`,
      ),
    );
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < 4096) this.stderr += d;
    });
    (this.child.stdin as unknown as Partial<Refable>).unref?.();
    (this.child.stderr as unknown as Partial<Refable>).unref?.();
    const startTimer = setTimeout(() => {
      this.failReady(new Error(`tmux control client did not start within ${opts.startTimeoutMs} ms`));
      this.child.kill('SIGKILL');
    }, opts.startTimeoutMs);
    startTimer.unref();
    this.ready.then(
      () => {
        clearTimeout(startTimer);
        this.starting = false;
        this.updateRef();
      },
      () => clearTimeout(startTimer),
    );
  }

  /** An idle connection does not keep the process alive; one that starts, answers or closes does. */
  private updateRef(): void {
    const busy = !this.ended && (this.starting || this.closing || this.requests.length > 0);
    if (busy === this.referenced) return;
    this.referenced = busy;
    const stdout = this.child.stdout as unknown as Partial<Refable>;
    if (busy) {
      this.child.ref();
      stdout.ref?.();
    } else {
      this.child.unref();
      stdout.unref?.();
    }
  }

  /** The process id of the tmux client. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** False once the connection ended or is closing; then {@link run} rejects at once. */
  get usable(): boolean {
    return !this.ended && !this.closing;
  }

  /**
   * Runs the commands as one line (tmux runs them back to back and stops at the first error, as a tmux
   * invocation does) and resolves with their output, or rejects with a CommandError carrying tmux's error
   * text as stderr (exit code 1) or `timedOut`, or with {@link ControlLostError} if the connection ended first.
   */
  async run(commands: string[][], timeoutMs: number): Promise<string> {
    try {
      await this.ready;
    } catch (err) {
      throw new ControlLostError(false, (err as Error).message);
    }
    const argv = ['tmux', ...(commands[0] ?? [])];
    if (!this.usable) throw new ControlLostError(false, 'tmux control connection is closed');
    return new Promise<string>((resolve, reject) => {
      const req: Request = {
        argv,
        count: commands.length,
        ended: 0,
        output: '',
        begun: false,
        abandoned: false,
        timer: undefined,
        resolve,
        reject,
      };
      req.timer = setTimeout(() => {
        req.abandoned = true;
        reject(new CommandError(argv, { exitCode: null, stderr: '', timedOut: true }));
      }, timeoutMs);
      this.requests.push(req);
      this.updateRef();
      this.child.stdin.write(commandLine(commands), 'utf8');
    });
  }

  /**
   * Ends the connection and waits for the client to exit (tmux then destroys its session). New commands are
   * refused at once; the ones in flight get their replies first (for up to `timeoutMs`).
   */
  async close(timeoutMs = 2_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (!this.ended && !this.closing) {
      this.closing = true;
      this.updateRef();
      if (this.requests.length > 0) {
        await Promise.race([
          new Promise<void>((resolve) => this.drained.push(resolve)),
          sleep(timeoutMs, undefined, { ref: false }),
        ]);
      }
      // EOF on its input makes the client detach and exit; destroy-unattached removes the session.
      this.child.stdin.end();
    }
    const ac = new AbortController();
    const late = sleep(Math.max(deadline - Date.now(), 100), 'late' as const, { signal: ac.signal }).catch(
      () => undefined,
    );
    if ((await Promise.race([this.exited, late])) === 'late') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    ac.abort();
  }

  private onData(chunk: string): void {
    const data = this.pending + chunk;
    let start = 0;
    let nl: number;
    while ((nl = data.indexOf('\n', start)) >= 0) {
      this.onLine(data.slice(start, nl));
      start = nl + 1;
    }
    this.pending = data.slice(start);
  }

  private onLine(line: string): void {
    const block = this.block;
    if (block) {
      // Only the guard with this block's own time, number and flags ends it (pane text may look like one).
      if (line.startsWith('%end ') || line.startsWith('%error ')) {
        const [kind, ...guard] = line.split(' ');
        if (guard.join(' ') === block.guard) {
          this.block = null;
          this.onBlock(block.flags, kind === '%error', block.lines);
          return;
        }
      }
      block.lines.push(line);
      return;
    }
    if (line.startsWith('%begin ')) {
      const guard = line.slice('%begin '.length);
      const flags = guard.split(' ')[2] ?? '';
      this.block = { guard, flags, lines: [] };
      if (flags !== '0') {
        const req = this.requests[0];
        if (req) req.begun = true;
      }
    }
    // Anything else is a notification.
  }

  private onBlock(flags: string, error: boolean, lines: string[]): void {
    const text = lines.map((l) => `${l}\n`).join('');
    if (flags === '0') {
      // The start command's blocks.
      if (this.startBlocks <= 0) return;
      if (error) {
        this.startBlocks = 0;
        this.failReady(new Error(`tmux control client could not start: ${text.trim()}`));
        return;
      }
      if (--this.startBlocks === 0) this.markReady();
      return;
    }
    const req = this.requests[0];
    if (!req) return;
    if (error) {
      this.finish(req, new CommandError(req.argv, { exitCode: 1, stderr: text, timedOut: false }));
      return;
    }
    req.output += text;
    if (++req.ended >= req.count) this.finish(req, null);
  }

  private finish(req: Request, err: Error | null): void {
    this.requests.shift();
    if (this.requests.length === 0) for (const resolve of this.drained.splice(0)) resolve();
    this.updateRef();
    clearTimeout(req.timer);
    if (req.abandoned) return;
    if (err) req.reject(err);
    else req.resolve(req.output);
  }

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.failReady(new Error(why));
    for (const req of this.requests.splice(0)) {
      clearTimeout(req.timer);
      if (!req.abandoned) req.reject(new ControlLostError(req.begun, why));
    }
    for (const resolve of this.drained.splice(0)) resolve();
    this.opts.onEnd(this);
  }
}
