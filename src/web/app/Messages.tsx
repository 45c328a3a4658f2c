import { useEffect, useMemo, useState } from 'preact/hooks';
import type { MessageFlowRow } from './api';
import { clip, fmtBytes, fmtMs, fmtTime, stateClass } from './format';
import { Chart } from './Chart';
import { flowSeries } from './flow';
import { useLive } from './hooks';
import { MAX_MESSAGES } from './live';

function MessageRow({ m, open, onToggle }: { m: MessageFlowRow; open: boolean; onToggle: () => void }) {
  return (
    <>
      <tr
        class={`msg-row ${stateClass(m.state)}${m.state === 'dead' ? ' dead' : ''}${open ? ' open' : ''}`}
        data-testid="message-row"
        data-seq={m.seq}
        data-message-id={m.id}
        data-state={m.state}
        data-from={m.from}
        data-to={m.to}
        onClick={onToggle}
      >
        <td class="mono dim">{m.seq}</td>
        <td class="mono dim">{fmtTime(m.sentAt)}</td>
        <td class="mono">{m.from}</td>
        <td class="mono">
          {m.to}
          {m.address !== m.to && <span class="dim"> ({m.address})</span>}
        </td>
        <td>
          <span class={`badge ${stateClass(m.state)}`}>{m.state}</span>
          {m.requiresAck && (
            <span class="dim" title="the sender asked for an ack">
              {' '}
              ack
            </span>
          )}
        </td>
        <td class="num">{fmtMs(m.deliveredMs)}</td>
        <td class="num">{fmtMs(m.ackedMs)}</td>
        <td class="num">{m.attempts}</td>
        <td class="num dim">{fmtBytes(m.bytes)}</td>
        <td class="msg-body">
          {m.subject && <b>{m.subject} </b>}
          {clip(m.body.replace(/\s+/g, ' '), 160)}
          {m.error && <div class="bad">{clip(m.error, 200)}</div>}
        </td>
      </tr>
      {open && (
        <tr class="msg-detail" data-testid="message-detail">
          <td colSpan={10}>
            <div class="dim">
              {m.id} · sent {new Date(m.sentAt).toISOString()} · address {m.address}
            </div>
            {m.error && <div class="bad">error: {m.error}</div>}
            <pre class="body">{m.body}</pre>
          </td>
        </tr>
      )}
    </>
  );
}

/** Who sent what to whom, where each delivery stands and how long it took; dead letters stand out. */
export function Messages(props: { instanceFilter?: string }) {
  const l = useLive('messages', 'dead', 'instances');
  const [who, setWho] = useState(props.instanceFilter ?? '');
  const [deadOnly, setDeadOnly] = useState(false);
  const [text, setText] = useState('');
  const [openSeq, setOpenSeq] = useState<number | null>(null);
  useEffect(() => {
    l.showDead(deadOnly);
    return () => l.showDead(false);
  }, [deadOnly, l]);

  const source = deadOnly ? l.deadLetters : l.messages;
  const needle = text.trim().toLowerCase();
  const rows = source
    .filter((m) => !who || m.from === who || m.to === who)
    .filter(
      (m) =>
        !needle ||
        m.body.toLowerCase().includes(needle) ||
        (m.subject ?? '').toLowerCase().includes(needle) ||
        m.address.toLowerCase().includes(needle),
    )
    .slice()
    .reverse();
  const dead = l.messages.filter((m) => m.state === 'dead').length;
  const flow = useMemo(
    () => flowSeries(source.filter((m) => !who || m.from === who || m.to === who)),
    [source, who],
  );
  const ids = new Set<string>();
  for (const m of l.messages) {
    ids.add(m.from);
    ids.add(m.to);
  }
  for (const i of l.runInstances()) ids.add(i.id);
  const error = deadOnly ? l.errors.dead : l.errors.messages;
  return (
    <section class="panel messages" data-testid="panel-messages">
      <div class="panel-head">
        <h2>Message flow</h2>
        <span class="dim" data-testid="messages-count">
          {rows.length} shown · newest {MAX_MESSAGES} kept
          {dead > 0 && <span class="bad"> · {dead} dead</span>}
        </span>
        <span class="spacer" />
        <select
          data-testid="messages-filter-instance"
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
          data-testid="messages-filter-text"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
        />
        <label class="check small">
          <input
            type="checkbox"
            data-testid="messages-dead-only"
            checked={deadOnly}
            onChange={(e) => setDeadOnly(e.currentTarget.checked)}
          />
          dead letters only
        </label>
      </div>
      {error && <div class="error-line">{error}</div>}
      <Chart
        title="Over time: deliveries sent and dead-lettered, median send → delivered latency"
        testid="messages-flow-chart"
        height={120}
        series={[
          { label: 'sent', unit: 'count' },
          { label: 'dead', unit: 'count', color: '#e57373' },
          { label: 'delivered after (p50)', unit: 'ms', color: '#ffb74d' },
        ]}
        data={flow}
      />
      <div class="scroll">
        <table class="grid" data-testid="messages-table">
          <thead>
            <tr>
              <th>seq</th>
              <th>sent</th>
              <th>from</th>
              <th>to</th>
              <th>state</th>
              <th title="send → delivered">delivered</th>
              <th title="send → acked">acked</th>
              <th title="push attempts">att.</th>
              <th>size</th>
              <th>message</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <MessageRow
                key={`${m.seq}`}
                m={m}
                open={openSeq === m.seq}
                onToggle={() => setOpenSeq(openSeq === m.seq ? null : m.seq)}
              />
            ))}
          </tbody>
        </table>
        {rows.length === 0 && (
          <div class="empty" data-testid="messages-empty">
            {l.runId === null
              ? 'No run yet.'
              : !l.loaded.has(deadOnly ? 'dead' : 'messages')
                ? 'loading…'
                : 'No messages.'}
          </div>
        )}
      </div>
    </section>
  );
}
