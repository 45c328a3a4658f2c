/** BENCHMARKS.md from the results of one run. */
import type { ProfileSummary } from './cpu-profile.js';
import type { BenchResults, Figure, Row, Unit } from './types.js';

function digits(v: number): number {
  const a = Math.abs(v);
  return a === 0 || a >= 100 ? 0 : a >= 1 ? 1 : 2;
}

export function formatValue(v: number | null, unit: Unit): string {
  if (v === null || Number.isNaN(v)) return '—';
  if (unit === 'count') return Number.isInteger(v) ? String(v) : v.toFixed(1);
  // Sub-millisecond times (SQLite inserts) read better in µs.
  if (unit === 'ms' && v !== 0 && Math.abs(v) < 1) {
    const us = v * 1000;
    return `${us.toFixed(Math.abs(us) >= 10 ? 0 : 1)} µs`;
  }
  const d = unit === 'ms' ? (Math.abs(v) >= 10 ? 0 : 1) : digits(v);
  return `${v.toFixed(d)} ${unit}`;
}

function formatRatio(r: number | null): string {
  if (r === null) return 'n/a';
  // Two significant digits below 0.1 (a rate far under its floor would otherwise read 0.00×).
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r >= 0.1 || r === 0 ? r.toFixed(2) : r.toPrecision(2)}×`;
}

function cell(s: string): string {
  return s.replaceAll('|', '\\|');
}

function rowLine(r: Row): string {
  const base = r.baseline ? `${formatValue(r.baseline.value, r.unit)} (${r.baseline.label})` : '—';
  return `| ${cell(r.label)} | ${r.n} | ${formatValue(r.median, r.unit)} | ${formatValue(r.p95, r.unit)} | ${formatValue(r.p99, r.unit)} | ${formatValue(r.mean, r.unit)} | ${cell(base)} | ${formatRatio(r.ratio)} |`;
}

function figure(f: Figure): string {
  return [
    `### ${f.title}`,
    '',
    `**How:** ${f.method}`,
    '',
    `**Baseline:** ${f.baseline}`,
    '',
    '| measure | n | median | p95 | p99 | mean | baseline (same run) | ratio |',
    '|---|---:|---:|---:|---:|---:|---|---:|',
    ...f.rows.map(rowLine),
    ...(f.notes.length ? ['', ...f.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}

function profileSection(p: ProfileSummary): string {
  const list = (entries: ProfileSummary['byArea']): string[] => [
    '| where | ms | share |',
    '|---|---:|---:|',
    ...entries.map((e) => `| ${cell(e.name)} | ${e.ms.toFixed(0)} | ${e.share.toFixed(1)} % |`),
  ];
  return [
    `## Supervisor CPU profile: ${p.window}`,
    '',
    `V8 sampling profile of the supervisor's main thread during ${p.window} (${p.sampledMs.toFixed(0)} ms ` +
      'sampled). The sampler runs on the wall clock: time inside a native call such as `spawn` (fork, then ' +
      'waiting for the child to exec) counts even while the thread is blocked rather than computing, and ' +
      '`(idle)` is time spent waiting for events.',
    '',
    '**Self time by area**',
    '',
    ...list(p.byArea),
    '',
    '**Functions with the most self time**',
    '',
    ...list(p.topSelf),
    '',
    '**tmux-claude functions by inclusive time**',
    '',
    ...list(p.topProjectInclusive),
    '',
  ].join('\n');
}

export function renderReport(r: BenchResults): string {
  const m = r.machine;
  const met = (v: boolean | null): string => (v === null ? 'not measured' : v ? '**met**' : '**not met**');
  return [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (src/bench); every run overwrites this file. One process tree on a private',
    'temporary `TMUX_CLAUDE_HOME`: its own supervisor, tmux server and SQLite store, the light runtime and the',
    'scripted model server (in the benchmark process). Everything it starts is stopped at the end.',
    '',
    '**Absolute times are noisy** (this is a shared, small machine, and the runtimes, the supervisor, tmux and',
    'the model compete for the same cores). **The ratio to the in-run baseline is what to compare over time**:',
    'each baseline is measured in the same run, on the same machine, with the same machinery minus tmux-claude,',
    'so a change in a ratio is a change in tmux-claude, not in the weather.',
    '',
    '`npm run bench -- --quick` is a short run (fewer samples, 10 instances); `--json` prints the results on',
    'stdout; `--profile` adds V8 CPU profiles of the supervisor during the message load, the bus load and the',
    'claim load.',
    '',
    '## Run',
    '',
    '| | |',
    '|---|---|',
    `| command | \`${r.command}\`${r.quick ? ' (quick: fewer samples and instances)' : ''} |`,
    `| date | ${r.startedAt} |`,
    `| duration | ${r.durationS.toFixed(0)} s |`,
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| OS | ${m.os} |`,
    `| CPU | ${m.cpuModel}, ${m.cores} cores |`,
    `| memory | ${m.memoryGiB} GiB |`,
    `| Node | ${m.node} |`,
    `| tmux | ${m.tmux} |`,
    `| git | ${m.git} |`,
    `| SQLite | ${m.sqlite} (better-sqlite3) |`,
    '',
    '## Targets (issue #10)',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...r.targets.map((t) => `| ${cell(t.target)} | ${cell(t.measured)} | ${met(t.met)} |`),
    '',
    '## Figures',
    '',
    'Columns: median and p95 (p99 only from 100 samples up) over the samples of the row; for CPU rows the',
    'samples are 1 s sub-windows and **mean** is the whole window. The ratio is the median divided by the',
    'baseline value; for CPU rows it is the window mean divided by the baseline.',
    '',
    ...r.figures.map(figure),
    ...r.profiles.map(profileSection),
  ].join('\n');
}
