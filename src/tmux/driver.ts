import { randomUUID } from 'node:crypto';
import { stat, unlink } from 'node:fs/promises';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandError, TmuxClaudeError, runCommand } from '../core/index.js';
import { CONTROL_SESSION_PREFIX, ControlClient, ControlLostError } from './control.js';

/** How to reach one private tmux server. */
export interface TmuxDriverOptions {
  /** The `-L` socket name; every call of this driver goes to that server only. */
  socketName: string;
  /** The tmux binary; default `tmux`. */
  tmuxBin?: string;
  /** Timeout for each tmux invocation; default 10000 ms. */
  timeoutMs?: number;
  /**
   * Send commands through one persistent control-mode client (`tmux -C`) instead of starting a tmux client
   * per call, while sessions exist (see {@link TmuxDriver.close}). For long-lived users such as the
   * supervisor; a short-lived command gains nothing from it. Default: on if the environment variable
   * `TMUX_CLAUDE_TMUX_CONTROL` is `1`. `TMUX_CLAUDE_TMUX_CONTROL=0` turns it off even when asked for.
   */
  controlMode?: boolean;
}

/** A session and its first (active) pane. */
export interface SessionInfo {
  name: string;
  /** The pane id, e.g. `%3`; stable for the pane's lifetime and a valid `target`. */
  paneId: string;
  /** The pid of the pane's process; null when tmux does not report one. */
  pid: number | null;
  /** The process exited (and tmux collected its exit status); the pane is kept by `remain-on-exit`. */
  dead: boolean;
  /** The exit status of a dead pane; null while alive or when it was killed by a signal. */
  deadStatus: number | null;
  /** The signal that killed a dead pane's process; null otherwise. */
  deadSignal: number | null;
  /** When the pane last printed anything (epoch ms, second resolution); null when tmux does not say. */
  outputAt: number | null;
}

/** A pane's visible screen as {@link TmuxDriver.screenWithStyle} reads it. */
export interface StyledScreen {
  /** The rows, joined by `\n`, with SGR escapes for colours and attributes. */
  text: string;
  cursorX: number;
  cursorY: number;
  width: number;
  height: number;
}

/** Options of {@link TmuxDriver.newSession}. */
export interface NewSessionOptions {
  /** Session name: letters, digits, `_` and `-` only (tmux rewrites `.` and `:`). */
  name: string;
  /** Working directory; must exist (tmux would silently fall back to another directory). */
  cwd: string;
  /** The program and its arguments, executed directly without a shell. */
  command: string[];
  /** Extra environment for the program, on top of the server's environment. */
  env?: Record<string, string>;
  /** Columns; default 200. */
  width?: number;
  /** Rows; default 50. */
  height?: number;
}

/** Options of {@link TmuxDriver.paste}. */
export interface PasteOptions {
  /** Press Enter after the paste; default true. */
  submit?: boolean;
  /** Pause between the paste and Enter, so TUIs see Enter as a keypress rather than part of the paste; default 200. */
  enterDelayMs?: number;
}

/** Result of {@link TmuxDriver.capture}. */
export interface Capture {
  /** Pass this as `since` next time to get only newer lines. */
  cursor: number;
  /** The lines in [since, cursor), wrapped lines joined, trailing blanks removed, no escape sequences. */
  lines: string[];
}

/** tmux 3.3a prints `#{pane_dead_signal}` as a number, later versions as a name such as `term`. */
function parseSignal(s: string | undefined): number | null {
  if (s === undefined || s === '') return null;
  const n = parseIntOrNull(s);
  if (n !== null) return n;
  const name = `SIG${s.toUpperCase().replace(/^SIG/, '')}`;
  return (constants.signals as Record<string, number | undefined>)[name] ?? null;
}

const SESSION_NAME = /^[A-Za-z0-9_-]+$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MISSING_TARGET =
  /can't find (session|window|pane)|no current target|no server running|error connecting to/;
const NO_SERVER = /no server running|error connecting to|server exited unexpectedly/;
/** After a control client failed to start, commands spawn clients for this long before the next attempt. */
const CONTROL_RETRY_MS = 5_000;
/** Longer texts are pasted through load-buffer on stdin: one huge command line would stall the server. */
const MAX_CONTROL_PASTE = 256 * 1024;

