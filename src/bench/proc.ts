/** Linux /proc readings: CPU time, resident memory and process trees of other processes. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

let clockTicks: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (almost always 100). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 });
    const n = Number(r.stdout?.trim());
    clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses). */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** User + system CPU seconds the process has used so far; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  const f = statFields(pid);
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (!f) return null;
  return (Number(f[11]) + Number(f[12])) / clockTicksPerSecond();
}

/** CPU seconds of the process's children that it has waited for (cutime + cstime): its short-lived tools. */
export function childCpuSeconds(pid: number): number | null {
  const f = statFields(pid);
  // cutime and cstime are fields 16 and 17.
  if (!f) return null;
  return (Number(f[13]) + Number(f[14])) / clockTicksPerSecond();
}

/** VmRSS from /proc/<pid>/status in bytes; null when the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The command line with NULs as spaces; '' when unreadable. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** Parent pid of every process visible in /proc. */
export function parentTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f) table.set(Number(entry), Number(f[1]));
  }
  return table;
}

/** Every descendant of `pid` (children, grandchildren, …) in `table`. */
export function descendantsOf(pid: number, table: Map<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [child, parent] of table) {
    const list = children.get(parent) ?? [];
    list.push(child);
    children.set(parent, list);
  }
  const out: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Pids whose initial environment holds `NAME=value` exactly (processes started for one home dir). */
export function processesWithEnv(name: string, value: string): number[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`).includes(needle)) pids.push(Number(entry));
    } catch {
      // exited, or not ours to read
    }
  }
  return pids;
}

/**
 * Resolves with `performance.now()` once `pid` is gone from /proc, polling every `intervalMs`: for a process
 * that was killed, the moment its parent reaped it (a zombie keeps its entry until then). Null after
 * `timeoutMs`. Reading /proc costs microseconds, so watching does not slow what is being timed.
 */
export function whenReaped(pid: number, timeoutMs = 60_000, intervalMs = 2): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = (): void => {
      const now = performance.now();
      if (!existsSync(`/proc/${pid}`)) resolve(now);
      else if (now > deadline) resolve(null);
      else setTimeout(check, intervalMs);
    };
    check();
  });
}

/** CPU and memory of a set of processes over a window, in sub-intervals. */
export interface ProcessSamples {
  /** CPU use of each sub-interval, in % of one core (summed over the processes). */
  cpuPercent: number[];
  /** CPU use over the whole window, in % of one core. */
  meanCpuPercent: number;
  /** Summed RSS at the end of each sub-interval, in bytes. */
  rssBytes: number[];
  seconds: number;
}

function totalCpu(pids: readonly number[]): number {
  return pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0);
}

function totalRss(pids: readonly number[]): number {
  return pids.reduce((s, p) => s + (rssBytes(p) ?? 0), 0);
}

/**
 * Samples utime+stime and VmRSS of fixed pids every `intervalMs` between start() and stop(). Percentages use
 * the measured elapsed time, so a late timer in a busy process does not distort them. A process that exits
 * during the window stops contributing.
 */
export class ProcessSampler {
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private cpu0 = 0;
  private lastT = 0;
  private lastCpu = 0;
  private readonly cpuPercent: number[] = [];
  private readonly rss: number[] = [];

  constructor(
    private readonly pids: readonly number[],
    private readonly intervalMs = 1_000,
  ) {}

  start(): this {
    this.t0 = this.lastT = performance.now();
    this.cpu0 = this.lastCpu = totalCpu(this.pids);
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    return this;
  }

  stop(): ProcessSamples {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const now = performance.now();
    const cpu = totalCpu(this.pids);
    // A trailing fragment shorter than half an interval is too coarse (10 ms ticks) to be its own sample.
    if (now - this.lastT >= this.intervalMs / 2 || this.cpuPercent.length === 0) this.tick();
    const seconds = (now - this.t0) / 1000;
    return {
      cpuPercent: [...this.cpuPercent],
      meanCpuPercent: seconds > 0 ? ((cpu - this.cpu0) / seconds) * 100 : 0,
      rssBytes: [...this.rss],
      seconds,
    };
  }

  private tick(): void {
    const now = performance.now();
    const cpu = totalCpu(this.pids);
    const dt = (now - this.lastT) / 1000;
    if (dt > 0) this.cpuPercent.push(((cpu - this.lastCpu) / dt) * 100);
    this.rss.push(totalRss(this.pids));
    this.lastT = now;
    this.lastCpu = cpu;
  }
}

/** Samples `pids` for `windowMs` while the caller waits. */
export async function sampleFor(
  pids: readonly number[],
  windowMs: number,
  intervalMs = 1_000,
): Promise<ProcessSamples> {
  const sampler = new ProcessSampler(pids, intervalMs).start();
  await new Promise((r) => setTimeout(r, windowMs));
  return sampler.stop();
}
