/** Figure 5: what tmux-claude adds per instance, in processes and memory. */
import { childrenIndex, cpuSeconds, descendantsOf, parentTable, rssBytes } from '../../core/index.js';
import type { Spawned } from '../bench-org.js';
import { commandLine } from '../proc.js';
import { median } from '../stats.js';
import { MB, row, type Figure } from '../types.js';
import type { BenchContext } from './context.js';

export interface PerInstanceResult {
  figure: Figure;
  /** The most processes any pane had besides its agent. */
  maxExtraProcesses: number;
  agentPids: number[];
}

export async function perInstance(
  ctx: BenchContext,
  spawned: readonly Spawned[],
  readers: readonly string[],
): Promise<PerInstanceResult> {
  const children = childrenIndex(parentTable());
  const panes = ctx.org.panePids();
  const extras: number[] = [];
  const agentRss: number[] = [];
  const agentCpuMs: number[] = [];
  const agentPids: number[] = [];
  const notes: string[] = [];
  for (const s of spawned) {
    const pid = panes.get(s.tmuxSession);
    if (pid === undefined) {
      notes.push(`${s.id}: no pane found for session ${s.tmuxSession}`);
      continue;
    }
    const cmd = commandLine(pid);
    if (!cmd.includes('lite/main')) notes.push(`${s.id}: the pane's process is \`${cmd}\`, not the runtime`);
    agentPids.push(pid);
    const extra = descendantsOf(pid, children);
    extras.push(extra.length);
    if (extra.length > 0 && notes.length < 5) {
      notes.push(`${s.id}: extra processes: ${extra.map((p) => `${p} ${commandLine(p)}`).join('; ')}`);
    }
    agentRss.push((rssBytes(pid) ?? Number.NaN) / MB);
    agentCpuMs.push((cpuSeconds(pid) ?? Number.NaN) * 1000);
  }
  const tmuxPid = ctx.org.tmuxServerPid();
  // The run's Executive is a pane on the same server.
  const sessions = panes.size;
  const tmuxPerInstance = tmuxPid ? (rssBytes(tmuxPid) ?? Number.NaN) / MB / sessions : Number.NaN;

  const readerPids = await ctx.lab.readerPids();
  const readerExtras = readerPids.map((p) => descendantsOf(p, children).length);
  const readerRss = readerPids.map((p) => (rssBytes(p) ?? Number.NaN) / MB);
  const readerCpuMs = readerPids.map((p) => (cpuSeconds(p) ?? Number.NaN) * 1000);
  const labTmux = ctx.lab.tmuxServerPid();
  const labPerPane = labTmux ? (rssBytes(labTmux) ?? Number.NaN) / MB / readers.length : Number.NaN;
  ctx.progress(
    `fig 5: extra processes per pane max ${Math.max(...extras)}, runtime RSS ${median(agentRss).toFixed(0)} MB, ` +
      `tmux ${tmuxPerInstance.toFixed(2)} MB per session`,
  );
  return {
    maxExtraProcesses: Math.max(...extras),
    agentPids,
    figure: {
      id: 'per-instance',
      title: '5. What tmux-claude adds per instance',
      method:
        `With ${spawned.length} idle specialists live: for every pane, the processes below the pane's process ` +
        "(from /proc ppid links; tmux execs the runtime directly, so the pane's process is the agent), the " +
        `agent's RSS, and the tmux server's RSS divided by its ${sessions} sessions (the specialists and the ` +
        'Executive).',
      baseline:
        `${readers.length} baseline reader panes (\`node -e\`, a raw-mode stdin reader that POSTs lines) on the ` +
        'scratch tmux server: their process trees, their RSS, and that tmux server’s RSS per pane.',
      rows: [
        row('processes per pane besides the agent', 'count', extras, {
          label: 'reader pane',
          value: median(readerExtras),
        }),
        row('light runtime RSS', 'MB', agentRss, { label: 'bare node reader', value: median(readerRss) }),
        row('light runtime CPU time used so far (start-up, then idle)', 'ms', agentCpuMs, {
          label: 'bare node reader',
          value: median(readerCpuMs),
        }),
        row('tmux server RSS per session', 'MB', [tmuxPerInstance], {
          label: 'scratch tmux server per pane',
          value: labPerPane,
        }),
      ],
      notes: [
        'The agent talks HTTP to the supervisor (MCP over Streamable HTTP, hooks as POSTs): no MCP proxy or ' +
          'hook helper process runs beside it. The ratio of process counts is n/a when both are 0.',
        ...notes,
      ],
    },
  };
}
