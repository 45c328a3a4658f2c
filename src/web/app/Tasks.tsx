import { useState } from 'preact/hooks';
import type { InstanceView, TaskView } from './api';
import { layoutDag, NODE_H, NODE_W, type Placed } from './dag';
import { ReassignButton } from './actions';
import { clip, stateClass } from './format';
import { ProgressBar } from './Hierarchy';
import { useLive } from './hooks';

function TaskGraph(props: {
  tasks: TaskView[];
  waiting: Set<string>;
  selected: string | null;
  onSelect: (id: string) => void;
}) {
  const { nodes, width, height } = layoutDag(props.tasks);
  const edges: { from: Placed; to: Placed }[] = [];
  for (const n of nodes.values()) {
    for (const d of n.task.depends_on) {
      const from = nodes.get(d);
      if (from) edges.push({ from, to: n });
    }
  }
  return (
    <div class="dag-wrap">
      <svg
        class="dag"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        data-testid="task-graph"
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="6"
            markerHeight="6"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" class="dag-arrow" />
          </marker>
        </defs>
        {edges.map(({ from, to }) => {
          const x1 = from.x + NODE_W;
          const y1 = from.y + NODE_H / 2;
          const x2 = to.x - 2;
          const y2 = to.y + NODE_H / 2;
          const mx = (x1 + x2) / 2;
          return (
            <path
              key={`${from.task.id}-${to.task.id}`}
              class={`dag-edge ${stateClass(from.task.state)}`}
              d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`}
              marker-end="url(#arrow)"
              data-testid="task-edge"
              data-from={from.task.id}
              data-to={to.task.id}
            />
          );
        })}
        {[...nodes.values()].map((n) => {
          const t = n.task;
          const who = t.owner ?? t.assignee;
          return (
            <g
              key={t.id}
              class={`dag-node ${stateClass(t.state)}${props.selected === t.id ? ' selected' : ''}${props.waiting.has(t.id) ? ' waiting' : ''}`}
              transform={`translate(${n.x},${n.y})`}
              data-testid="task-node"
              data-task-id={t.id}
              data-state={t.state}
              onClick={() => props.onSelect(t.id)}
            >
              <title>
                {t.id} · {t.state}
                {t.merged ? ' · merged' : ''}
                {'\n'}
                {t.title}
                {who ? `\nowner: ${who}` : ''}
              </title>
              <rect width={NODE_W} height={NODE_H} rx="5" />
              <text x="8" y="15" class="dag-id">
                {t.id} · {t.state}
                {t.merged ? ' · merged' : ''}
              </text>
              <text x="8" y="31" class="dag-title">
                {clip(t.title, 30)}
              </text>
              <text x="8" y="46" class="dag-meta">
                {who ? clip(who, 18) : 'unowned'} · try {t.attempts}/{t.max_attempts}
                {t.epoch > 0 ? ` · e${t.epoch}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function Rollup({ tasks, instances }: { tasks: TaskView[]; instances: InstanceView[] }) {
  const names = new Map(instances.map((i) => [i.id, i]));
  const groups = new Map<string, TaskView[]>();
  for (const t of tasks) groups.set(t.created_by, [...(groups.get(t.created_by) ?? []), t]);
  const done = tasks.filter((t) => t.state === 'done').length;
  return (
    <table class="grid rollup" data-testid="task-rollup">
      <thead>
        <tr>
          <th>created by</th>
          <th>done</th>
          <th>claimed</th>
          <th>ready</th>
          <th>blocked</th>
          <th>failed</th>
          <th>progress</th>
        </tr>
      </thead>
      <tbody>
        {[...groups].map(([creator, list]) => {
          const count = (s: string) => list.filter((t) => t.state === s).length;
          const inst = names.get(creator);
          return (
            <tr
              key={creator}
              data-testid="rollup-row"
              data-creator={creator}
              data-done={count('done')}
              data-total={list.length}
            >
              <td>
                <span class="mono">{creator}</span>
                {inst && (
                  <span class="dim">
                    {' '}
                    {inst.role} {inst.name}
                  </span>
                )}
              </td>
              <td class="num">
                {count('done')}/{list.length}
              </td>
              <td class="num">{count('claimed')}</td>
              <td class="num">{count('ready')}</td>
              <td class="num">{count('blocked')}</td>
              <td class="num">{count('failed')}</td>
              <td>
                <ProgressBar percent={(100 * count('done')) / list.length} />
              </td>
            </tr>
          );
        })}
        <tr class="total" data-testid="rollup-total" data-done={done} data-total={tasks.length}>
          <td>overall</td>
          <td class="num">
            {done}/{tasks.length}
          </td>
          <td colSpan={4} />
          <td>
            <ProgressBar percent={tasks.length ? (100 * done) / tasks.length : null} />
          </td>
        </tr>
      </tbody>
    </table>
  );
}

export function TaskDetail({ task }: { task: TaskView }) {
  return (
    <div class="task-detail" data-testid="task-detail" data-task-id={task.id}>
      <div class="task-detail-head">
        <b class="mono">{task.id}</b> <span class={`badge ${stateClass(task.state)}`}>{task.state}</span>
        {task.merged && <span class="badge st-merged">merged</span>} <b>{task.title}</b>
        <span class="spacer" />
        <ReassignButton task={task} />
      </div>
      <dl class="kv">
        <dt>owner</dt>
        <dd class="mono">{task.owner ?? '–'}</dd>
        <dt>assignee</dt>
        <dd class="mono">{task.assignee ?? '–'}</dd>
        <dt>created by</dt>
        <dd class="mono">{task.created_by}</dd>
        <dt>epoch / attempts</dt>
        <dd>
          e{task.epoch} · {task.attempts}/{task.max_attempts}
          {task.lease_expires_at ? ` · lease until ${task.lease_expires_at}` : ''}
        </dd>
        <dt>depends on</dt>
        <dd class="mono">{task.depends_on.join(', ') || '–'}</dd>
        <dt>files</dt>
        <dd class="mono">{task.files.join(', ') || '–'}</dd>
        <dt>branch</dt>
        <dd class="mono">{task.branch ?? '–'}</dd>
        {task.result && (
          <>
            <dt>result</dt>
            <dd class="mono">{clip(task.result, 500)}</dd>
          </>
        )}
        {task.error && (
          <>
            <dt>error</dt>
            <dd class="bad">{clip(task.error, 1000)}</dd>
          </>
        )}
      </dl>
      <details>
        <summary>description</summary>
        <pre class="body">{task.description}</pre>
      </details>
    </div>
  );
}

/** The run's task graph, per-creator progress and the task list. */
export function Tasks() {
  const l = useLive('tasks', 'conflicts', 'instances');
  const [selected, setSelected] = useState<string | null>(null);
  const tasks = l.tasks;
  const waiting = new Set(l.conflicts?.tasksWaitingOnFiles ?? []);
  const sel = tasks.find((t) => t.id === selected) ?? null;
  return (
    <section class="panel tasks" data-testid="panel-tasks">
      <div class="panel-head">
        <h2>Tasks</h2>
        <span class="dim">{tasks.length} in this run</span>
        <span class="spacer" />
        <span class="legend">
          {['blocked', 'ready', 'claimed', 'done', 'failed'].map((s) => (
            <span key={s} class={`badge ${stateClass(s)}`}>
              {s}
            </span>
          ))}
        </span>
      </div>
      {l.errors.tasks && <div class="error-line">{l.errors.tasks}</div>}
      <div class="scroll">
        {tasks.length === 0 ? (
          <div class="empty" data-testid="tasks-empty">
            {l.runId === null ? 'No run yet.' : l.loaded.has('tasks') ? 'No tasks in this run.' : 'loading…'}
          </div>
        ) : (
          <>
            <TaskGraph tasks={tasks} waiting={waiting} selected={selected} onSelect={setSelected} />
            {sel && <TaskDetail task={sel} />}
            <h3>Progress by creator</h3>
            <Rollup tasks={tasks} instances={l.instances} />
            <h3>All tasks</h3>
            <table class="grid" data-testid="tasks-table">
              <thead>
                <tr>
                  <th>id</th>
                  <th>title</th>
                  <th>state</th>
                  <th>depends on</th>
                  <th>owner</th>
                  <th>epoch</th>
                  <th>tries</th>
                  <th>branch</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {tasks.map((t) => (
                  <tr
                    key={t.id}
                    class={selected === t.id ? 'selected' : ''}
                    data-testid="task-row"
                    data-task-id={t.id}
                    data-state={t.state}
                    data-owner={t.owner ?? ''}
                    onClick={() => setSelected(t.id)}
                  >
                    <td class="mono">{t.id}</td>
                    <td title={t.title}>
                      {clip(t.title, 60)}
                      {waiting.has(t.id) && <span class="warn"> · waiting on files</span>}
                    </td>
                    <td>
                      <span class={`badge ${stateClass(t.state)}`}>{t.state}</span>
                      {t.merged && <span class="dim"> merged</span>}
                    </td>
                    <td class="mono dim">{t.depends_on.join(', ')}</td>
                    <td class="mono">{t.owner ?? (t.assignee ? `(${t.assignee})` : '–')}</td>
                    <td class="num">{t.epoch}</td>
                    <td class="num">
                      {t.attempts}/{t.max_attempts}
                    </td>
                    <td class="mono dim" title={t.branch ?? ''}>
                      {clip(t.branch ?? '', 40)}
                    </td>
                    <td>
                      <ReassignButton task={t} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </div>
    </section>
  );
}
