import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';
import {
  childrenIndex,
  descendantsOf,
  hostCpuSeconds,
  parentTable,
  processTable,
  type ProcessStat,
} from '../core/index.js';

/** Sampling interval of the supervisor's {@link ResourceSampler}. */
export const RESOURCE_INTERVAL_MS = 2_000;
/** Samples kept per series: 5 minutes at the default interval. */
export const RESOURCE_CAPACITY = 150;

/** CPU and memory of one process, or of a process tree, at one tick. */
export interface ProcessUsage {
  /** CPU used since the previous tick, in % of one core; null on the first tick (no baseline yet). */
  cpuPercent: number | null;
  /** Resident memory, summed over the processes. */
  rssBytes: number;
  /** How many processes were counted (the root and its descendants). */
  processes: number;
}

/** One instance's agent process tree at one tick. */
export interface InstanceSample extends ProcessUsage {
  /** Wall-clock time of the tick (ms since the epoch). */
  ts: number;
  /** The root of the tree: the agent process in the instance's pane. */
  pid: number;
}

/** The machine, the supervisor and its tmux server at one tick. */
export interface HostSample {
  ts: number;
  /** Busy share of all cores since the previous tick, 0–100; null on the first tick or without /proc/stat. */
  cpuPercent: number | null;
  cpus: number;
  /** 1, 5 and 15 minute load averages. */
  load: [number, number, number];
  /** Memory available to new work (MemAvailable), and in total. */
  memFreeBytes: number;
  memTotalBytes: number;
  /** The supervisor process, including the commands it ran and reaped since the previous tick (git, tmux). */
  supervisor: ProcessUsage | null;
  /** The tmux server process alone (its panes are the instances); null while its pid is unknown. */
  tmux: ProcessUsage | null;
}

/** An instance to sample: its id and the pid of its agent process (null until known). */
export interface ResourceTarget {
  id: string;
  pid: number | null;
}

/** The newest sample of the host and of every sampled live instance. */
export interface ResourceSnapshot {
  intervalMs: number;
  host: HostSample | null;
  instances: Record<string, InstanceSample>;
}

export interface ResourceSamplerOptions {
  /** The live instances, asked once per tick (a store read; no tmux call). */
  targets: () => Promise<readonly ResourceTarget[]>;
  /** The tmux server's pid if known without asking tmux; omitted or null: not sampled. */
  tmuxPid?: () => number | null;
  intervalMs?: number;
  /** Samples kept per series. */
  capacity?: number;
  onError?: (err: unknown) => void;
  /** Called after every tick (e.g. to wake the dashboard's live stream). */
  onSample?: () => void;
}

/** Where a measured tree stood at the previous tick: its root, and its members by pid with their start time. */
interface Baseline {
  root: number;
  rootStart: number;
  members: Map<number, number>;
}

/**
 * Samples CPU and RSS of every live instance's process tree and of the host every `intervalMs`, keeping the
 * last `capacity` samples per series in memory for the dashboard and `tmux-claude top`. One tick is one
 * pass over /proc (each /proc/<pid>/stat read once) plus one store read: no child processes, no tmux calls.
 *
 * An instance's CPU counts its live processes and the short-lived ones they ran and reaped in the interval
 * (a tool's `git` or `rg`), since an agent's work is mostly such commands. Series of instances that are no
 * longer live are dropped.
 */
export class ResourceSampler {
  readonly intervalMs: number;
  private readonly capacity: number;
  private readonly instanceSeries = new Map<string, InstanceSample[]>();
  private readonly hostSeries: HostSample[] = [];
  private readonly baselines = new Map<string, Baseline>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** The previous tick's process table, time (performance.now()) and machine CPU counters. */
  private prev: {
    table: Map<number, ProcessStat>;
    at: number;
    host: { busy: number; total: number } | null;
  } = { table: new Map(), at: 0, host: null };

  constructor(private readonly opts: ResourceSamplerOptions) {
    this.intervalMs = opts.intervalMs ?? RESOURCE_INTERVAL_MS;
    this.capacity = opts.capacity ?? RESOURCE_CAPACITY;
  }

