/** Figure 3: supervisor CPU and RSS with 0, 10, 25, 50 idle instances. */
import { spawn } from 'node:child_process';
import { rssBytes } from '../../core/index.js';
import { sampleFor, type ProcessSamples } from '../proc.js';
import { median } from '../stats.js';
import { cpuRow, MB, row, type Figure, type Row } from '../types.js';
import { sleep, type BenchContext } from './context.js';

export interface IdleSample {
  instances: number;
  samples: ProcessSamples;
}

const SETTLE_MS = 2_000;

/** Samples the supervisor for `windowMs` in 1 s sub-windows once the instances have settled. */
export async function measureIdle(
  ctx: BenchContext,
  instances: number,
  windowMs: number,
): Promise<IdleSample> {
  await sleep(SETTLE_MS);
  const samples = await sampleFor([ctx.org.supervisorPid], windowMs, Math.min(1_000, windowMs));
  ctx.progress(
    `fig 3: ${instances} idle: supervisor ${samples.meanCpuPercent.toFixed(1)} % CPU, ` +
      `${(Math.max(...samples.rssBytes) / MB).toFixed(0)} MB RSS`,
  );
  return { instances, samples };
}

/** RSS of a bare Node process serving HTTP on 127.0.0.1: the floor of any Node daemon. */
export async function bareNodeRss(): Promise<number> {
  const child = spawn(
    process.execPath,
    ['-e', `require('http').createServer((q,r)=>r.end()).listen(0,'127.0.0.1',()=>console.log('up'))`],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`bare node exited with ${code}`)));
    });
    await sleep(500);
    return rssBytes(child.pid!) ?? Number.NaN;
  } finally {
    child.kill('SIGKILL');
  }
}

/** What each further idle instance costs the supervisor, from the smallest and largest N measured. */
function marginalCost(samples: readonly IdleSample[]): string[] {
  const lo = samples[0];
  const hi = samples.at(-1);
  if (!lo || !hi || hi.instances === lo.instances) return [];
  const n = hi.instances - lo.instances;
  const cpu = (hi.samples.meanCpuPercent - lo.samples.meanCpuPercent) / n;
  const rss = (median(hi.samples.rssBytes) - median(lo.samples.rssBytes)) / MB / n;
  return [
    `Marginal cost per idle instance (${lo.instances} → ${hi.instances}): ${cpu.toFixed(3)} % of a core and ` +
      `${rss.toFixed(2)} MB of supervisor RSS.`,
  ];
}

export function idleFigure(samples: readonly IdleSample[], bareRss: number): Figure {
  const zero = samples.find((s) => s.instances === 0);
  const cpuBase = zero ? { label: 'supervisor, 0 instances', value: zero.samples.meanCpuPercent } : null;
  const rssBase = { label: 'bare Node HTTP server', value: bareRss / MB };
  const rows: Row[] = [];
  for (const s of samples) {
    rows.push(cpuRow(`${s.instances} idle: supervisor CPU`, s.samples, cpuBase));
  }
  for (const s of samples) {
    rows.push(
      row(
        `${s.instances} idle: supervisor RSS`,
        'MB',
        s.samples.rssBytes.map((b) => b / MB),
        rssBase,
      ),
    );
  }
  const window = samples[0]?.samples.seconds ?? 0;
  return {
    id: 'idle-footprint',
    title: '3. Supervisor CPU and memory with idle instances',
    method:
      `CPU from /proc/<pid>/stat (utime + stime) of the supervisor over a ${window.toFixed(0)} s window in 1 s ` +
      'sub-windows, in % of one core; the median and p95 columns are over sub-windows, the mean column is the ' +
      'whole window. RSS from /proc/<pid>/status (VmRSS) at the end of each sub-window. "N idle" means N ' +
      `specialists that have reported ready and have nothing to do, plus the run's idle Executive; sampling ` +
      `starts ${SETTLE_MS / 1000} s after the last spawn returned.`,
    baseline:
      'CPU: the same supervisor with 0 specialists (the periodic sweep and nothing else). RSS: a bare ' +
      '`node -e` HTTP server on 127.0.0.1, measured in the same run — the floor of any Node daemon.',
    rows,
    notes: marginalCost(samples),
  };
}
