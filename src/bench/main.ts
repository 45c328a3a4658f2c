/**
 * `npm run bench [-- --quick] [-- --json] [-- --profile] [-- --out FILE]`: runs every benchmark on a private
 * temporary home, writes BENCHMARKS.md (or FILE), and cleans up everything it started, also on failure or
 * Ctrl-C. Progress goes to stderr; stdout carries the results (JSON with --json).
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cleanup } from './cleanup.js';
import { renderReport } from './report.js';
import { runBenchmarks } from './run.js';
import type { BenchResults } from './types.js';

const USAGE = `usage: npm run bench [-- [--quick] [--json] [--profile] [--out FILE]]
  --quick     a short run (< 2 min): fewer samples, 10 instances instead of 10/25/50
  --json      print the results as one JSON object on stdout (npm run -s keeps npm's banner off stdout)
  --profile   profile the supervisor (V8 sampling profiler) during the message load, the bus load
              and the claim load; report where time goes
  --out FILE  write the report there instead of BENCHMARKS.md at the repository root`;

interface Flags {
  quick: boolean;
  json: boolean;
  profile: boolean;
  out: string;
}

function parseFlags(args: string[]): Flags {
  const flags: Flags = {
    quick: false,
    json: false,
    profile: false,
    out: resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'BENCHMARKS.md'),
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--quick') flags.quick = true;
    else if (a === '--json') flags.json = true;
    else if (a === '--profile') flags.profile = true;
    else if (a === '--out' && args[i + 1]) flags.out = resolve(args[++i]!);
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
      process.exit(2);
    }
  }
  return flags;
}

function summaryText(r: BenchResults, out: string): string {
  const lines = [`wrote ${out} (${r.durationS.toFixed(0)} s)`, ''];
  for (const t of r.targets) {
    lines.push(`${t.met === null ? '  ?' : t.met ? ' ok' : 'NOT'}  ${t.target}: ${t.measured}`);
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const flags = parseFlags(args);
  const t0 = performance.now();
  const progress = (line: string): void => {
    process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  };
  const cleanup = new Cleanup(progress);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: cleaning up`);
    void cleanup.runAll().finally(() => {
      progress('clean');
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let results: BenchResults | undefined;
  try {
    results = await runBenchmarks(
      {
        quick: flags.quick,
        profile: flags.profile,
        command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
        progress,
      },
      cleanup,
    );
  } catch (err) {
    progress(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    progress('cleaning up');
    await cleanup.runAll();
    progress('clean');
  }
  if (!results) return 1;
  writeFileSync(flags.out, renderReport(results));
  const text = flags.json ? JSON.stringify(results, null, 2) : summaryText(results, flags.out);
  await new Promise<void>((r) => process.stdout.write(`${text}\n`, () => r()));
  if (flags.json) progress(`wrote ${flags.out}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
