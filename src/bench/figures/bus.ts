/**
 * Figure 7: the message bus on the SQLite store — send → visible to a waiting recipient, send → delivered
 * into an idle agent, and messages per second sustained — through the real supervisor with real MCP SDK
 * clients, each holding a light-runtime instance's own token while that instance's agent stays in its pane.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { AuditEvent } from '../../core/index.js';
import { callTool as call } from '../bench-org.js';
import { bareSqliteInserts, httpHandOff } from '../bus-baseline.js';
import { ProcessSampler } from '../proc.js';
import { median, quantile } from '../stats.js';
import { cpuRow, row, type Figure, type Row } from '../types.js';
import { sleep, type BenchContext } from './context.js';

export interface BusPlan {
  /** Sequential send → wait_for_messages samples (and as many HTTP long-poll baseline samples). */
  visibleSamples: number;
  /** Sequential sends into an idle agent (and as many tmux paste baseline lines). */
  deliverySamples: number;
  /** Concurrent MCP clients for the sustained load, each with its own instance's token. */
  senders: number;
  loadSeconds: number;
  /** How long the bare SQLite insert loop runs. */
  insertLoopMs: number;
}

export interface BusOptions extends BusPlan {
  /** A baseline reader pane of the lab (figure 4's), for the paste baseline. */
  reader: string;
  /** Called just before and just after the sustained load (e.g. to profile it). */
  around?: { before: () => Promise<void>; after: () => Promise<void> } | undefined;
}

export interface BusResult {
  figure: Figure;
}

/** How long the receiver's wait_for_messages (or GET) is parked before the send starts. */
const HEAD_START_MS = 25;
/** How long the sink's agent stays inside one turn (busy) while the bus is measured. */
const SINK_BUSY_MS = 240_000;

interface SendView {
  message_id: string;
  recipients: string[];
  duplicate: boolean;
}
interface WaitView {
  messages: Array<{ id: string; from: string; body: string }>;
  timed_out: boolean;
}

/** A message body of a realistic size (a short instruction between agents: ~200 bytes). */
function body(kind: string, i: number): string {
  return `${kind} ${i}: `.padEnd(200, 'lorem ipsum dolor sit amet ');
}

/** The message.delivered event of `messageId` (long-polling the audit log after `afterSeq`). */
async function deliveredEvent(
  ctx: BenchContext,
  afterSeq: number,
  recipient: string,
  messageId: string,
): Promise<{ latencyMs: number; via: string; seenAt: number }> {
  let seq = afterSeq;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const events = await ctx.org.api.request<AuditEvent[]>(
      'GET',
      `/events?after=${seq}&instance=${encodeURIComponent(recipient)}&wait=10`,
      undefined,
      20_000,
    );
    const seenAt = performance.now();
    for (const e of events) {
      seq = e.seq;
      if (e.kind === 'message.delivered' && e.data.messageId === messageId) {
        return { latencyMs: e.data.latencyMs, via: e.data.via, seenAt };
      }
    }
    if (Date.now() > deadline) throw new Error(`message ${messageId} was not delivered within 60 s`);
  }
}

function count(values: readonly string[]): string {
  const by = new Map<string, number>();
  for (const v of values) by.set(v, (by.get(v) ?? 0) + 1);
  return [...by].map(([k, n]) => `${n} via ${k}`).join(', ');
}

