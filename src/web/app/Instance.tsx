import { useEffect, useState } from 'preact/hooks';
import { api, type AuditEvent, type InstanceView } from './api';
import { InstanceActions } from './actions';
import { EventRow } from './Audit';
import { fmtBytes, fmtPercent, fmtTime, fmtUntil } from './format';
import { StateBadge, ProgressBar } from './Hierarchy';
import { useLive } from './hooks';
import { InstanceResourceChart } from './Resources';
import { TaskDetail } from './Tasks';
import { Terminal } from './Terminal';

const KEEP = 300;

/** The instance's own audit events: its history from the server, then what the live stream brings. */
function useInstanceEvents(id: string): { events: AuditEvent[]; error: string | null } {
  const l = useLive('events');
  const [history, setHistory] = useState<AuditEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    setHistory([]);
    setError(null);
    void (async () => {
      try {
        let after = 0;
        let all: AuditEvent[] = [];
        for (let page = 0; page < 20; page++) {
          const batch = await api.events({ after, instance: id });
          all = [...all, ...batch].slice(-KEEP);
          if (batch.length < 1000) break;
          after = batch.at(-1)!.seq;
        }
        if (!cancelled) setHistory(all);
      } catch (err) {
        if (!cancelled) setError(err instanceof Error ? err.message : String(err));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [id]);
  const newest = history.at(-1)?.seq ?? 0;
  const fresh = l.events.filter((e) => e.instanceId === id && e.seq > newest);
  return { events: [...history, ...fresh].slice(-KEEP), error };
}

function InstanceEvents({ id }: { id: string }) {
  const { events, error } = useInstanceEvents(id);
  const [open, setOpen] = useState<number | null>(null);
  return (
    <div class="sub-panel" data-testid="instance-events">
      <h3>Events</h3>
      {error && <div class="error-line">{error}</div>}
      <ul class="events">
        {[...events].reverse().map((e) => (
          <EventRow
            key={e.seq}
            e={e}
            open={open === e.seq}
            onToggle={() => setOpen(open === e.seq ? null : e.seq)}
          />
        ))}
        {events.length === 0 && <li class="empty">No events yet.</li>}
      </ul>
    </div>
  );
}

/** Everything about the focused instance: facts, actions, terminal, resources, task and events. */
export function InstanceDetails({ id, onFocus }: { id: string | null; onFocus: (id: string) => void }) {
  const l = useLive('instances', 'tasks', 'resources');
  const inst: InstanceView | undefined = id ? l.instances.find((i) => i.id === id) : undefined;
  useEffect(() => {
    if (id) l.ensureInstanceSeries(id);
  }, [id, l, inst?.state]);
  if (!id || !inst) {
    return (
      <section class="panel details" data-testid="panel-instance">
        <div class="empty" data-testid="instance-none">
          {id
            ? `Instance ${id} is not known (any more).`
            : 'Click an instance in the organisation tree to see it here.'}
        </div>
      </section>
    );
  }
  const task = inst.taskId ? l.tasks.find((t) => t.id === inst.taskId) : undefined;
  const sample = l.latestResources?.instances[inst.id];
  const parent = inst.parentId ? l.instances.find((i) => i.id === inst.parentId) : undefined;
  const children = l.instances.filter((i) => i.parentId === inst.id);
  return (
    <section
      class="panel details"
      data-testid="panel-instance"
      data-instance-id={inst.id}
      data-state={inst.state}
    >
      <div class="panel-head">
        <h2>
          <span class={`role role-${inst.role}`}>{inst.role[0]?.toUpperCase()}</span> {inst.name}
        </h2>
        <span class="mono dim">{inst.id}</span>
        <StateBadge state={inst.state} />
        <span class="spacer" />
        <InstanceActions instance={inst} />
      </div>
      <div class="scroll">
        <dl class="kv facts" data-testid="instance-facts">
          <dt>role / agent</dt>
          <dd>
            {inst.role} · {inst.agent}
          </dd>
          <dt>parent</dt>
          <dd>
            {parent ? (
              <button type="button" class="link mono" onClick={() => onFocus(parent.id)}>
                {parent.id}
              </button>
            ) : (
              '–'
            )}
            {children.length > 0 && (
              <span class="dim">
                {' '}
                · children:{' '}
                {children.map((c) => (
                  <button key={c.id} type="button" class="link mono" onClick={() => onFocus(c.id)}>
                    {c.id}
                  </button>
                ))}
              </span>
            )}
          </dd>
          <dt>branch</dt>
          <dd class="mono">{inst.branch ?? '–'}</dd>
          <dt>host / tmux / pid</dt>
          <dd class="mono" data-testid="instance-host">
            {inst.host} · {inst.tmuxSession} · {inst.pid ?? '–'}
          </dd>
          <dt>progress</dt>
          <dd>
            <ProgressBar percent={inst.progress?.percent ?? null} />{' '}
            {inst.progress?.note && <span>{inst.progress.note}</span>}
            {inst.progress && <span class="dim"> ({fmtTime(inst.progress.updatedAt)})</span>}
          </dd>
          <dt>unread</dt>
          <dd data-testid="instance-unread">{inst.pendingMessages}</dd>
          <dt>now</dt>
          <dd>
            {sample
              ? `${fmtPercent(sample.cpuPercent)} CPU · ${fmtBytes(sample.rssBytes)} RSS · ${sample.processes} process(es)`
              : '–'}
          </dd>
          {inst.state === 'blocked' && inst.blockedUntil ? (
            <>
              <dt>blocked</dt>
              <dd class="warn" data-testid="instance-blocked-until">
                {fmtUntil(inst.blockedUntil)}, then resumed by the supervisor (its leases are held meanwhile)
              </dd>
            </>
          ) : null}
          {inst.error && (
            <>
              <dt>error</dt>
              <dd class="bad">{inst.error}</dd>
            </>
          )}
        </dl>
        <Terminal key={inst.id} instance={inst} />
        <div class="details-grid">
          <InstanceEvents id={inst.id} />
          <div class="sub-panel">
            <h3>Resources</h3>
            <InstanceResourceChart id={inst.id} />
            <h3>Task</h3>
            {task ? (
              <TaskDetail task={task} />
            ) : (
              <div class="empty small">
                {inst.taskId ? `task ${inst.taskId} (not in the task graph)` : 'none'}
              </div>
            )}
          </div>
        </div>
      </div>
    </section>
  );
}
