import { useState } from 'preact/hooks';
import { isLive, type InstanceView, type TaskView } from './api';
import { clip, fmtBytes, fmtPercent, fmtUntil, stateClass } from './format';
import { useLive } from './hooks';

const ROLE_LETTER: Record<string, string> = { executive: 'E', manager: 'M', specialist: 'S' };

export function StateBadge({ state }: { state: string }) {
  return (
    <span class={`badge ${stateClass(state)}`} data-testid="state-badge" data-state={state}>
      {state}
    </span>
  );
}

export function ProgressBar(props: { percent: number | null; title?: string; testid?: string }) {
  const p = props.percent === null ? null : Math.max(0, Math.min(100, props.percent));
  return (
    <span class="progress" title={props.title} data-testid={props.testid} data-percent={p ?? ''}>
      <span class="progress-fill" style={{ width: `${p ?? 0}%` }} />
      <span class="progress-label">{p === null ? '–' : `${Math.round(p)}%`}</span>
    </span>
  );
}

interface Node {
  inst: InstanceView;
  depth: number;
}

/** Depth-first order of the run's instances, children under their parent. */
function flatten(instances: InstanceView[], hideEnded: boolean): Node[] {
  const ids = new Set(instances.map((i) => i.id));
  const children = new Map<string | null, InstanceView[]>();
  for (const i of instances) {
    const parent = i.parentId !== null && ids.has(i.parentId) ? i.parentId : null;
    const list = children.get(parent) ?? [];
    list.push(i);
    children.set(parent, list);
  }
  const hasLive = new Map<string, boolean>();
  const subtreeLive = (i: InstanceView): boolean => {
    const known = hasLive.get(i.id);
    if (known !== undefined) return known;
    hasLive.set(i.id, false);
    const v = isLive(i.state) || (children.get(i.id) ?? []).some(subtreeLive);
    hasLive.set(i.id, v);
    return v;
  };
  const out: Node[] = [];
  const seen = new Set<string>();
  const walk = (parent: string | null, depth: number): void => {
    for (const i of children.get(parent) ?? []) {
      if (seen.has(i.id)) continue;
      seen.add(i.id);
      if (hideEnded && !subtreeLive(i)) continue;
      out.push({ inst: i, depth });
      walk(i.id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

function InstanceRow(props: {
  inst: InstanceView;
  depth: number;
  task: TaskView | undefined;
  cpu: number | null;
  rss: number | null;
  focused: boolean;
  /** Several hosts run the organisation: say where each instance runs. */
  showHost: boolean;
  onFocus: (id: string) => void;
}) {
  const { inst, task } = props;
  const ended = !isLive(inst.state);
  return (
    <li
      class={`inst-row${props.focused ? ' focused' : ''}${ended ? ' ended' : ''}`}
      style={{ paddingLeft: `${6 + props.depth * 16}px` }}
      data-testid="instance-row"
      data-instance-id={inst.id}
      data-state={inst.state}
      data-role={inst.role}
      data-parent-id={inst.parentId ?? ''}
      tabIndex={0}
      role="treeitem"
      aria-selected={props.focused}
      onClick={() => props.onFocus(inst.id)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          props.onFocus(inst.id);
        }
      }}
    >
      <div class="inst-line1">
        <span class={`role role-${inst.role}`} title={inst.role}>
          {ROLE_LETTER[inst.role] ?? '?'}
        </span>
        <span class="inst-name" title={`${inst.name} on host ${inst.host}`}>
          {inst.name}
        </span>
        {props.showHost && (
          <span class="inst-host mono" data-testid="instance-host-label">
            @{inst.host}
          </span>
        )}
        <StateBadge state={inst.state} />
        {inst.state === 'blocked' && inst.blockedUntil ? (
          <span class="dim small" data-testid="blocked-until" title={inst.error ?? 'blocked'}>
            {fmtUntil(inst.blockedUntil)}
          </span>
        ) : null}
        {inst.pendingMessages > 0 && (
          <span class="unread" data-testid="unread" title={`${inst.pendingMessages} undelivered message(s)`}>
            {inst.pendingMessages}
          </span>
        )}
        <span class="spacer" />
        <ProgressBar
          percent={inst.progress?.percent ?? null}
          title={inst.progress?.note ?? 'no progress reported'}
          testid="instance-progress"
        />
      </div>
      <div class="inst-line2">
        <span class="mono dim">{inst.id}</span>
        {inst.taskId && (
          <span class="inst-task" title={task ? task.title : inst.taskId} data-testid="instance-task">
            · {inst.taskId}
            {task ? `: ${clip(task.title, 48)}` : ''}
          </span>
        )}
      </div>
      <div class="inst-line3 dim">
        {inst.branch && (
          <span class="mono" title={inst.branch}>
            ⎇ {clip(inst.branch, 46)}
          </span>
        )}
        {!ended && props.cpu !== null && (
          <span class="mono">
            {' '}
            · {fmtPercent(props.cpu)} · {fmtBytes(props.rss)}
          </span>
        )}
      </div>
      {inst.error && (
        <div class="inst-error" title={inst.error}>
          {clip(inst.error, 120)}
        </div>
      )}
    </li>
  );
}

/** The organisation of the run: executive → managers → specialists. */
export function Hierarchy(props: { focusId: string | null; onFocus: (id: string) => void }) {
  const l = useLive('instances', 'tasks', 'runs', 'resources');
  const [hideEnded, setHideEnded] = useState(false);
  const instances = l.runInstances();
  const nodes = flatten(instances, hideEnded);
  const manyHosts = new Set(instances.map((i) => i.host)).size > 1;
  const tasks = new Map(l.tasks.map((t) => [t.id, t]));
  const latest = l.latestResources?.instances ?? {};
  const liveCount = instances.filter((i) => isLive(i.state)).length;
  return (
    <section class="panel hierarchy" data-testid="panel-hierarchy">
      <div class="panel-head">
        <h2>Organisation</h2>
        <span class="dim">
          {liveCount} live / {instances.length}
        </span>
        <span class="spacer" />
        <label class="check small">
          <input
            type="checkbox"
            data-testid="hide-ended"
            checked={hideEnded}
            onChange={(e) => setHideEnded(e.currentTarget.checked)}
          />
          hide ended
        </label>
      </div>
      {l.errors.instances && <div class="error-line">instances: {l.errors.instances}</div>}
      {!l.loaded.has('instances') ? (
        <div class="empty">loading…</div>
      ) : nodes.length === 0 ? (
        <div class="empty" data-testid="hierarchy-empty">
          {l.runId === null
            ? 'No run yet: start one with `tmux-claude run`.'
            : instances.length === 0
              ? 'No instances in this run yet.'
              : 'Every instance has ended.'}
        </div>
      ) : (
        <ul class="tree" role="tree" data-testid="instance-tree">
          {nodes.map((n) => {
            const s = latest[n.inst.id];
            return (
              <InstanceRow
                key={n.inst.id}
                inst={n.inst}
                depth={n.depth}
                task={n.inst.taskId ? tasks.get(n.inst.taskId) : undefined}
                cpu={s ? s.cpuPercent : null}
                rss={s ? s.rssBytes : null}
                focused={props.focusId === n.inst.id}
                showHost={manyHosts}
                onFocus={props.onFocus}
              />
            );
          })}
        </ul>
      )}
    </section>
  );
}