export async function busFigure(ctx: BenchContext, plan: BusOptions): Promise<BusResult> {
  const { org, progress } = ctx;
  const notes: string[] = [];
  const byName = await org.spawnSpecialists(
    ['bus-sink', 'bus-idle', ...Array.from({ length: plan.senders }, (_, i) => `bus-sender-${i}`)],
    'fig 7',
  );
  const spawned = [...byName.values()];
  const sink = byName.get('bus-sink');
  const idle = byName.get('bus-idle');
  const senders = spawned.filter((s) => s !== sink && s !== idle);
  if (!sink || !idle || senders.length === 0) {
    await org.terminate(spawned.map((s) => s.id));
    throw new Error(`fig 7 needs the sink, the idle recipient and a sender; ${spawned.length} came up`);
  }
  const clients: Client[] = [];
  try {
    const [sinkClient, ...senderClients] = await Promise.all(
      [sink, ...senders].map((s) => org.connectAs(s.tmuxSession)),
    );
    clients.push(sinkClient!, ...senderClients);
    const a = senderClients[0]!;
    const aId = senders[0]!.id;

    // The sink's agent enters a long turn, so the supervisor pushes nothing into its pane: its mail stays
    // for the bench's client (wait_for_messages) and the load below measures storing, not pasting.
    await org.keepBusy(sink.id, SINK_BUSY_MS);

    // ---- 1. send → visible to a recipient blocked in wait_for_messages ----
    const visibleMs: number[] = [];
    const sendCallMs: number[] = [];
    let missed = 0;
    for (let i = -5; i < plan.visibleSamples; i++) {
      const text = body('bus latency probe', i);
      const waited = call<WaitView>(sinkClient!, 'wait_for_messages', { timeout_s: 30, from: aId }).then(
        (w) => ({ w, at: performance.now() }),
      );
      await sleep(HEAD_START_MS);
      const t0 = performance.now();
      const sent = await call<SendView>(a, 'send_message', { to: sink.id, body: text });
      const sentAt = performance.now();
      const { w, at } = await waited;
      if (w.timed_out || !w.messages.some((m) => m.id === sent.message_id)) {
        missed++;
        continue;
      }
      if (i < 0) continue; // warm-up
      sendCallMs.push(sentAt - t0);
      visibleMs.push(at - t0);
    }
    if (missed > 0)
      notes.push(`${missed} wait_for_messages call(s) returned without the probe (not in the samples).`);
    progress(
      `fig 7: send → visible p50 ${median(visibleMs).toFixed(1)} ms, p99 ${quantile(visibleMs, 0.99).toFixed(1)} ms`,
    );
    const handOff = await httpHandOff(plan.visibleSamples, HEAD_START_MS);
    progress(`fig 7: baseline HTTP long-poll hand-off p50 ${median(handOff.visibleMs).toFixed(2)} ms`);

    // ---- 3. messages per second sustained (before the sink's long turn could end) ----
    const delivered0 = await org.api.request<Array<{ seq: number }>>(
      'GET',
      `/messages?to=${encodeURIComponent(sink.id)}&limit=1`,
    );
    const seq0 = delivered0.at(-1)?.seq ?? 0;
    const loadCallMs: number[] = [];
    const ids: string[] = [];
    let loadErrors = 0;
    let firstError = '';
    await plan.around?.before();
    const supervisor = new ProcessSampler([org.supervisorPid]).start();
    const bench = new ProcessSampler([process.pid]).start();
    const t0 = performance.now();
    const end = t0 + plan.loadSeconds * 1000;
    await Promise.all(
      senderClients.map(async (c, k) => {
        for (let i = 0; performance.now() < end; i++) {
          const start = performance.now();
          try {
            const r = await call<SendView>(c, 'send_message', { to: sink.id, body: body(`load ${k}`, i) });
            loadCallMs.push(performance.now() - start);
            ids.push(r.message_id);
          } catch (err) {
            loadErrors++;
            firstError ||= err instanceof Error ? err.message : String(err);
          }
        }
      }),
    );
    const loadWallMs = performance.now() - t0;
    const supCpu = supervisor.stop();
    const benchCpu = bench.stop();
    await plan.around?.after();
    const perSecond = ids.length / (loadWallMs / 1000);
    const stored = await org.api.request<Array<{ seq: number; id: string }>>(
      'GET',
      `/messages?to=${encodeURIComponent(sink.id)}&after=${seq0}&limit=10000`,
    );
    const storedIds = new Set(stored.map((r) => r.id));
    const confirmed = ids.filter((id) => storedIds.has(id)).length;
    const sinkState = await org.stateOf(sink.id);
    progress(
      `fig 7: ${senderClients.length} senders: ${ids.length} messages in ${(loadWallMs / 1000).toFixed(1)} s ` +
        `(${perSecond.toFixed(0)} msg/s), supervisor ${supCpu.meanCpuPercent.toFixed(0)} % CPU`,
    );
    const insertBody = body('x', 0).length;
    const inserts = bareSqliteInserts(plan.insertLoopMs, insertBody);
    progress(
      `fig 7: baseline bare SQLite ${inserts.rowsPerSecond.toFixed(0)} inserts/s, ` +
        `p50 ${(median(inserts.latenciesMs) * 1000).toFixed(0)} µs`,
    );
    const kill0 = performance.now();
    await org.terminate([sink.id]);
    const sinkKillMs = performance.now() - kill0;

    // ---- 2. send → delivered into an idle agent ----
    const deliveredMs: number[] = [];
    const atSenderMs: number[] = [];
    const vias: string[] = [];
    for (let i = 0; i < plan.deliverySamples; i++) {
      await org.waitState(idle.id, (s) => s === 'idle');
      const { seq } = await org.api.request<{ seq: number }>('GET', '/events/head');
      const start = performance.now();
      const sent = await call<SendView>(a, 'send_message', {
        to: idle.id,
        body: body('bus delivery probe', i),
      });
      const ev = await deliveredEvent(ctx, seq, idle.id, sent.message_id);
      vias.push(ev.via);
      if (ev.via !== 'paste') continue;
      deliveredMs.push(ev.latencyMs);
      atSenderMs.push(ev.seenAt - start);
    }
    await org.waitState(idle.id, (s) => s === 'idle');
    progress(`fig 7: send → delivered into an idle agent p50 ${median(deliveredMs).toFixed(0)} ms`);
    const paste = await ctx.lab.deliverRounds([plan.reader], plan.deliverySamples);
    progress(`fig 7: baseline tmux paste → reader p50 ${median(paste.latenciesMs).toFixed(0)} ms`);

    // ---- the figure ----
    const insertP50 = median(inserts.latenciesMs);
    const insertBase = { label: 'bare SQLite insert, 1 row per transaction', value: insertP50 };
    const cpuPerMessageMs = ((supCpu.meanCpuPercent / 100) * supCpu.seconds * 1000) / Math.max(ids.length, 1);
    const x = (a: number, b: number): string => `${(a / b).toFixed(0)}×`;
    const rows: Row[] = [
      row('send → visible to a recipient blocked in wait_for_messages', 'ms', visibleMs, {
        label: 'bare HTTP long-poll hand-off',
        value: median(handOff.visibleMs),
      }),
      row('send_message call at the sender (stored, answered)', 'ms', sendCallMs, insertBase),
      row('send → delivered into an idle agent (message.delivered latencyMs, via paste)', 'ms', deliveredMs, {
        label: 'tmux paste → reader POST',
        value: median(paste.latenciesMs),
      }),
      row('send → delivered, at the sender (send start → event seen)', 'ms', atSenderMs, {
        label: 'tmux paste → reader POST',
        value: median(paste.latenciesMs),
      }),
      row(`messages stored per second, ${senderClients.length} senders at once`, 'msg/s', [perSecond], {
        label: 'bare SQLite inserts per second',
        value: inserts.rowsPerSecond,
      }),
      row('send_message call during that load', 'ms', loadCallMs, insertBase),
      cpuRow('supervisor CPU during that load', supCpu),
      row('supervisor CPU time per message stored', 'ms', [cpuPerMessageMs], insertBase),
      cpuRow('context: benchmark process CPU (the MCP clients)', benchCpu),
      row('baseline: bare SQLite insert (WAL, synchronous = NORMAL)', 'ms', inserts.latenciesMs),
      row('baseline: bare SQLite inserts per second', 'rows/s', [inserts.rowsPerSecond]),
      row('baseline: bare HTTP long-poll hand-off (POST → parked GET answered)', 'ms', handOff.visibleMs),
      row('baseline: tmux paste → reader POST, one line at a time', 'ms', paste.latenciesMs),
    ];
    notes.push(
      `Against the storage floor (bare insert p50 ${(insertP50 * 1000).toFixed(0)} µs, p99 ` +
        `${(quantile(inserts.latenciesMs, 0.99) * 1000).toFixed(0)} µs): send → visible is ` +
        `${x(median(visibleMs), insertP50)} at p50 and ${x(quantile(visibleMs, 0.99), quantile(inserts.latenciesMs, 0.99))} ` +
        `at p99; send → delivered into an idle agent ${x(median(deliveredMs), insertP50)} at p50; the bus stores ` +
        `${((perSecond / inserts.rowsPerSecond) * 100).toFixed(1)} % of the bare insert rate.`,
      `Deliveries into the idle agent: ${count(vias)} (only paste ones are in the rows); max ` +
        `${Math.max(...deliveredMs).toFixed(0)} ms over ${deliveredMs.length} samples.`,
      `Load: ${ids.length} send_message calls answered in ${(loadWallMs / 1000).toFixed(1)} s, ${confirmed} of them ` +
        `found in \`GET /api/messages\` afterwards (${stored.length} rows for the sink after the load)` +
        (loadErrors ? `; ${loadErrors} calls failed, first: ${firstError.split('\n')[0]}` : '') +
        `. The sink was ${sinkState ?? 'gone'} at the end of the load (busy: nothing was pasted into its pane); ` +
        `terminating it then turned its ${ids.length} pending deliveries into dead letters in ` +
        `${(sinkKillMs / 1000).toFixed(1)} s.`,
    );
    ctx.progress(`fig 7: done`);
    return {
      figure: {
        id: 'bus',
        title: '7. Message bus on the SQLite store',
        method:
          `${spawned.length} light-runtime specialists: a sink, an idle recipient and ${senders.length} senders; ` +
          'the benchmark holds a real MCP SDK client (Streamable HTTP, /mcp) with each instance’s own token ' +
          'while the agents stay in their panes. The sink’s agent is first put into one long turn (a slow-model ' +
          'knob), so the supervisor pastes nothing into its pane and its mail is left to the benchmark’s ' +
          `client. **Visible:** ${plan.visibleSamples} times in sequence (after 5 warm-ups), the sink’s client ` +
          `calls \`wait_for_messages {from: sender}\`, ${HEAD_START_MS} ms later the first sender’s client calls ` +
          '`send_message` to the sink; latency runs from the start of the send until the wait returned with ' +
          `that message. **Delivered:** ${plan.deliverySamples} times, with the idle recipient’s agent idle ` +
          '(polled through `GET /api/instances`), the sender calls `send_message` to it; the supervisor pastes ' +
          'it into the pane and the agent’s UserPromptSubmit hook confirms it. The row is the supervisor’s ' +
          '`message.delivered` latencyMs (message stored → hook; 200 ms before Enter included); the sender’s ' +
          'view runs to the event in `GET /api/events`. **Sustained:** all senders call `send_message` to the ' +
          `sink back to back for ${plan.loadSeconds} s (~200-byte bodies); each message is one transaction ` +
          '(message + delivery rows) plus its message.sent and tool.called audit events.',
        baseline:
          `Storage floor: better-sqlite3 on a fresh file with the store’s settings (WAL, synchronous = NORMAL) ` +
          `inserting one ~200-byte row per IMMEDIATE transaction for ${(plan.insertLoopMs / 1000).toFixed(0)} s ` +
          'in the benchmark process. Visible: the same hand-off through a bare `node -e` HTTP server (a GET ' +
          `parked ${HEAD_START_MS} ms before a POST, which answers it), fetch on both sides, no MCP, auth, bus ` +
          'or store. Delivered: the figure-4 baseline one line at a time (tmux driver `paste` into a `node -e` ' +
          'reader pane, 200 ms, Enter; timed until its POST arrives).',
        rows,
        notes,
      },
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    const live = new Set((await org.instances()).filter((i) => i.state !== 'terminated').map((i) => i.id));
    await org.terminate(spawned.map((s) => s.id).filter((id) => live.has(id)));
  }
}
