/** Figure 4: every live instance busy exchanging messages with the admin API. */
import { childCpuSeconds, type AuditEvent } from '../../core/index.js';
import { ProcessSampler, type ProcessSamples } from '../proc.js';
import { median } from '../stats.js';
import { cpuRow, MB, row, type Figure, type Row } from '../types.js';
import type { BenchContext } from './context.js';
import type { IdleSample } from './idle-footprint.js';

export interface LoadOptions {
  /** The live specialists to load. */
  ids: readonly string[];
  rounds: number;
  /** Baseline reader panes, as many as instances. */
  readers: readonly string[];
  /** The idle measurement at the same instance count. */
  idle: IdleSample | undefined;
  tmuxServerPid: number | null;
  agentPids: readonly number[];
  /** The paced phase: every instance gets a message every `periodMs` for `windowMs`. */
  paced: { periodMs: number; windowMs: number };
  /** Called just before the first send and just after the last delivery (e.g. to profile the window). */
  around?: { before: () => Promise<void>; after: () => Promise<void> };
}

export interface LoadResult {
  figure: Figure;
  supervisor: ProcessSamples;
  /** CPU of the tmux/git client processes the supervisor ran during the load, in % of one core. */
  childCpuPercent: number;
  messagesPerSecond: number;
  delivered: number;
  sent: number;
  paced: PacedResult;
}

/** The paced phase of figure 4: a steady message rate well under what the machine can carry. */
export interface PacedResult {
  supervisor: ProcessSamples;
  periodMs: number;
  messagesPerSecond: number;
  delivered: number;
  sent: number;
}

/**
 * Every instance gets one message every `periodMs`, the instances' slots spread evenly over the period, for
 * `windowMs`; the supervisor's CPU and RSS are sampled over the window.
 */
async function pacedLoad(
  ctx: BenchContext,
  ids: readonly string[],
  periodMs: number,
  windowMs: number,
): Promise<PacedResult> {
  const sampler = new ProcessSampler([ctx.org.supervisorPid]).start();
  const t0 = performance.now();
  let sent = 0;
  let delivered = 0;
  await Promise.all(
    ids.map(async (id, k) => {
      for (let at = (k * periodMs) / ids.length; at < windowMs; at += periodMs) {
        const wait = t0 + at - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        sent++;
        const res = await ctx.org.api.request<{ delivered: boolean }>(
          'POST',
          `/instances/${id}/send`,
          { text: `paced message ${sent}: please acknowledge`, timeoutS: 120 },
          150_000,
        );
        if (res.delivered) delivered++;
      }
    }),
  );
  const supervisor = sampler.stop();
  const messagesPerSecond = delivered / (supervisor.seconds || windowMs / 1000);
  ctx.progress(
    `fig 4: paced, ${delivered}/${sent} delivered at ${messagesPerSecond.toFixed(1)} msg/s, ` +
      `supervisor ${supervisor.meanCpuPercent.toFixed(1)} % CPU`,
  );
  return { supervisor, periodMs, messagesPerSecond, delivered, sent };
}

async function deliveredLatencies(ctx: BenchContext, afterSeq: number, ids: Set<string>): Promise<number[]> {
  const out: number[] = [];
  let seq = afterSeq;
  for (;;) {
    const events = await ctx.org.api.request<AuditEvent[]>('GET', `/events?after=${seq}`);
    if (events.length === 0) return out;
    for (const e of events) {
      seq = e.seq;
      if (e.kind === 'message.delivered' && e.instanceId && ids.has(e.instanceId)) out.push(e.data.latencyMs);
    }
  }
}

