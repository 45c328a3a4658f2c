/** Order statistics for benchmark samples. Pure functions; inputs are never mutated. */

/** Summary of a sample: quantiles by linear interpolation between closest ranks (numpy's default). */
export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p95: number;
  p99: number;
}

/** The q-quantile (0 ≤ q ≤ 1) of `values`; NaN for an empty sample. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(Math.max(q, 0), 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return values.reduce((s, v) => s + v, 0) / values.length;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    // Not Math.min(...values): a spread of some 100,000 samples overflows the call stack.
    min: values.length ? values.reduce((m, v) => (v < m ? v : m)) : Number.NaN,
    max: values.length ? values.reduce((m, v) => (v > m ? v : m)) : Number.NaN,
    mean: mean(values),
    median: quantile(values, 0.5),
    p95: quantile(values, 0.95),
    p99: quantile(values, 0.99),
  };
}

/** a / b, or null when b is zero, negative or not a number (a ratio to nothing means nothing). */
export function ratio(a: number, b: number): number | null {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}
