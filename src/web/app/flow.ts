import type uPlot from 'uplot';
import type { MessageFlowRow } from './api';

/**
 * The flow over time: deliveries sent and dead-lettered per bucket, and the median send → delivered latency of
 * those sent in it. Buckets of 1 s, wider when the rows span more than two minutes (at most ~120 points).
 */
export function flowSeries(rows: readonly MessageFlowRow[]): uPlot.AlignedData {
  if (rows.length === 0) return [[], [], [], []];
  const first = Math.min(...rows.map((m) => m.sentAt));
  const last = Math.max(...rows.map((m) => m.sentAt));
  const bucketS = Math.max(1, Math.ceil((last - first) / 1000 / 120));
  const buckets = new Map<number, { sent: number; dead: number; latencies: number[] }>();
  for (const m of rows) {
    const t = Math.floor(m.sentAt / 1000 / bucketS) * bucketS;
    const b = buckets.get(t) ?? { sent: 0, dead: 0, latencies: [] };
    b.sent++;
    if (m.state === 'dead') b.dead++;
    if (m.deliveredMs !== null) b.latencies.push(m.deliveredMs);
    buckets.set(t, b);
  }
  const ts = [...buckets.keys()].sort((a, b) => a - b);
  const median = (xs: number[]): number | null =>
    xs.length === 0 ? null : xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return [
    ts,
    ts.map((t) => buckets.get(t)!.sent),
    ts.map((t) => buckets.get(t)!.dead),
    ts.map((t) => median(buckets.get(t)!.latencies)),
  ];
}
