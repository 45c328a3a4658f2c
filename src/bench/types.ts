/** The shape of benchmark results: what figures produce, what the report renders and --json prints. */
import type { Machine } from './environment.js';
import type { ProfileSummary } from './cpu-profile.js';
import { ratio, summarize } from './stats.js';

export type Unit = 'ms' | 's' | '%' | 'MB' | 'msg/s' | 'rows/s' | 'claims/s' | 'count';

/** One measured quantity with its in-run baseline. */
export interface Row {
  label: string;
  unit: Unit;
  n: number;
  median: number;
  p95: number | null;
  /** Only where the sample is large enough (n ≥ 100) for it to mean something. */
  p99: number | null;
  mean: number | null;
  baseline: { label: string; value: number } | null;
  /** median / baseline.value. */
  ratio: number | null;
}

export interface Figure {
  id: string;
  title: string;
  /** How the figure was measured. */
  method: string;
  /** What the baseline is and why it is the right comparison. */
  baseline: string;
  rows: Row[];
  notes: string[];
}

export interface TargetCheck {
  target: string;
  measured: string;
  /** null when the run did not measure it (e.g. a quick run has no 50-instance load). */
  met: boolean | null;
}

export interface BenchResults {
  quick: boolean;
  command: string;
  startedAt: string;
  durationS: number;
  machine: Machine;
  figures: Figure[];
  targets: TargetCheck[];
  /** With --profile: the supervisor's CPU profile of each profiled window. */
  profiles: ProfileSummary[];
}

/** A row from raw samples; the baseline is compared with the sample's median. */
export function row(
  label: string,
  unit: Unit,
  values: readonly number[],
  baseline: { label: string; value: number } | null = null,
): Row {
  const s = summarize(values);
  return {
    label,
    unit,
    n: s.n,
    median: s.median,
    p95: s.n >= 2 ? s.p95 : null,
    p99: s.n >= 100 ? s.p99 : null,
    mean: s.n >= 2 ? s.mean : null,
    baseline,
    ratio: baseline ? ratio(s.median, baseline.value) : null,
  };
}

/**
 * A CPU row from sub-window samples: the mean column is the whole window, and the ratio compares that mean
 * (10 ms clock ticks make 1 s sub-windows too coarse to compare at low load).
 */
export function cpuRow(
  label: string,
  samples: { cpuPercent: readonly number[]; meanCpuPercent: number },
  baseline: { label: string; value: number } | null = null,
): Row {
  const r = row(label, '%', samples.cpuPercent, baseline);
  r.mean = samples.meanCpuPercent;
  r.ratio = baseline ? ratio(samples.meanCpuPercent, baseline.value) : null;
  return r;
}

export const MB = 1024 * 1024;
