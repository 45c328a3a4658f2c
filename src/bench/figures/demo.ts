/** Figure 6: the demo organisation (1 Executive → 2 Managers → 4 Specialists), end to end. */
import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { runDemo, type DemoSummary } from '../../demo/index.js';
import { row, type Figure } from '../types.js';
import type { BenchContext } from './context.js';

interface ServerMessage {
  request: IncomingMessage;
  server: Server;
}

/**
 * Times the requests one in-process HTTP server answers, from the request's arrival to the end of its
 * response, through Node's built-in http diagnostics channels (no change to the server).
 */
class ServerRequestTimer {
  private port: number | null = null;
  private readonly open = new WeakMap<IncomingMessage, number>();
  readonly intervals: Array<[number, number]> = [];
  private readonly onStart = (m: unknown): void => {
    const { request, server } = m as ServerMessage;
    if (this.port !== null && (server.address() as AddressInfo | null)?.port === this.port) {
      this.open.set(request, performance.now());
    }
  };
  private readonly onFinish = (m: unknown): void => {
    const { request } = m as ServerMessage;
    const start = this.open.get(request);
    if (start !== undefined && request.url?.startsWith('/v1/messages')) {
      this.intervals.push([start, performance.now()]);
    }
  };

  constructor() {
    diagnostics.subscribe('http.server.request.start', this.onStart);
    diagnostics.subscribe('http.server.response.finish', this.onFinish);
  }

  watch(port: number): void {
    this.port = port;
  }

  close(): void {
    diagnostics.unsubscribe('http.server.request.start', this.onStart);
    diagnostics.unsubscribe('http.server.response.finish', this.onFinish);
  }

  /** Time during which at least one request was open (the union of the intervals). */
  busyMs(): number {
    const sorted = [...this.intervals].sort((a, b) => a[0] - b[0]);
    let total = 0;
    let end = -Infinity;
    for (const [s, e] of sorted) {
      if (s > end) total += e - s;
      else if (e > end) total += e - end;
      end = Math.max(end, e);
    }
    return total;
  }
}

interface DemoRun {
  wallS: number;
  summary: DemoSummary;
  modelRequests: number;
  modelBusyS: number;
  modelSumS: number;
}

async function oneRun(ctx: BenchContext, i: number): Promise<DemoRun> {
  const timer = new ServerRequestTimer();
  let repo: string | undefined;
  const t0 = performance.now();
  try {
    const summary = await runDemo({
      api: ctx.org.api,
      keep: false,
      timeoutMs: 300_000,
      progress: (line) => {
        const model = /^scripted model: (http:\/\/\S+)$/.exec(line);
        if (model?.[1]) timer.watch(Number(new URL(model[1]).port));
        const sample = /^sample repository: (.+)$/.exec(line);
        if (sample?.[1]) repo = sample[1];
      },
    });
    const wallS = (performance.now() - t0) / 1000;
    const run: DemoRun = {
      wallS,
      summary,
      modelRequests: timer.intervals.length,
      modelBusyS: timer.busyMs() / 1000,
      modelSumS: timer.intervals.reduce((s, [a, b]) => s + b - a, 0) / 1000,
    };
    ctx.progress(
      `fig 6: demo ${i + 1}: ${wallS.toFixed(1)} s, ${summary.instances.length} instances, ` +
        `${run.modelRequests} model requests, model busy ${run.modelBusyS.toFixed(2)} s`,
    );
    return run;
  } finally {
    timer.close();
    if (repo) await rm(dirname(repo), { recursive: true, force: true });
  }
}

export async function demoFigure(
  ctx: BenchContext,
  runs: number,
  spawnBaselineMs: number,
): Promise<{ figure: Figure; wallS: number[] }> {
  const results: DemoRun[] = [];
  for (let i = 0; i < runs; i++) results.push(await oneRun(ctx, i));
  const wallS = results.map((r) => r.wallS);
  const notes = results.map(
    (r, i) =>
      `Run ${i + 1}: ${r.summary.instances.length} instances, ${r.summary.messages} messages, ` +
      `${r.summary.mergedCommits} commits merged, ${r.summary.specialistBranches.filter((b) => b.merged).length}/` +
      `${r.summary.specialistBranches.length} specialist branches on main, model requests ${r.modelRequests} ` +
      `(the server's own count: ${r.summary.modelRequests}), summed request time ${r.modelSumS.toFixed(2)} s.`,
  );
  return {
    wallS,
    figure: {
      id: 'demo',
      title: '6. The demo organisation end to end',
      method:
        '`runDemo` from src/demo through an ApiClient of the bench supervisor (what `tmux-claude demo` does): ' +
        'a sample repository, its own scripted model server, 1 Executive → 2 Managers → 4 Specialists on the ' +
        'light runtime, until every specialist commit is on main and the organisation is stopped. The model’s ' +
        'share is measured without touching the server, through Node’s `http.server.request.start` / ' +
        '`http.server.response.finish` diagnostics channels in this process: the time at least one model ' +
        'request was open (request arrival → end of the streamed response), divided by the wall time.',
      baseline:
        'The figure-1 baseline (one tmux session + `node -e` POST) in seconds: the demo wall time in units of ' +
        'the bare machinery’s start-up cost, which normalises the machine’s speed.',
      rows: [
        row('demo wall time', 's', wallS, { label: 'tmux + node POST', value: spawnBaselineMs / 1000 }),
        row(
          'model busy time (union of open requests)',
          's',
          results.map((r) => r.modelBusyS),
        ),
        row(
          'model share of wall time',
          '%',
          results.map((r) => (r.modelBusyS / r.wallS) * 100),
        ),
        row(
          'model requests',
          'count',
          results.map((r) => r.modelRequests),
        ),
      ],
      notes,
    },
  };
}
