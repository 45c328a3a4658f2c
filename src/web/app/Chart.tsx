import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtBytes, fmtMs, fmtPercent } from './format';

export const PALETTE = [
  '#4fc3f7',
  '#ffb74d',
  '#81c784',
  '#e57373',
  '#ba68c8',
  '#fff176',
  '#4db6ac',
  '#f06292',
  '#a1887f',
  '#90a4ae',
];

export type Unit = 'percent' | 'bytes' | 'count' | 'ms';

export interface ChartSeries {
  label: string;
  /** The unit of this series' axis; a second unit gets a second axis on the right. */
  unit: Unit;
  color?: string;
}

const FORMAT: Record<Unit, (v: number) => string> = {
  percent: fmtPercent,
  bytes: fmtBytes,
  count: (v) => String(Math.round(v)),
  ms: fmtMs,
};
/** The smallest top of each unit's axis, so a flat series does not fill the chart. */
const MIN_TOP: Record<Unit, number> = { percent: 5, bytes: 1024 * 1024, count: 1, ms: 10 };

const fmt = (unit: Unit) => (v: number | null | undefined) =>
  v === null || v === undefined ? '–' : FORMAT[unit](v);

/** Aligns several (ts, value) series on the union of their timestamps, as uPlot wants its data. */
export function align(series: { ts: number[]; values: (number | null)[] }[]): uPlot.AlignedData {
  const all = new Set<number>();
  for (const s of series) for (const t of s.ts) all.add(t);
  const xs = [...all].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const ys = series.map((s) => {
    const col: (number | null)[] = new Array<number | null>(xs.length).fill(null);
    s.ts.forEach((t, i) => {
      col[index.get(t)!] = s.values[i] ?? null;
    });
    return col;
  });
  return [xs, ...ys];
}

/** A uPlot time-series chart that follows its container's width and takes new data without re-creating. */
export function Chart(props: {
  title: string;
  series: ChartSeries[];
  data: uPlot.AlignedData;
  height?: number;
  testid?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = props.series.map((s) => `${s.label}:${s.unit}`).join('|');
  const height = props.height ?? 170;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const units = [...new Set(props.series.map((s) => s.unit))];
    const axisColor = '#8b93a7';
    const grid = { stroke: '#262c38', width: 1 };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { live: true },
      cursor: { points: { size: 5 } },
      scales: Object.fromEntries(
        units.map((u) => [
          u,
          {
            auto: true,
            range: (_u: uPlot, _min: number, max: number) =>
              [0, Math.max(max * 1.1, MIN_TOP[u])] as uPlot.Range.MinMax,
          },
        ]),
      ),
      axes: [
        { stroke: axisColor, grid, ticks: grid },
        ...units.map((u, i) => ({
          scale: u,
          side: i === 0 ? 3 : 1,
          stroke: axisColor,
          grid: i === 0 ? grid : { show: false },
          ticks: grid,
          size: 64,
          values: (_u: uPlot, vals: number[]) => vals.map((v) => fmt(u)(v)),
        })),
      ] as uPlot.Axis[],
      series: [
        {},
        ...props.series.map((s, i) => ({
          label: s.label,
          scale: s.unit,
          stroke: s.color ?? PALETTE[i % PALETTE.length],
          width: 1.5,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => fmt(s.unit)(v),
        })),
      ],
    };
    const u = new uPlot(opts, props.data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Re-created only when the set of series changes; data updates go through setData below.
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  return (
    <div class="chart" data-testid={props.testid}>
      <div class="chart-title">{props.title}</div>
      <div ref={box} class="chart-box" />
    </div>
  );
}
