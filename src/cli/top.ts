import { isLive, TmuxClaudeError } from '../core/index.js';
import type { ConflictReport, InstanceView, TaskView } from '../mcp/index.js';
import type { ResourceSnapshot } from '../supervisor/index.js';
import type { ApiClient } from './client.js';
import { renderTop, topSnapshot, type TopSnapshot } from './output.js';

export interface TopOptions {
  /** Seconds between frames. */
  interval: number;
  once: boolean;
  all: boolean;
  json: boolean;
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const CTRL_C = '\x03';

/** Parses `--interval S`: a positive number of seconds, at least 0.2 so a frame is not refetched in a loop. */
export function topInterval(value: string): number {
  const s = Number(value);
  if (!Number.isFinite(s) || s < 0.2) {
    throw new TmuxClaudeError(
      'INVALID_ARGUMENT',
      `--interval ${JSON.stringify(value)}: expected seconds >= 0.2`,
    );
  }
  return s;
}

/**
 * Fetches one frame: instances, the newest resource samples, the tasks of the shown instances' runs and the
 * conflicts of runs with live instances (terminated instances only with `all`).
 */
export async function fetchTop(client: ApiClient, all: boolean): Promise<TopSnapshot> {
  const [list, resources] = await Promise.all([
    client.request<InstanceView[]>('GET', '/instances'),
    client.request<ResourceSnapshot>('GET', '/resources'),
  ]);
  const instances = all ? list : list.filter((i) => i.state !== 'terminated');
  const runs = [...new Set(instances.map((i) => i.runId))];
  const liveRuns = new Set(instances.filter((i) => isLive(i.state)).map((i) => i.runId));
  const perRun = await Promise.all(
    runs.map(async (run) => {
      const q = `?run=${encodeURIComponent(run)}`;
      const [tasks, conflicts] = await Promise.all([
        client.request<{ tasks: TaskView[] }>('GET', `/tasks${q}`),
        liveRuns.has(run) ? client.request<ConflictReport>('GET', `/conflicts${q}`) : null,
      ]);
      return { run, tasks: tasks.tasks, conflicts };
    }),
  );
  const conflicts = new Map<string, ConflictReport>();
  for (const r of perRun) if (r.conflicts) conflicts.set(r.run, r.conflicts);
  return topSnapshot({ instances, resources, tasks: perRun.flatMap((r) => r.tasks), conflicts });
}

/**
 * `tmux-claude top`: one snapshot as JSON with `json`; one frame when stdout is not a terminal or with
 * `once`; otherwise a frame every `interval` seconds until q or Ctrl-C. A failed fetch (the supervisor
 * restarting) shows on the frame and the next one retries.
 */
export async function top(client: ApiClient, o: TopOptions): Promise<void> {
  const stdout = process.stdout;
  if (o.json) return void stdout.write(`${JSON.stringify(await fetchTop(client, o.all), null, 2)}\n`);
  if (o.once || !stdout.isTTY) return void stdout.write(`${renderTop(await fetchTop(client, o.all))}\n`);

  const stdin = process.stdin;
  let snap: TopSnapshot | null = null;
  let failure = '';
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // Rendered at draw time, so a resized terminal gets a frame of its new size at once.
  const draw = (): void => {
    const frame = snap ? renderTop(snap, { columns: stdout.columns, rows: stdout.rows - 1 }) : 'loading…';
    const lines = (failure ? `${failure}\n${frame}` : frame).split('\n').map((l) => l + CLEAR_LINE);
    // Overwrite in place rather than clear the whole screen: no flicker between frames.
    stdout.write(HOME + lines.join('\n') + CLEAR_BELOW);
  };
  const refresh = async (): Promise<void> => {
    try {
      snap = await fetchTop(client, o.all);
      failure = '';
    } catch (err) {
      failure = `${err instanceof Error ? err.message : String(err)} (retrying; the frame below is old)`;
    }
    if (stopped) return;
    draw();
    timer = setTimeout(() => void refresh(), o.interval * 1000);
  };

  await new Promise<void>((resolve) => {
    const finish = (): void => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      stdout.off('resize', draw);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      if (stdin.isTTY) {
        stdin.off('data', onKey);
        stdin.setRawMode(false);
        stdin.pause();
      }
      stdout.write(SHOW_CURSOR + '\n');
      resolve();
    };
    const onKey = (key: Buffer): void => {
      const k = key.toString('utf8');
      if (k === 'q' || k === 'Q' || k === CTRL_C) finish();
    };
    // In raw mode Ctrl-C arrives as a key, not as SIGINT; without a terminal on stdin, only the signals stop it.
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', onKey);
    }
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
    stdout.on('resize', draw);
    stdout.write(HIDE_CURSOR + HOME + CLEAR_BELOW);
    void refresh();
  });
}
