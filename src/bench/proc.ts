/** Bench-only /proc readings; the general ones (CPU, RSS, process trees) live in core. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cpuSeconds, rssBytes } from '../core/index.js';

/** The command line with NULs as spaces; '' when unreadable. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
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
