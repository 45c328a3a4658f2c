/**
 * Figure 10: the dashboard in real headless Chromium with many live instances and ≥ 10,000 messages in the
 * store — page load until the hierarchy and the message flow are on screen, and the latency of a live update
 * (a message sent by an agent until its row is on screen), each beside the bare data path measured in the
 * same run (the JSON the page needs fetched by plain HTTP; the same send seen on a bare SSE client).
 */
import type { Browser, Page } from 'playwright-core';
import type { AuditEvent } from '../../core/index.js';
import { launchChromium, type PageGlobals } from '../browser.js';
import { callTool, type Spawned } from '../bench-org.js';
import { median } from '../stats.js';
import { row, type Figure } from '../types.js';
import type { BenchContext } from './context.js';

export interface DashboardPlan {
  /** Messages the store holds (at least) while the page is measured. */
  messages: number;
  pageLoads: number;
  updates: number;
}

export interface DashboardOptions extends DashboardPlan {
  /** The live specialists the page shows (figure 4's). */
  live: readonly Spawned[];
}

/** How long the message sinks stay inside one turn: their mail stays queued in the store meanwhile. */
const SINK_BUSY_MS = 600_000;
const SINKS = 5;

/** Reads an SSE response until an `audit` event passes `match`; resolves with the time it arrived. */
async function sseArrival(res: Response, match: (e: AuditEvent) => boolean): Promise<number> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^event: audit\ndata: (.*)$/m.exec(block)?.[1];
        if (data && match(JSON.parse(data) as AuditEvent)) return performance.now();
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

async function messageCount(ctx: BenchContext): Promise<number> {
  return (await ctx.org.api.request<unknown[]>('GET', '/messages?limit=100000', undefined, 120_000)).length;
}

/**
 * Sends messages from the Executive to the sinks (kept busy, so nothing is typed into a pane) until `total`.
 * A fresh MCP client per thousand: the SDK's client adds an abort listener per request that it never removes.
 */
async function seedMessages(ctx: BenchContext, sinks: readonly Spawned[], total: number): Promise<number> {
  const missing = Math.max(0, total - (await messageCount(ctx)));
  ctx.progress(`dashboard: sending ${missing} messages so that the store holds ${total}`);
  const inFlight = 16;
  for (let done = 0; done < missing;) {
    const client = await ctx.org.connectAs(ctx.org.executive.tmuxSession);
    try {
      for (const end = Math.min(missing, done + 1_000); done < end; done += inFlight) {
        await Promise.all(
          Array.from({ length: Math.min(inFlight, end - done) }, (_, j) =>
            callTool(client, 'send_message', {
              to: sinks[(done + j) % sinks.length]!.id,
              subject: `seed ${done + j}`,
              body: `seed message ${done + j} `.padEnd(200, 'lorem ipsum '),
            }),
          ),
        );
      }
    } finally {
      await client.close();
    }
    ctx.progress(`dashboard: ${done} / ${missing} sent`);
  }
  return messageCount(ctx);
}

async function openDashboard(
  browser: Browser,
  url: string,
  liveCount: number,
): Promise<{ page: Page; ms: number }> {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  const t0 = performance.now();
  await page.goto(url);
  await page.waitForFunction(
    (n) => {
      const { document } = globalThis as unknown as PageGlobals;
      return (
        document.querySelectorAll('[data-testid="instance-row"]').length >= n &&
        document.querySelectorAll('[data-testid="message-row"]').length > 0
      );
    },
    liveCount,
    { polling: 'raf', timeout: 120_000 },
  );
  return { page, ms: performance.now() - t0 };
}

export async function dashboardFigure(
  ctx: BenchContext,
  opts: DashboardOptions,
): Promise<{ figure: Figure }> {
  const { org, progress } = ctx;
  const sinks = opts.live.slice(0, SINKS);
  for (const s of sinks) await org.keepBusy(s.id, SINK_BUSY_MS);
  const stored = await seedMessages(ctx, sinks, opts.messages);
  const instances = (await org.instances()).length;
  const adminUrl = `${org.api.info.url}/?token=${encodeURIComponent(org.api.info.token)}`;

  const browser = await launchChromium();
  try {
    progress(`dashboard: ${opts.pageLoads} page loads with ${instances} instances and ${stored} messages`);
    const loadMs: number[] = [];
    const bareMs: number[] = [];
    for (let i = 0; i < opts.pageLoads; i++) {
      const { page, ms } = await openDashboard(browser, adminUrl, opts.live.length);
      loadMs.push(ms);
      await page.context().close();
      // The same data by plain HTTP, as the page asks for it (in parallel).
      const t0 = performance.now();
      await Promise.all(
        ['/runs', '/instances', '/messages?limit=500', `/tasks?run=${org.runId}`, '/resources'].map((p) =>
          org.api.request('GET', p),
        ),
      );
      bareMs.push(performance.now() - t0);
    }

    progress(`dashboard: ${opts.updates} live updates`);
    const { page } = await openDashboard(browser, adminUrl, opts.live.length);
    const updateMs: number[] = [];
    const sseMs: number[] = [];
    for (let i = 0; i < opts.updates; i++) {
      const subject = `dashboard probe ${i} ${Date.now()}`;
      const head = await org.api.request<{ seq: number }>('GET', '/events/head');
      const stream = await fetch(`${org.api.info.url}/api/stream?after=${head.seq}`, {
        headers: { authorization: `Bearer ${org.api.info.token}` },
      });
      const t0 = performance.now();
      const seen = sseArrival(stream, (e) => e.kind === 'message.sent' && e.actor === org.executive.id);
      const onScreen = page.waitForFunction(
        (text) => {
          const { document } = globalThis as unknown as PageGlobals;
          return Array.from(document.querySelectorAll('[data-testid="message-row"]')).some((r) =>
            r.textContent?.includes(text),
          );
        },
        subject,
        { polling: 'raf', timeout: 60_000 },
      );
      await org.asExecutive('send_message', { to: sinks[i % sinks.length]!.id, subject, body: subject });
      const [sseAt] = await Promise.all([seen, onScreen]);
      updateMs.push(performance.now() - t0);
      sseMs.push(sseAt - t0);
    }
    return {
      figure: {
        id: 'dashboard',
        title: `Dashboard in headless Chromium: ${opts.live.length} live instances (${instances} in the store), ${stored} messages`,
        method:
          'Debian Chromium driven by playwright-core. Page load: a fresh browser context opens the token link ' +
          '(cookie sign-in, redirect) until every live instance has a row in the hierarchy and the message ' +
          'flow shows rows (checked every animation frame). Live update: the Executive sends a message over ' +
          'MCP; timed until a row with its subject is on screen in an open page.',
        baseline:
          'Page load: the same JSON (runs, instances, the newest 500 messages, tasks, resources) fetched in ' +
          'parallel by plain HTTP, the part no UI can avoid. Live update: the same send seen by a bare client ' +
          'of the live stream (/api/stream), i.e. the push path without rendering.',
        rows: [
          row('page load → hierarchy and messages on screen', 'ms', loadMs, {
            label: 'bare fetch of the same JSON',
            value: median(bareMs),
          }),
          row('send_message → row on screen', 'ms', updateMs, {
            label: 'send_message → event on a bare SSE client',
            value: median(sseMs),
          }),
        ],
        notes: [
          `The message list keeps the newest 500 rows in the page; the store held ${stored} messages.`,
          `${SINKS} of the live specialists were kept inside one long turn, so the seeded messages stayed queued.`,
        ],
      },
    };
  } finally {
    await browser.close();
  }
}
