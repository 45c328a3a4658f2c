/** Small formatting helpers shared by the panels. */
import type { BudgetView } from './api';

export function fmtTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtDateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} ${fmtTime(ms)}`;
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function fmtPercent(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '–' : `${Math.round(n)}%`;
}

export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** CSS class suffix of a state (instance, task or delivery). */
export function stateClass(state: string): string {
  return `st-${state.replace(/[^a-z_-]/gi, '')}`;
}

/** When a blocked instance is resumed: "until 14:02:05 (in 3m20s)", or "resuming" once the time has passed. */
export function fmtUntil(at: number, now = Date.now()): string {
  return at <= now ? 'resuming' : `until ${fmtTime(at)} (in ${fmtMs(at - now)})`;
}

/** One budget resource: what was used of what is allowed, and how close it is to the limit. */
export interface BudgetMeter {
  label: string;
  used: string;
  limit: string | null;
  /** Share of the limit used (0–100+), null without a limit. */
  percent: number | null;
  level: 'ok' | 'warn' | 'bad';
}

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');

/** The meters of a budget, one per resource that has a limit or has been used. */
export function budgetMeters(b: Pick<BudgetView, 'limits' | 'used'>): BudgetMeter[] {
  const rows: Array<[string, number, number | undefined, (v: number) => string]> = [
    ['instances', b.used.instances, b.limits.maxInstances, n0],
    ['depth', b.used.depth, b.limits.maxDepth, n0],
    ['minutes', b.used.minutes, b.limits.maxMinutes, (v) => v.toFixed(1)],
    ['tokens', b.used.tokens, b.limits.maxTokens, n0],
    ['cost', b.used.cost, b.limits.maxCost, (v) => `$${v.toFixed(2)}`],
  ];
  return rows
    .filter(([, used, limit]) => limit !== undefined || used > 0)
    .map(([label, used, limit, fmt]) => {
      const percent = limit === undefined ? null : (used / limit) * 100;
      return {
        label,
        used: fmt(used),
        limit: limit === undefined ? null : fmt(limit),
        percent,
        level: percent === null || percent < 80 ? 'ok' : percent < 100 ? 'warn' : 'bad',
      };
    });
}
