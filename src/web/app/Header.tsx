import { clip, fmtDateTime } from './format';
import { useLive } from './hooks';
import { ProgressBar } from './Hierarchy';

const CONNECTION_LABEL: Record<string, string> = {
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  closed: 'disconnected',
};

/** Run selector, the run's overall progress and the state of the live stream. */
export function Header() {
  const l = useLive('runs', 'tasks', 'instances', 'connection');
  const run = l.run;
  const tasks = l.tasks;
  const done = tasks.filter((t) => t.state === 'done').length;
  const failed = tasks.filter((t) => t.state === 'failed').length;
  const insts = l
    .runInstances()
    .filter((i) => i.progress?.percent !== null && i.progress?.percent !== undefined);
  const percent =
    tasks.length > 0
      ? (100 * done) / tasks.length
      : insts.length > 0
        ? insts.reduce((a, i) => a + (i.progress?.percent ?? 0), 0) / insts.length
        : null;
  return (
    <header class="header" data-testid="header">
      <span class="brand">tmux-claude</span>
      <label class="run-select">
        run{' '}
        <select
          data-testid="run-select"
          value={l.runId ?? ''}
          onChange={(e) => l.selectRun(e.currentTarget.value)}
          disabled={l.runs.length === 0}
        >
          {l.runs.length === 0 && <option value="">no runs yet</option>}
          {l.runs.map((r) => (
            <option key={r.id} value={r.id}>
              {r.id}
              {r.createdAt ? ` · ${fmtDateTime(r.createdAt)}` : ''}
              {r.goal ? ` · ${clip(r.goal.trim().split('\n')[0] ?? '', 60)}` : ''}
            </option>
          ))}
        </select>
      </label>
      {run?.goal && (
        <span class="goal" title={run.goal} data-testid="run-goal">
          {clip(run.goal.trim().split('\n')[0] ?? '', 140)}
        </span>
      )}
      <span class="spacer" />
      <span
        class="overall"
        data-testid="overall-progress"
        data-done={done}
        data-total={tasks.length}
        data-failed={failed}
        title={
          tasks.length > 0 ? 'tasks done / total in this run' : 'mean reported progress of the instances'
        }
      >
        {tasks.length > 0 ? `${done}/${tasks.length} tasks` : 'progress'}
        {failed > 0 && <span class="bad"> · {failed} failed</span>}
        <ProgressBar percent={percent} />
      </span>
      <span class="conn" data-testid="connection-status" data-state={l.connection} title="live event stream">
        <span class={`dot conn-${l.connection}`} />
        {CONNECTION_LABEL[l.connection] ?? l.connection}
      </span>
    </header>
  );
}
