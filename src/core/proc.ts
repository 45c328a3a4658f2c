/** Linux /proc readings: CPU time, resident memory and process trees of other processes. */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const confCache = new Map<string, number>();

/** A `getconf` value, asked once per process (a child process, so never per sample); `fallback` if unknown. */
function getconf(name: string, fallback: number): number {
  let value = confCache.get(name);
  if (value === undefined) {
    const r = spawnSync('getconf', [name], { encoding: 'utf8', timeout: 5_000 });
    const n = Number(r.stdout?.trim());
    value = Number.isInteger(n) && n > 0 ? n : fallback;
    confCache.set(name, value);
  }
  return value;
}

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (almost always 100). */
export function clockTicksPerSecond(): number {
  return getconf('CLK_TCK', 100);
}

/** The unit of the rss field of /proc/<pid>/stat. */
function pageSize(): number {
  return getconf('PAGESIZE', 4096);
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

// Indexes into statFields: f[0] is field 3 (state), so field n of proc(5) is f[n - 3].
const PPID = 1;
const UTIME = 11;
const STIME = 12;
const CUTIME = 13;
const CSTIME = 14;
const STARTTIME = 19;
const RSS = 21;

/** User + system CPU seconds the process has used so far; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  const f = statFields(pid);
  if (!f) return null;
  return (Number(f[UTIME]) + Number(f[STIME])) / clockTicksPerSecond();
}

/** CPU seconds of the process's children that it has waited for (cutime + cstime): its short-lived tools. */
export function childCpuSeconds(pid: number): number | null {
  const f = statFields(pid);
  if (!f) return null;
  return (Number(f[CUTIME]) + Number(f[CSTIME])) / clockTicksPerSecond();
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

/** One process as /proc/<pid>/stat describes it. */
export interface ProcessStat {
  ppid: number;
  /** Start time in clock ticks after boot: with the pid, it identifies a process (pids are reused). */
  startTicks: number;
  /** User + system CPU seconds of the process itself. */
  cpuSeconds: number;
  /** CPU seconds of the children it has reaped (cutime + cstime). */
  childCpuSeconds: number;
  /** Resident memory in bytes (the same counter as VmRSS). */
  rssBytes: number;
}

/**
 * Every process visible in /proc, from one read of each /proc/<pid>/stat: a consistent snapshot for
 * samplers that need parents, CPU and memory of many processes at once. Empty without /proc (not Linux).
 */
export function processTable(): Map<number, ProcessStat> {
  const table = new Map<number, ProcessStat>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return table;
  }
  const hz = clockTicksPerSecond();
  const page = pageSize();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (!f) continue; // exited since readdir
    table.set(Number(entry), {
      ppid: Number(f[PPID]),
      startTicks: Number(f[STARTTIME]),
      cpuSeconds: (Number(f[UTIME]) + Number(f[STIME])) / hz,
      childCpuSeconds: (Number(f[CUTIME]) + Number(f[CSTIME])) / hz,
      rssBytes: Number(f[RSS]) * page,
    });
  }
  return table;
}

/** Parent pid of every process visible in /proc (or in `table`, when one was read already). */
export function parentTable(table: ReadonlyMap<number, ProcessStat> = processTable()): Map<number, number> {
  return new Map([...table].map(([pid, s]) => [pid, s.ppid]));
}

/** The children of every process in a parent table: built once, it answers {@link descendantsOf} for many. */
export function childrenIndex(parents: ReadonlyMap<number, number>): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const [child, parent] of parents) {
    const list = children.get(parent);
    if (list) list.push(child);
    else children.set(parent, [child]);
  }
  return children;
}

/** Every descendant of `pid` (children, grandchildren, …) in a {@link childrenIndex}. */
export function descendantsOf(pid: number, children: ReadonlyMap<number, readonly number[]>): number[] {
  const out: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Cumulative CPU time of the whole machine from /proc/stat, in seconds: busy (not idle or iowait) and total. */
export function hostCpuSeconds(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
    const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (line.slice(0, 4) !== 'cpu ' || t.length < 4 || t.some((n) => !Number.isFinite(n))) return null;
    const total = t.reduce((a, b) => a + b, 0);
    const idle = (t[3] ?? 0) + (t[4] ?? 0);
    const hz = clockTicksPerSecond();
    return { busy: (total - idle) / hz, total: total / hz };
  } catch {
    return null;
  }
}
