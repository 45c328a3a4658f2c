import { useState } from 'preact/hooks';
import type { AuditEvent } from './api';
import { clip, fmtTime } from './format';
import { useLive } from './hooks';
import { MAX_EVENTS } from './live';

export const KIND_GROUPS = [
  'instance.',
  'message.',
  'task.',
  'files.',
  'git.',
  'knowledge.',
  'tool.',
  'run.',
  'supervisor.',
  'dashboard.',
];

const SHOWN = 500;

/** A one-line account of an event's data. */
export function eventSummary(e: AuditEvent): string {
  const d = e.data ?? {};
  const s = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
  switch (e.kind) {
    case 'instance.state':
      return `${s(d.from)} → ${s(d.to)}${d.reason ? ` (${s(d.reason)})` : ''}`;
    case 'instance.progress':
      return `${d.percent === null || d.percent === undefined ? '' : `${s(d.percent)}% `}${d.note ? s(d.note) : ''}`;
    case 'message.sent':
      return `to ${s(d.to)}${Array.isArray(d.recipients) && d.recipients.length > 1 ? ` (${d.recipients.length} recipients)` : ''} · ${s(d.bytes)} B · ${s(d.messageId)}`;
    case 'message.delivered':
      return `${s(d.messageId)} in ${s(d.latencyMs)} ms via ${s(d.via)}`;
    case 'message.acked':
      return `${s(d.messageId)} after ${s(d.latencyMs)} ms`;
    case 'message.dead':
      return `${s(d.messageId)} from ${s(d.from)}: ${s(d.error)}`;
    case 'tool.called':
      return `${s(d.tool)}${d.ok === false ? ` failed: ${s(d.error)}` : ''}`;
    case 'dashboard.action':
      return `${s(d.action)} ${s(d.target)}: ${d.ok ? 'ok' : `failed${d.error ? `: ${s(d.error)}` : ''}`}`;
    case 'dashboard.input':
      return `${s(d.bytes)} byte(s): ${JSON.stringify(d.text)}`;
    default:
      return Object.entries(d)
        .map(([k, v]) => `${k}=${s(v)}`)
        .join(' ');
  }
}

export function EventRow({ e, open, onToggle }: { e: AuditEvent; open: boolean; onToggle: () => void }) {
  const group = e.kind.split('.')[0] ?? '';
  const bad =
    e.kind === 'message.dead' ||
    e.kind.endsWith('refused') ||
    e.kind === 'task.failed' ||
    (e.kind === 'tool.called' && e.data.ok === false) ||
    (e.kind === 'dashboard.action' && e.data.ok === false) ||
    (e.kind === 'instance.state' && (e.data.to === 'dead' || e.data.to === 'stuck'));
  return (
    <li
      class={`event${bad ? ' bad-row' : ''}`}
      data-testid="audit-row"
      data-seq={e.seq}
      data-kind={e.kind}
      data-instance-id={e.instanceId ?? ''}
      onClick={onToggle}
    >
      <div class="event-line">
        <span class="mono dim">{e.seq}</span>
        <span class="mono dim">{fmtTime(e.ts)}</span>
        <span class={`kind kind-${group}`}>{e.kind}</span>
        <span class="mono actor" title="actor">
          {e.actor}
        </span>
        {e.instanceId && e.instanceId !== e.actor && <span class="mono dim">→ {e.instanceId}</span>}
        <span class="event-summary">{clip(eventSummary(e), 300)}</span>
      </div>
      {open && (
        <pre class="body" data-testid="audit-detail">
          {JSON.stringify(e.data, null, 2)}
          {`\nhash ${e.hash}\nprev ${e.prevHash}`}
        </pre>
      )}
    </li>
  );
}

/** The audit trail as it is appended, with filters by kind, instance and text. */
export function Audit() {
  const l = useLive('events', 'instances');
  const [prefix, setPrefix] = useState('');
  const [who, setWho] = useState('');
  const [text, setText] = useState('');
  const [open, setOpen] = useState<number | null>(null);
  const needle = text.trim().toLowerCase();
  const matching: AuditEvent[] = [];
  for (let i = l.events.length - 1; i >= 0 && matching.length < SHOWN; i--) {
    const e = l.events[i]!;
    if (prefix && !e.kind.startsWith(prefix)) continue;
    if (who && e.instanceId !== who && e.actor !== who) continue;
    if (
      needle &&
      !`${e.kind} ${e.actor} ${e.instanceId ?? ''} ${JSON.stringify(e.data)}`.toLowerCase().includes(needle)
    )
      continue;
    matching.push(e);
  }
  const ids = new Set<string>(l.runInstances().map((i) => i.id));
  return (
    <section class="panel audit" data-testid="panel-audit">
      <div class="panel-head">
        <h2>Audit trail</h2>
        <span class="dim" data-testid="audit-count">
          {matching.length} shown · newest {MAX_EVENTS} kept · head #{l.lastSeq}
        </span>
        <span class="spacer" />
        <select
          data-testid="audit-filter-kind"
          value={prefix}
          onChange={(e) => setPrefix(e.currentTarget.value)}
        >
          <option value="">all kinds</option>
          {KIND_GROUPS.map((k) => (
            <option key={k} value={k}>
              {k}*
            </option>
          ))}
        </select>
        <select
          data-testid="audit-filter-instance"
          value={who}
          onChange={(e) => setWho(e.currentTarget.value)}
        >
          <option value="">all instances</option>
          {[...ids].sort().map((id) => (
            <option key={id} value={id}>
              {id}
            </option>
          ))}
        </select>
        <input
          type="search"
          placeholder="text…"
          data-testid="audit-filter-text"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
        />
      </div>
      {l.errors.events && <div class="error-line">{l.errors.events}</div>}
      <ul class="events scroll" data-testid="audit-list">
        {matching.map((e) => (
          <EventRow
            key={e.seq}
            e={e}
            open={open === e.seq}
            onToggle={() => setOpen(open === e.seq ? null : e.seq)}
          />
        ))}
        {matching.length === 0 && <li class="empty">No events match.</li>}
      </ul>
    </section>
  );
}
