/** Figure 1: spawn-to-ready latency of one light-runtime instance, one at a time. */
import { median } from '../stats.js';
import { row, type Figure } from '../types.js';
import type { BenchContext } from './context.js';

export interface SpawnLatencyResult {
  figure: Figure;
  samplesMs: number[];
  baselineMs: number[];
}

export async function spawnLatency(ctx: BenchContext, k: number): Promise<SpawnLatencyResult> {
  const samplesMs: number[] = [];
  const baselineMs: number[] = [];
  const ids: string[] = [];
  const failures: string[] = [];
  // Alternate the two, so drift in machine load during the run hits both alike.
  for (let i = 0; i < k; i++) {
    baselineMs.push(await ctx.lab.launchOnce());
    try {
      const s = await ctx.org.spawnSpecialist(`seq-${i}`);
      samplesMs.push(s.ms);
      ids.push(s.id);
      ctx.progress(
        `fig 1: spawn ${i + 1}/${k}: ${s.ms.toFixed(0)} ms (baseline ${baselineMs.at(-1)!.toFixed(0)} ms)`,
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      failures.push(message);
      ctx.progress(`fig 1: spawn ${i + 1}/${k} FAILED: ${message.split('\n')[0]}`);
    }
  }
  if (samplesMs.length === 0) throw new Error(`every spawn failed; first error: ${failures[0]}`);
  await ctx.org.terminate(ids);
  const base = { label: 'tmux + node POST', value: median(baselineMs) };
  return {
    samplesMs,
    baselineMs,
    figure: {
      id: 'spawn-latency',
      title: '1. Spawn-to-ready latency, one instance at a time',
      method:
        `The benchmark, acting as the Executive over MCP, calls \`spawn {role: "specialist", name}\` ${k} times ` +
        'in sequence; each call returns when the new light-runtime instance has reported ready (its SessionStart ' +
        'hook). Measured at the caller, so it includes the git worktree and branch, the tmux session, the ' +
        'runtime starting and connecting to /mcp, and the store writes.',
      baseline:
        '`node -e "<POST to a local HTTP server and exit>"` started in a new tmux session on a scratch private ' +
        "socket through the project's tmux driver, timed until the server has the request: the same tmux + " +
        'Node + HTTP machinery without tmux-claude. Baseline and spawn samples alternate.',
      rows: [
        row('spawn → ready', 'ms', samplesMs, base),
        row('baseline: tmux + node POST', 'ms', baselineMs),
        row('failed spawns', 'count', [failures.length]),
      ],
      notes: failures.map(
        (f, i) => `Failed spawn ${i + 1} of ${failures.length} (not in the samples): ${f.split('\n')[0]}`,
      ),
    },
  };
}