  /** Takes a first sample (the baseline for CPU rates) and then one every interval. */
  start(): void {
    if (this.timer) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling, resolving once a tick in progress is done (so it is not left reading a closed store). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** Takes one sample now; a tick still running is awaited instead of overlapped. Never rejects. */
  tick(): Promise<void> {
    this.ticking ??= this.sample()
      .then(() => this.opts.onSample?.())
      .catch((err: unknown) => this.opts.onError?.(err))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /** The newest sample of the host and of each live instance that has one. */
  latest(): ResourceSnapshot {
    const instances: Record<string, InstanceSample> = {};
    for (const [id, series] of this.instanceSeries) {
      const last = series.at(-1);
      if (last) instances[id] = last;
    }
    return { intervalMs: this.intervalMs, host: this.hostSeries.at(-1) ?? null, instances };
  }

  /** An instance's samples, oldest first; undefined when it is not (or no longer) sampled. */
  series(id: string): InstanceSample[] | undefined {
    const s = this.instanceSeries.get(id);
    return s ? [...s] : undefined;
  }

  /** The host's samples, oldest first. */
  host(): HostSample[] {
    return [...this.hostSeries];
  }

  private async sample(): Promise<void> {
    const targets = await this.opts.targets();
    const table = processTable();
    const children = childrenIndex(parentTable(table));
    const at = performance.now();
    const ts = Date.now();
    const seconds = this.prev.at > 0 ? (at - this.prev.at) / 1000 : 0;
    const measure = (
      key: string,
      root: number,
      opts: { tree: boolean; reaped: boolean },
    ): ProcessUsage | null =>
      this.measure(key, root, table, opts.tree ? children : null, opts.reaped, seconds);

    const live = new Set<string>();
    for (const t of targets) {
      live.add(t.id);
      if (t.pid === null) continue;
      const usage = measure(t.id, t.pid, { tree: true, reaped: true });
      if (usage) this.push(t.id, { ts, pid: t.pid, ...usage });
    }
    for (const id of [...this.instanceSeries.keys(), ...this.baselines.keys()]) {
      if (id.startsWith('host:') || live.has(id)) continue;
      this.instanceSeries.delete(id);
      this.baselines.delete(id);
    }

    const tmuxPid = this.opts.tmuxPid?.() ?? null;
    const cpu = hostCpuSeconds();
    const before = this.prev.host;
    const [l1 = 0, l5 = 0, l15 = 0] = loadavg();
    this.hostSeries.push({
      ts,
      cpuPercent:
        cpu && before && cpu.total > before.total
          ? round(((cpu.busy - before.busy) / (cpu.total - before.total)) * 100)
          : null,
      cpus: availableParallelism(),
      load: [l1, l5, l15],
      memFreeBytes: freemem(),
      memTotalBytes: totalmem(),
      supervisor: measure('host:supervisor', process.pid, { tree: false, reaped: true }),
      // Not its reaped children: those are panes, whose whole lifetime would land in one tick.
      tmux: tmuxPid === null ? null : measure('host:tmux', tmuxPid, { tree: false, reaped: false }),
    });
    if (this.hostSeries.length > this.capacity) this.hostSeries.shift();
    this.prev = { table, at, host: cpu };
  }

  /**
   * Usage of `root` (and with `children`, its descendants) from cumulative counters: a process seen at the
   * previous tick adds what it used since, a new one everything it used. With `reaped`, the CPU of reaped
   * children counts too; a member that exited since is then subtracted as last seen, because its whole
   * lifetime has just landed in its parent's reaped-children counter. Null when `root` is not running.
   */
  private measure(
    key: string,
    root: number,
    table: ReadonlyMap<number, ProcessStat>,
    children: ReadonlyMap<number, readonly number[]> | null,
    reaped: boolean,
    seconds: number,
  ): ProcessUsage | null {
    const rootStat = table.get(root);
    if (!rootStat) {
      this.baselines.delete(key);
      return null;
    }
    const total = (s: ProcessStat): number => s.cpuSeconds + (reaped ? s.childCpuSeconds : 0);
    const pids = children ? [root, ...descendantsOf(root, children)] : [root];
    const members = new Map<number, number>();
    let used = 0;
    let rss = 0;
    for (const pid of pids) {
      const s = table.get(pid);
      if (!s) continue;
      members.set(pid, s.startTicks);
      rss += s.rssBytes;
      const was = this.prev.table.get(pid);
      used += total(s) - (was && was.startTicks === s.startTicks ? total(was) : 0);
    }
    const base = this.baselines.get(key);
    // A restarted instance has a new root: its first sample is a new baseline, like a new instance's.
    const comparable = base !== undefined && base.root === root && base.rootStart === rootStat.startTicks;
    if (comparable && reaped) {
      for (const [pid, start] of base.members) {
        const was = this.prev.table.get(pid);
        // Only the exited: one that merely left the tree (reparented) took its counters with it.
        if (!table.has(pid) && was && was.startTicks === start) used -= total(was);
      }
    }
    this.baselines.set(key, { root, rootStart: rootStat.startTicks, members });
    return {
      // An exit reaped outside the tree can make the sum dip below zero; that interval is best shown as idle.
      cpuPercent: comparable && seconds > 0 ? round(Math.max(0, used / seconds) * 100) : null,
      rssBytes: rss,
      processes: members.size,
    };
  }

  private push(id: string, sample: InstanceSample): void {
    const series = this.instanceSeries.get(id) ?? [];
    series.push(sample);
    if (series.length > this.capacity) series.shift();
    this.instanceSeries.set(id, series);
  }
}

/** One decimal: CPU ticks are 10 ms, so more digits would be noise. */
function round(n: number): number {
  return Math.round(n * 10) / 10;
}