/** Where {@link TmuxDriver.run} may send commands. */
interface RunOptions {
  /** Names the target in NOT_FOUND/CONFLICT errors. */
  what?: string;
  /** Data for the tmux client's stdin: the commands then need a spawned client. */
  input?: string;
  /** Running the commands twice is harmless: if a control connection dies during them, run them again. */
  retry?: boolean;
  /** The same work for a spawned client, if it differs (e.g. load-buffer from stdin instead of set-buffer). */
  spawned?: { commands: string[][]; input?: string };
}

/**
 * tmux splits its command line at any argument that ends in `;` (the command separator) and turns a trailing
 * `\;` into a literal `;`. Escaping every argument this way passes it through unchanged.
 */
function tmuxArg(arg: string): string {
  return arg.endsWith(';') ? `${arg.slice(0, -1)}\\;` : arg;
}

/** Quotes a string for tmux's command parser (used for hook commands, which tmux parses from a string). */
function tmuxQuote(s: string): string {
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Maps a user target to a tmux pane target: pane ids (`%3`) stay as they are; a session name matches exactly
 * (`=name:`, its current window's active pane), so `tc-1` never resolves to `tc-10`.
 */
function paneTarget(target: string): string {
  if (/^%\d+$/.test(target)) return target;
  const exact = target.startsWith('=') ? target : `=${target}`;
  return exact.includes(':') ? exact : `${exact}:`;
}

function parseIntOrNull(s: string | undefined): number | null {
  if (s === undefined || s === '') return null;
  const n = Number.parseInt(s, 10);
  return Number.isNaN(n) ? null : n;
}

/** `#{pid}` is the server's pid (see {@link TmuxDriver.nudge}); the session name goes last as it may hold tabs. */
const SESSION_FORMAT =
  '#{pid}\t#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}\t#{window_activity}\t' +
  '#{session_name}';

interface SessionLine {
  serverPid: number | null;
  info: SessionInfo;
  /** The pane's pty closed but tmux has not collected the exit status yet. */
  unreaped: boolean;
}

function parseSessionLine(line: string): SessionLine {
  const [serverPid, paneId = '', pid, deadFlag, status, signal, activity, ...name] = line.split('\t');
  const deadStatus = parseIntOrNull(status);
  const deadSignal = parseSignal(signal);
  // pane_dead only means the pty closed; a pane is dead once its exit status or signal is known too.
  const dead = deadFlag === '1' && (deadStatus !== null || deadSignal !== null);
  return {
    serverPid: parseIntOrNull(serverPid),
    info: {
      name: name.join('\t'),
      paneId,
      pid: parseIntOrNull(pid),
      dead,
      deadStatus: dead ? deadStatus : null,
      deadSignal: dead ? deadSignal : null,
      outputAt: activity ? (parseIntOrNull(activity) ?? 0) * 1000 || null : null,
    },
    unreaped: deadFlag === '1' && !dead,
  };
}

/**
 * Drives one private tmux server (`tmux -L socketName -f /dev/null`). Every call runs tmux with an argument
 * array, never a shell, and has a timeout. Failures reject with TmuxClaudeError: DEPENDENCY_MISSING when tmux is
 * not installed, NOT_FOUND for a missing session or pane, CONFLICT for a duplicate session, and CommandError
 * (EXTERNAL_COMMAND_FAILED) for anything else. Instances are cheap and several may share a socket, but
 * pastes are only serialized within one instance.
 *
 * With `controlMode`, commands go through one `tmux -C` client instead of a new tmux process each (a fork,
 * exec and socket handshake per call otherwise). A control client must be attached to a session, so it gets
 * its own hidden one (named {@link CONTROL_SESSION_PREFIX}…, never listed by this driver, destroyed with the
 * client by `destroy-unattached`). The connection is opened once sessions are known to exist (after
 * newSession, or when listSessions finds some) and closed when the last one is gone, so an empty server shows
 * no session. If it dies (the server was killed), commands it had not started run again through spawned
 * clients, which report the usual errors, and later ones spawn until sessions are seen again.
 */
export class TmuxDriver {
  private readonly socketName: string;
  private readonly tmuxBin: string;
  private readonly timeoutMs: number;
  /** Writes per target as given, in call order (a pane can be named by session name or pane id). */
  private readonly targetQueues = new Map<string, Promise<void>>();
  /** Writes per pane: one writer per pane at a time, whatever name it was given by. */
  private readonly paneQueues = new Map<string, Promise<void>>();
  /**
   * Pane id per target, so a write costs no lookup. Pane ids are never reused while a server lives; the cache
   * is dropped for a session that is killed or recreated, for the whole server on kill-server, and on any
   * failed write.
   */
  private readonly paneIds = new Map<string, string>();
  /** The pane-died hook's command once set; part of every server's setup from then on. */
  private paneDiedHook: string | null = null;
  /** The server's pid as last seen in a session listing (for {@link keepReaping}). */
  private serverPid: number | null = null;
  /** Control mode is on and {@link close} was not called. */
  private controlEnabled: boolean;
  /** The control connection, while open or opening. */
  private control: ControlClient | null = null;
  /** Sessions other than the control session exist, so holding a connection is worth it. */
  private controlWanted = false;
  /** No new control connection before this time (the last one failed to start). */
  private controlRetryAt = 0;
  /** A control client is starting or closing: no command may run meanwhile (see {@link openControl}). */
  private controlChange: Promise<void> | null = null;
  /** tmux clients of their own that are running. */
  private readonly spawnsInFlight = new Set<Promise<unknown>>();

  constructor(opts: TmuxDriverOptions) {
    if (!opts.socketName) throw new TmuxClaudeError('INVALID_ARGUMENT', 'tmux socket name must not be empty');
    this.socketName = opts.socketName;
    this.tmuxBin = opts.tmuxBin ?? 'tmux';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const env = process.env.TMUX_CLAUDE_TMUX_CONTROL;
    this.controlEnabled = env !== '0' && (opts.controlMode ?? env === '1');
  }

  /** The pid of the control-mode tmux client while one is connected (for tests and resource accounting). */
  get controlClientPid(): number | null {
    return this.control?.usable ? (this.control.pid ?? null) : null;
  }

  /**
   * Closes the control connection, if any, and waits for its tmux client to exit (tmux then removes its
   * session). The driver keeps working, with a tmux client per call. Idempotent.
   */
  async close(): Promise<void> {
    this.controlEnabled = false;
    await this.closeControl();
  }

  /**
   * The server's pid as last seen by a session listing or a new session; null before either, or after
   * kill-server. Costs no tmux call, for callers that look often (the resource sampler).
   */
  get knownServerPid(): number | null {
    return this.serverPid;
  }

  /** `tmux -V` output, e.g. "tmux 3.3a"; DEPENDENCY_MISSING if tmux is absent. */
  async version(): Promise<string> {
    const res = await runCommand([this.tmuxBin, '-V'], { timeoutMs: this.timeoutMs });
    return res.stdout.trim();
  }

  /**
   * Starts the server if needed, sets `exit-empty off` (so killing the last session does not stop the server
   * and race the next new-session) and the global `remain-on-exit on` and `history-limit 50000`. Idempotent.
   */
  async ensureServer(): Promise<void> {
    await this.run(this.serverSetup());
  }

  /**
   * Sets (replaces) the global pane-died hook to `run-shell -b <shellCommand>`. tmux expands formats such as
   * `#{pane_id}`, `#{pane_dead_status}` and `#{session_name}` in the command before `/bin/sh` runs it (write `##`
   * for a literal `#`). Redirect its output: tmux shows run-shell output in the pane. The hook fires once tmux
   * has collected the exit status; {@link TmuxDriver.listSessions} recovers exits tmux missed. Idempotent.
   */
  async setPaneDiedHook(shellCommand: string): Promise<void> {
    // Remembered, so a server started again after it was killed gets the hook with its other settings.
    this.paneDiedHook = shellCommand;
    await this.run(this.serverSetup());
  }

  /**
   * Creates a detached session running `command` directly (no shell) in `cwd` with a fixed size and extra
   * environment, keeping the pane after the program exits (`remain-on-exit`). Ensures the server first.
   * Rejects with CONFLICT if the session exists, INVALID_ARGUMENT for a bad name, command, env key or cwd.
   */
  async newSession(opts: NewSessionOptions): Promise<SessionInfo> {
    if (!SESSION_NAME.test(opts.name) || opts.name.startsWith(CONTROL_SESSION_PREFIX)) {
      throw new TmuxClaudeError(
        'INVALID_ARGUMENT',
        `invalid tmux session name ${JSON.stringify(opts.name)}`,
        {
          hint: `use letters, digits, "_" and "-" only, not starting with ${CONTROL_SESSION_PREFIX}`,
        },
      );
    }
    const [program] = opts.command;
    if (program === undefined || program === '') {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `no command given for tmux session ${opts.name}`);
    }
    await this.assertDirectory(opts.cwd, opts.name);
    const envArgs: string[] = [];
    for (const [key, value] of Object.entries(opts.env ?? {})) {
      if (!ENV_KEY.test(key)) {
        throw new TmuxClaudeError(
          'INVALID_ARGUMENT',
          `invalid environment variable name ${JSON.stringify(key)}`,
          {
            hint: 'use letters, digits and "_", not starting with a digit',
          },
        );
      }
      envArgs.push('-e', `${key}=${value}`);
    }
    // tmux runs a single-word command through `default-shell -c`; env(1) keeps it a plain exec.
    const argv = opts.command.length === 1 ? ['/usr/bin/env', '--', program] : opts.command;
    const width = String(opts.width ?? 200);
    const height = String(opts.height ?? 50);
    const { stdout } = await this.run(
      [
        ...this.serverSetup(),
        // One invocation: -P/-F reports the new pane, and nothing runs between creating and configuring it.
        [
          'new-session',
          '-d',
          '-s',
          opts.name,
          '-c',
          opts.cwd,
          '-x',
          width,
          '-y',
          height,
          ...envArgs,
          '-P',
          '-F',
          SESSION_FORMAT,
          '--',
          ...argv,
        ],
        ['set-option', '-w', '-t', `=${opts.name}:`, 'remain-on-exit', 'on'],
      ],
      { what: `tmux session ${opts.name}` },
    );
    const line = stdout.split('\n').find((l) => l.includes('\t'));
    if (!line) {
      throw new TmuxClaudeError('INTERNAL', `tmux did not report the pane of new session ${opts.name}`, {
        details: { stdout },
      });
    }
    const parsed = parseSessionLine(line);
    this.serverPid = parsed.serverPid;
    const info = parsed.info;
    this.paneIds.set(paneTarget(opts.name), info.paneId);
    this.controlWanted = true;
    return info;
  }

  /** True if a session with exactly this name exists (false also when no server runs). */
  async hasSession(name: string): Promise<boolean> {
    try {
      await this.run([['has-session', '-t', `=${name}`]], { what: `tmux session ${name}`, retry: true });
      return true;
    } catch (err) {
      if (err instanceof TmuxClaudeError && err.code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  /**
   * All sessions with their active pane; an empty array if no server is running. Also a sweep: a pane whose
   * exit tmux failed to collect (see nudge) is reported alive and tmux is prompted to collect it, after which
   * it reports dead and the pane-died hook fires.
   */
  async listSessions(): Promise<SessionInfo[]> {
    let stdout: string;
    try {
      ({ stdout } = await this.run([['list-sessions', '-F', SESSION_FORMAT]], { retry: true }));
    } catch (err) {
      if (err instanceof CommandError && NO_SERVER.test(err.stderr)) {
        await this.sessionsSeen(0);
        return [];
      }
      throw err;
    }
    const all = stdout
      .split('\n')
      .filter((l) => l !== '')
      .map(parseSessionLine);
    const rows = all.filter((r) => !r.info.name.startsWith(CONTROL_SESSION_PREFIX));
    await this.sessionsSeen(rows.length);
    this.serverPid = all[0]?.serverPid ?? this.serverPid;
    const stuck = rows.find((r) => r.unreaped);
    // Such a pane is reported alive; the nudge lets tmux reap it, which then fires pane-died.
    if (stuck) this.nudge(stuck.serverPid);
    return rows.map((r) => r.info);
  }

  /**
   * Types `text` into the pane exactly as given: loaded into a uniquely named buffer from stdin, pasted with
   * bracketed-paste markers (if the application enabled them) and without newline conversion, then, after
   * `enterDelayMs`, Enter as a separate tmux call. Pastes to one pane are serialized in call order.
   * `target` is a session name or a pane id. Rejects with NOT_FOUND if the target does not exist.
   */
  async paste(target: string, text: string, opts: PasteOptions = {}): Promise<void> {
    await this.exclusive(target, (paneId) => this.pasteNow(paneId, target, text, opts));
  }

  /** Presses Enter in the pane. */
  async sendEnter(target: string): Promise<void> {
    await this.sendKeys(target, ['Enter']);
  }

  /** Sends tmux key names (e.g. `['C-c']`, `['Escape']`) to the pane. */
  async sendKeys(target: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.exclusive(target, async (paneId) => {
      await this.run([['send-keys', '-t', paneId, ...keys]], { what: describe(target) });
    });
  }

  /**
   * Reads output by cursor. A cursor is an absolute line index since the pane started (history_size +
   * cursor_y). Returns the lines in [since, current cursor) and the new cursor; `since` undefined reads the
   * whole history. The cursor line itself (where the program is still writing) is not included. Cursors drift
   * once the history reaches its limit or is cleared; a `since` beyond the current cursor returns the visible
   * lines above the cursor.
   */
  async capture(target: string, since?: number): Promise<Capture> {
    const what = describe(target);
    const pane = await this.resolvePane(target);
    const paneId = pane.paneId;
    let { historySize, cursorY } = pane;
    // Lines can scroll into history between two tmux calls; re-measure and retry until the mapping held.
    for (let attempt = 0; attempt < 5; attempt++) {
      const cursor = historySize + cursorY;
      let start = Math.max(since ?? 0, 0);
      if (start > cursor) start = historySize;
      if (start >= cursor) return { cursor, lines: [] };
      const startArg = since === undefined ? '-' : String(start - historySize);
      const { stdout } = await this.run(
        [
          ['display-message', '-p', '-t', paneId, '#{pane_id}\t#{history_size}\t#{cursor_y}'],
          ['capture-pane', '-p', '-J', '-t', paneId, '-S', startArg, '-E', String(cursorY - 1)],
        ],
        { what, retry: true },
      );
      const newline = stdout.indexOf('\n');
      const [id, hs, cy] = stdout.slice(0, newline).split('\t');
      if (id !== paneId) throw missing(what);
      const nowHistory = Number(hs);
      if (nowHistory === historySize) {
        const body = stdout.slice(newline + 1);
        const lines = (body.endsWith('\n') ? body.slice(0, -1) : body).split('\n').map((l) => l.trimEnd());
        return { cursor, lines };
      }
      historySize = nowHistory;
      cursorY = Number(cy);
    }
    throw new TmuxClaudeError('UNAVAILABLE', `output of ${what} scrolled faster than it could be captured`, {
      hint: 'retry the capture',
    });
  }

  /** The visible screen as plain text, one line per row. */
  async screen(target: string): Promise<string> {
    const { stdout } = await this.run([['capture-pane', '-p', '-t', paneTarget(target)]], {
      what: describe(target),
      retry: true,
    });
    return stdout;
  }

  /**
   * The visible screen with its colours and attributes as ANSI escapes (for a terminal emulator), the cursor
   * position and the pane size, read in one tmux call.
   */
  async screenWithStyle(target: string): Promise<StyledScreen> {
    const what = describe(target);
    const { stdout } = await this.run(
      [
        [
          'display-message',
          '-p',
          '-t',
          paneTarget(target),
          '#{cursor_x}\t#{cursor_y}\t#{pane_width}\t#{pane_height}',
        ],
        ['capture-pane', '-p', '-e', '-t', paneTarget(target)],
      ],
      { what, retry: true },
    );
    const newline = stdout.indexOf('\n');
    const [x, y, w, h] = stdout.slice(0, newline).split('\t').map(Number);
    const body = stdout.slice(newline + 1);
    return {
      text: body.endsWith('\n') ? body.slice(0, -1) : body,
      cursorX: x ?? 0,
      cursorY: y ?? 0,
      width: w ?? 0,
      height: h ?? 0,
    };
  }

  /**
   * Sends raw bytes to the pane as if typed (what a terminal emulator produces: control characters, escape
   * sequences, UTF-8), through `send-keys -H` so nothing is interpreted as a tmux key name.
   */
  async sendBytes(target: string, data: string): Promise<void> {
    const bytes = Buffer.from(data, 'utf8');
    if (bytes.length === 0) return;
    await this.exclusive(target, async (paneId) => {
      // Chunked so one tmux argv stays small whatever a paste into the dashboard holds.
      for (let i = 0; i < bytes.length; i += 2048) {
        const hex = [...bytes.subarray(i, i + 2048)].map((b) => b.toString(16).padStart(2, '0'));
        await this.run([['send-keys', '-t', paneId, '-H', ...hex]], { what: describe(target) });
      }
    });
  }

  /** Kills the session and its processes; no error if it is already gone. */
  async killSession(name: string): Promise<void> {
    this.paneIds.delete(paneTarget(name));
    try {
      const { stdout } = await this.run(
        [
          ['kill-session', '-t', `=${name}`],
          ['display-message', '-p', '#{pid}'],
          // With control mode: whether the control connection is still worth holding.
          ...(this.controlEnabled ? [['list-sessions', '-F', '#{session_name}']] : []),
        ],
        { what: `tmux session ${name}`, retry: true },
      );
      const [pid, ...names] = stdout.split('\n').filter((l) => l !== '');
      // Removing a pane's utmp record can swallow another pane's SIGCHLD too.
      this.nudge(parseIntOrNull(pid));
      if (this.controlEnabled) {
        await this.sessionsSeen(names.filter((n) => !n.startsWith(CONTROL_SESSION_PREFIX)).length);
      }
    } catch (err) {
      if (err instanceof TmuxClaudeError && err.code === 'NOT_FOUND') return;
      throw err;
    }
  }

  /** Kills the server and every session on it, and removes its socket file; no error if it is not running. */
  async killServer(): Promise<void> {
    this.serverPid = null;
    this.paneIds.clear();
    // First, so that its loss is no surprise and the kill itself goes through a client of its own.
    await this.sessionsSeen(0);
    let stdout: string;
    try {
      ({ stdout } = await this.run([['display-message', '-p', '#{socket_path}'], ['kill-server']]));
    } catch (err) {
      if (err instanceof CommandError && NO_SERVER.test(err.stderr)) return;
      throw err;
    }
    // tmux 3.3a leaves the socket file behind; with a socket name per test run they would pile up.
    const socketPath = stdout.trim();
    if (socketPath.endsWith(`/${this.socketName}`)) {
      const st = await stat(socketPath).catch(() => undefined);
      if (st?.isSocket()) await unlink(socketPath).catch(() => undefined);
    }
  }

  /**
   * Sends the server a spare SIGCHLD every `intervalMs` (see {@link nudge}), so a pane whose exit tmux failed
   * to collect is reaped — and its pane-died hook fires — within that time rather than at the next sweep. One
   * signal, no process; returns the function that stops it.
   */
  keepReaping(intervalMs: number): () => void {
    const timer = setInterval(() => this.nudge(this.serverPid), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Debian's and Ubuntu's tmux use libutempter, whose helper sets SIGCHLD to SIG_DFL while it adds or removes
   * a pane's utmp entry. tmux re-raises SIGCHLD after adding (tmux issue #311) but not after removing, which
   * it does when the pane's pty closes, i.e. just as the program exits. If the exit lands in that window the
   * child is never reaped: the pane stays half-dead without a status and pane-died never fires (seen in about
   * 1 of 20 fresh servers here). A spare SIGCHLD makes the server reap it; otherwise it is harmless (the
   * server only runs its waitpid(WNOHANG) loop).
   */
  private nudge(serverPid: number | null): void {
    if (serverPid === null || serverPid <= 1) return;
    try {
      process.kill(serverPid, 'SIGCHLD');
    } catch {
      // The server is gone or not ours to signal; nothing to reap then.
    }
  }

  private serverSetup(): string[][] {
    return [
      ['start-server'],
      ['set-option', '-s', 'exit-empty', 'off'],
      ['set-option', '-g', 'remain-on-exit', 'on'],
      ['set-option', '-g', 'history-limit', '50000'],
      // run-shell (the pane-died hook) uses default-shell, which defaults to the user's $SHELL (maybe fish).
      ['set-option', '-g', 'default-shell', '/bin/sh'],
      ...(this.paneDiedHook === null
        ? []
        : [['set-hook', '-g', 'pane-died', `run-shell -b ${tmuxQuote(this.paneDiedHook)}`]]),
    ];
  }

  /**
   * Runs `write` on the target's pane after earlier writes to the same target (FIFO) and to the same pane
   * (mutual exclusion), so keys never land between another writer's paste and its Enter.
   */
  private exclusive(target: string, write: (paneId: string) => Promise<void>): Promise<void> {
    const key = paneTarget(target);
    return enqueue(this.targetQueues, key, async () => {
      const paneId = this.paneIds.get(key) ?? (await this.resolvePane(target)).paneId;
      this.paneIds.set(key, paneId);
      try {
        await enqueue(this.paneQueues, paneId, () => write(paneId));
      } catch (err) {
        this.paneIds.delete(key);
        throw err;
      }
    });
  }

  private async pasteNow(paneId: string, target: string, text: string, opts: PasteOptions): Promise<void> {
    const what = describe(target);
    const buffer = `tmux-claude-${randomUUID()}`;
    // -r: no LF-to-CR conversion, so the bytes arrive as given; -p: bracketed paste if the app asked for it.
    const paste = ['paste-buffer', '-p', '-r', '-d', '-b', buffer, '-t', paneId];
    // A spawned client reads the text from stdin; a control client has one stdin for all its commands and
    // gets it quoted in set-buffer (see quoteArg), except NUL, which a tmux argument cannot hold.
    const fromStdin = { commands: [['load-buffer', '-b', buffer, '-'], paste], input: text };
    try {
      if (text.length > MAX_CONTROL_PASTE || text.includes('\0')) {
        await this.run(fromStdin.commands, { what, input: text });
      } else {
        await this.run([['set-buffer', '-b', buffer, '--', text], paste], { what, spawned: fromStdin });
      }
    } catch (err) {
      await this.run([['delete-buffer', '-b', buffer]]).catch(() => undefined);
      throw err;
    }
    if (opts.submit === false) return;
    await sleep(opts.enterDelayMs ?? 200);
    await this.run([['send-keys', '-t', paneId, 'Enter']], { what });
  }

  /** Finds the pane a target names, with its scroll position (list-panes fails cleanly for missing targets). */
  private async resolvePane(
    target: string,
  ): Promise<{ paneId: string; historySize: number; cursorY: number }> {
    const t = paneTarget(target);
    const { stdout } = await this.run(
      [['list-panes', '-t', t, '-F', '#{pane_id}\t#{pane_active}\t#{history_size}\t#{cursor_y}']],
      { what: describe(target), retry: true },
    );
    const rows = stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t'));
    const row = t.startsWith('%') ? rows.find((r) => r[0] === t) : rows.find((r) => r[1] === '1');
    if (!row?.[0]) throw missing(describe(target));
    return { paneId: row[0], historySize: Number(row[2]), cursorY: Number(row[3]) };
  }

  private async assertDirectory(cwd: string, name: string): Promise<void> {
    const st = await stat(cwd).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new TmuxClaudeError(
        'INVALID_ARGUMENT',
        `working directory ${cwd} for tmux session ${name} does not exist`,
        {
          hint: 'create the directory first or pass an existing one',
        },
      );
    }
  }

  /**
   * Runs tmux commands in one invocation (joined with `;`, so the server runs them back to back and stops at
   * the first error), through the control connection if there is one, else a tmux client of their own. A
   * missing session, pane or server becomes NOT_FOUND naming `what`; a duplicate session becomes CONFLICT.
   */
  private async run(commands: string[][], opts: RunOptions = {}): Promise<{ stdout: string }> {
    try {
      const control =
        opts.input === undefined ? await this.activeControl() : await this.quiet().then(() => null);
      if (control) {
        try {
          return { stdout: await control.run(commands, this.timeoutMs) };
        } catch (err) {
          if (!(err instanceof ControlLostError)) throw err;
          // Not started by tmux, or harmless to repeat: a client of its own gives the real answer.
          if (err.begun && !opts.retry) throw await this.lostWhileRunning(commands, err);
        }
        await this.quiet();
      }
      return await this.spawnClient(opts.spawned?.commands ?? commands, opts.spawned?.input ?? opts.input);
    } catch (err) {
      if (!(err instanceof CommandError) || err.timedOut) throw err;
      if (opts.what && MISSING_TARGET.test(err.stderr)) throw missing(opts.what, err);
      if (/duplicate session/.test(err.stderr)) {
        throw new TmuxClaudeError('CONFLICT', `${opts.what ?? 'tmux session'} already exists`, {
          cause: err,
          hint: 'pick another name, or kill the existing session first',
        });
      }
      throw err;
    }
  }

  /**
   * The error for commands that tmux had started when the control connection died, so they may or may not
   * have taken effect and are not repeated. Usually the server was killed, taking the target with it: that is
   * "no server running", as for a command that came a moment later.
   */
  private async lostWhileRunning(commands: string[][], err: ControlLostError): Promise<CommandError> {
    const stderr = await this.spawnClient([['display-message', '-p', '#{pid}']], undefined).then(
      () => `tmux control connection lost while the command ran: ${err.message}`,
      (probe: unknown) =>
        probe instanceof CommandError && NO_SERVER.test(probe.stderr) ? probe.stderr : err.message,
    );
    return new CommandError(['tmux', ...(commands[0] ?? [])], {
      exitCode: 1,
      stderr,
      timedOut: false,
      cause: err,
    });
  }

  /** Runs the commands with a tmux client process of their own. */
  private async spawnClient(commands: string[][], input: string | undefined): Promise<{ stdout: string }> {
    const args: string[] = [];
    for (const cmd of commands) {
      if (args.length > 0) args.push(';');
      args.push(...cmd.map(tmuxArg));
    }
    const running = runCommand([this.tmuxBin, '-L', this.socketName, '-f', '/dev/null', ...args], {
      timeoutMs: this.timeoutMs,
      ...(input === undefined ? {} : { input }),
    });
    this.spawnsInFlight.add(running);
    try {
      return { stdout: (await running).stdout };
    } finally {
      this.spawnsInFlight.delete(running);
    }
  }

  /** The control connection to use now, opened if sessions exist and none is open; null: spawn a client. */
  private async activeControl(): Promise<ControlClient | null> {
    for (;;) {
      if (this.controlChange) {
        await this.controlChange;
        continue;
      }
      if (!this.controlEnabled || !this.controlWanted) return null;
      if (this.control) return this.control.usable ? this.control : null;
      if (Date.now() < this.controlRetryAt) return null;
      this.controlChange = this.openControl().finally(() => {
        this.controlChange = null;
      });
    }
  }

  /** Waits while a control client starts or goes (see {@link openControl}). */
  private async quiet(): Promise<void> {
    while (this.controlChange) await this.controlChange;
  }

  /**
   * Starts a control client. tmux 3.3a marks a client as a control client as soon as it identifies, but sets
   * up its output only when identification is done (several reads later, as file descriptors come with it);
   * a notification for all control clients in between — `%sessions-changed` for any new or killed session,
   * `%session-window-changed`, paste-buffer changes … — makes the server write through a null pointer and
   * crash (segfault in control_write; tmux ≥ 3.4 checks for it). So nothing of this driver's runs meanwhile:
   * spawned clients still running are waited for, and new commands wait until the client is attached.
   */
  private async openControl(): Promise<void> {
    await Promise.allSettled([...this.spawnsInFlight]);
    const control = new ControlClient({
      tmuxBin: this.tmuxBin,
      socketName: this.socketName,
      session: `${CONTROL_SESSION_PREFIX}${randomUUID().slice(0, 8)}`,
      // The client starts the server if it is gone (a race with kill-server): set it up as ensureServer does.
      setup: this.serverSetup(),
      startTimeoutMs: this.timeoutMs,
      onEnd: (ended) => {
        if (this.control !== ended) return;
        this.control = null;
        // Lost (the server was killed?): spawn clients until sessions are seen again.
        this.controlWanted = false;
      },
    });
    try {
      await control.ready;
      this.control = control;
    } catch {
      this.controlRetryAt = Date.now() + CONTROL_RETRY_MS;
      await control.close();
    }
  }

  /** Keeps a control connection only while `count` sessions (besides its own) exist. */
  private async sessionsSeen(count: number): Promise<void> {
    if (!this.controlEnabled) return;
    this.controlWanted = count > 0;
    if (count === 0) await this.closeControl();
  }

  /** Closes the control client, if any; commands wait meanwhile (a client that goes is as fragile). */
  private async closeControl(): Promise<void> {
    await this.quiet();
    this.controlWanted = false;
    const control = this.control;
    if (!control) return;
    this.control = null;
    const change = control.close().finally(() => {
      if (this.controlChange === change) this.controlChange = null;
    });
    this.controlChange = change;
    await change;
  }
}

/** Runs `task` after the previous task queued under `key`; a failed task does not block the queue. */
function enqueue(queues: Map<string, Promise<void>>, key: string, task: () => Promise<void>): Promise<void> {
  const result = (queues.get(key) ?? Promise.resolve()).then(task);
  const tail = result.catch(() => undefined);
  queues.set(key, tail);
  // Forget idle queues so the maps do not grow with every pane ever written to.
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return result;
}

function describe(target: string): string {
  return /^%\d+$/.test(target) ? `tmux pane ${target}` : `tmux session ${target.replace(/^=/, '')}`;
}

function missing(what: string, cause?: unknown): TmuxClaudeError {
  return new TmuxClaudeError('NOT_FOUND', `${what} not found`, {
    ...(cause === undefined ? {} : { cause }),
    hint: 'it may have exited or been killed; list sessions with `tmux-claude ls`',
  });
}
