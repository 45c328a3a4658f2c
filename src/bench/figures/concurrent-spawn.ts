/** Figure 2: N instances spawned at once. */
import type { Spawned } from '../bench-org.js';
import type { ManyResult } from '../baseline.js';
import { median } from '../stats.js';
import { row, type Figure, type Row } from '../types.js';
import type { BenchContext } from './context.js';

export interface ConcurrentSpawn {
  n: number;
  spawned: Spawned[];
  failures: string[];
  wallMs: number;
  /** Per instance: from the common start until its spawn call returned. */
  perInstanceMs: number[];
  baseline: ManyResult;
  /** Further spawns (a few at a time) that replaced failed ones, so later figures have N live instances. */
  topUp: { spawns: number; failures: string[] };
}

/** Spawns n specialists with n concurrent MCP calls, after the baseline's n at once. */
export async function spawnAtOnce(ctx: BenchContext, n: number): Promise<ConcurrentSpawn> {
  const baseline = await ctx.lab.launchMany(n);
  ctx.progress(`fig 2: baseline ${n} at once: ${baseline.wallMs.toFixed(0)} ms`);
  const t0 = performance.now();
  const settled = await Promise.allSettled(
    Array.from({ length: n }, async (_, i) => {
      const s = await ctx.org.spawnSpecialist(`batch${n}-${i}`);
      return { spawned: s, atMs: performance.now() - t0 };
    }),
  );
  const wallMs = performance.now() - t0;
  const spawned: Spawned[] = [];
  const perInstanceMs: number[] = [];
  const failures: string[] = [];
  for (const r of settled) {
    if (r.status === 'fulfilled') {
      spawned.push(r.value.spawned);
      perInstanceMs.push(r.value.atMs);
    } else failures.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
  }
  ctx.progress(
    `fig 2: ${n} at once: all ready after ${wallMs.toFixed(0)} ms` +
      (failures.length ? `, ${failures.length} failed: ${failures[0]}` : ''),
  );
  return { n, spawned, failures, wallMs, perInstanceMs, baseline, topUp: { spawns: 0, failures: [] } };
}

const TOP_UP_BATCH = 5;

/**
 * Replaces the batch's failed spawns, TOP_UP_BATCH at a time, until n are live (or too many attempts failed),
 * so that the idle, per-instance and load figures measure the instance count they are named after.
 */
export async function topUp(ctx: BenchContext, batch: ConcurrentSpawn): Promise<void> {
  let attempt = 0;
  while (batch.spawned.length < batch.n && batch.topUp.spawns < batch.n * 2) {
    const count = Math.min(TOP_UP_BATCH, batch.n - batch.spawned.length);
    const settled = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => ctx.org.spawnSpecialist(`topup${batch.n}-${attempt}-${i}`)),
    );
    attempt++;
    batch.topUp.spawns += count;
    for (const r of settled) {
      if (r.status === 'fulfilled') batch.spawned.push(r.value);
      else batch.topUp.failures.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
    }
  }
  if (batch.topUp.spawns > 0) {
    ctx.progress(
      `fig 2: topped up N=${batch.n} with ${batch.topUp.spawns} spawns (${batch.topUp.failures.length} failed): ` +
        `${batch.spawned.length} live`,
    );
  }
}

/** Failure messages grouped by cause (instance ids and names masked). */
function reasons(failures: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of failures) {
    const reason = (f.split('\n')[0] ?? f)
      .replace(/^spawn \S+ failed: /, '')
      .replace(/\b(spec|tc-spec)-[a-z0-9]+/g, '$1-…')
      .replace(/\/tmp\/tc-bench-[^/]+/g, '<bench>');
    out.set(reason, (out.get(reason) ?? 0) + 1);
  }
  return out;
}

export function concurrentSpawnFigure(results: readonly ConcurrentSpawn[]): Figure {
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const r of results) {
    rows.push(
      row(`N=${r.n}: wall time until every spawn call returned`, 'ms', [r.wallMs], {
        label: `${r.n} × tmux + node at once`,
        value: r.baseline.wallMs,
      }),
      row(`N=${r.n}: per instance, start → ready`, 'ms', r.perInstanceMs, {
        label: 'per baseline process',
        value: median(r.baseline.perInstanceMs),
      }),
    );
    rows.push(row(`N=${r.n}: failed spawns`, 'count', [r.failures.length]));
    for (const [reason, count] of reasons(r.failures)) {
      notes.push(`N=${r.n}: ${count} of ${r.n} spawns failed: ${reason}`);
    }
    if (r.topUp.spawns > 0) {
      notes.push(
        `N=${r.n}: the failed spawns were replaced ${TOP_UP_BATCH} at a time before figures 3–5 ` +
          `(${r.topUp.spawns} further spawns, ${r.topUp.failures.length} of them failed; ` +
          `${r.spawned.length} live).`,
      );
    }
    for (const [reason, count] of reasons(r.topUp.failures)) {
      notes.push(`N=${r.n}: ${count} replacement spawns failed: ${reason}`);
    }
  }
  return {
    id: 'concurrent-spawn',
    title: '2. N instances spawned at once',
    method:
      'N concurrent `spawn` calls over one MCP client (each is its own HTTP request). Wall time runs from the ' +
      'common start until the last call returned (ready, or failed); the per-instance figures are each ' +
      'successful call’s time from the common start to its answer (ready).',
    baseline: 'N of the figure-1 baseline (tmux session + `node -e` POST) started at once.',
    rows,
    notes,
  };
}