export async function messageLoad(ctx: BenchContext, opts: LoadOptions): Promise<LoadResult> {
  const { org } = ctx;
  const { ids, rounds } = opts;
  const seq0 = (await org.api.request<{ lastEventSeq: number }>('GET', '/status')).lastEventSeq;
  const requests0 = org.model.requests;
  await opts.around?.before();
  const childCpu0 = childCpuSeconds(org.supervisorPid) ?? 0;
  const samplers = {
    supervisor: new ProcessSampler([org.supervisorPid]).start(),
    tmux: new ProcessSampler(opts.tmuxServerPid ? [opts.tmuxServerPid] : []).start(),
    agents: new ProcessSampler(opts.agentPids).start(),
    bench: new ProcessSampler([process.pid]).start(),
  };
  const sendMs: number[] = [];
  let delivered = 0;
  const t0 = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      for (let r = 0; r < rounds; r++) {
        const start = performance.now();
        const res = await org.api.request<{ delivered: boolean }>(
          'POST',
          `/instances/${id}/send`,
          { text: `bench round ${r}: please acknowledge`, timeoutS: 120 },
          150_000,
        );
        sendMs.push(performance.now() - start);
        if (res.delivered) delivered++;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const supervisor = samplers.supervisor.stop();
  const tmux = samplers.tmux.stop();
  const agents = samplers.agents.stop();
  const bench = samplers.bench.stop();
  const childCpuPercent =
    (((childCpuSeconds(org.supervisorPid) ?? 0) - childCpu0) / supervisor.seconds) * 100;
  await opts.around?.after();
  const sent = ids.length * rounds;
  const messagesPerSecond = delivered / (wallMs / 1000);
  ctx.progress(
    `fig 4: ${delivered}/${sent} delivered in ${(wallMs / 1000).toFixed(1)} s (${messagesPerSecond.toFixed(1)} msg/s), ` +
      `supervisor ${supervisor.meanCpuPercent.toFixed(1)} % CPU`,
  );
  await org.waitIdle(ids);
  const modelRequests = org.model.requests - requests0;
  const latencies = await deliveredLatencies(ctx, seq0, new Set(ids));
  const paced = await pacedLoad(ctx, ids, opts.paced.periodMs, opts.paced.windowMs);
  await org.waitIdle(ids);

  const base = await ctx.lab.deliverRounds(opts.readers, rounds);
  const baseRate = (opts.readers.length * rounds) / (base.wallMs / 1000);
  const baseLatency = { label: 'tmux paste → reader POST', value: median(base.latenciesMs) };
  ctx.progress(`fig 4: baseline ${baseRate.toFixed(1)} lines/s, ${baseLatency.value.toFixed(0)} ms per line`);

  const idle = opts.idle?.samples;
  const n = ids.length;
  const cpuPerMessageMs =
    ((supervisor.meanCpuPercent / 100) * supervisor.seconds * 1000) / Math.max(delivered, 1);
  const rows: Row[] = [
    row('delivery latency (message.delivered latencyMs)', 'ms', latencies, baseLatency),
    row('send call at the client (POST /send → delivered)', 'ms', sendMs, baseLatency),
    row('messages delivered per second', 'msg/s', [messagesPerSecond], {
      label: 'lines typed per second',
      value: baseRate,
    }),
    cpuRow(
      'supervisor CPU during the load',
      supervisor,
      idle ? { label: `supervisor, ${n} idle`, value: idle.meanCpuPercent } : null,
    ),
    row('supervisor CPU time per delivered message', 'ms', [cpuPerMessageMs]),
    row(
      'supervisor RSS during the load',
      'MB',
      supervisor.rssBytes.map((b) => b / MB),
      idle ? { label: `supervisor, ${n} idle`, value: median(idle.rssBytes) / MB } : null,
    ),
    cpuRow(
      `supervisor CPU, paced: a message to each instance every ${paced.periodMs / 1000} s ` +
        `(${paced.messagesPerSecond.toFixed(0)} msg/s)`,
      paced.supervisor,
      idle ? { label: `supervisor, ${n} idle`, value: idle.meanCpuPercent } : null,
    ),
    row(
      'supervisor RSS, paced',
      'MB',
      paced.supervisor.rssBytes.map((b) => b / MB),
      idle ? { label: `supervisor, ${n} idle`, value: median(idle.rssBytes) / MB } : null,
    ),
    cpuRow('context: tmux server CPU', tmux),
    row("context: CPU of the supervisor's short-lived children (tmux/git clients)", '%', [childCpuPercent]),
    cpuRow(`context: all ${n} light runtimes' CPU (sum)`, agents),
    cpuRow('context: benchmark process CPU (scripted model + clients)', bench),
    row('baseline: tmux paste → reader POST', 'ms', base.latenciesMs),
  ];
  return {
    supervisor,
    childCpuPercent,
    messagesPerSecond,
    delivered,
    sent,
    paced,
    figure: {
      id: 'message-load',
      title: `4. ${n} live instances exchanging messages`,
      method:
        `Each of the ${n} live specialists gets ${rounds} messages through the admin API ` +
        '(`POST /api/instances/:id/send`), one after another per instance and all instances at once, so every ' +
        'instance always has a message in delivery or waiting for its turn to end. Each delivery starts a turn ' +
        'against the scripted model. Latency is the supervisor’s own `message.delivered` latencyMs (from the ' +
        'message being stored to the agent’s UserPromptSubmit hook with the exact text; it includes waiting ' +
        'for the previous turn to end and the 200 ms pause before Enter). CPU and RSS are sampled over the ' +
        'load window as in figure 3. Then the paced phase: for ' +
        `${opts.paced.windowMs / 1000} s every instance gets one message every ${opts.paced.periodMs / 1000} s ` +
        '(the instances’ slots spread evenly over the period), each starting a turn; a steady rate that is ' +
        'still faster than a real model answers, so every agent takes a turn every few seconds.',
      baseline:
        `The same delivery path without tmux-claude: ${n} reader panes (\`node -e\`, raw mode, POSTs each line ` +
        'on Enter) on the scratch tmux server get the same number of lines through the project’s tmux driver ' +
        '(`paste`: load-buffer, bracketed paste-buffer, 200 ms, Enter), all at once; timed until the POST ' +
        'arrives. CPU and RSS are compared with the idle figure at the same instance count.',
      rows,
      notes: [
        `${delivered} of ${sent} sends reported delivered; ${latencies.length} message.delivered events; ` +
          `${modelRequests} model requests during the load (one turn per delivered prompt; several pending ` +
          'messages for one instance are delivered as one prompt).',
        `Load window ${(wallMs / 1000).toFixed(1)} s. At ${cpuPerMessageMs.toFixed(1)} ms of supervisor CPU per ` +
          `delivered message, 10 % of one core corresponds to about ${(100 / cpuPerMessageMs).toFixed(0)} ` +
          'messages per second across all instances; this load runs as fast as the machine allows.',
        `Paced phase: ${paced.delivered} of ${paced.sent} sends reported delivered over ` +
          `${paced.supervisor.seconds.toFixed(1)} s.`,
      ],
    },
  };
}
