import type { Reservation } from './api';
import { clip, fmtTime } from './format';
import { useLive } from './hooks';

function Res({ r }: { r: Reservation }) {
  return (
    <span>
      <span class="mono">{r.pattern}</span> <span class="dim">({r.mode})</span> held by{' '}
      <span class="mono">{r.holder}</span>
      {r.taskId && <span class="dim"> for task {r.taskId}</span>}
    </span>
  );
}

/** Where work may collide: overlapping reservations, files changed in two worktrees, tasks waiting on files. */
export function Conflicts() {
  const l = useLive('conflicts', 'tasks');
  const c = l.conflicts;
  const tasks = new Map(l.tasks.map((t) => [t.id, t]));
  return (
    <section class="panel conflicts" data-testid="panel-conflicts">
      <div class="panel-head">
        <h2>File conflicts</h2>
        {c && (
          <span
            class="dim"
            data-testid="conflicts-summary"
            data-reservation-overlaps={c.reservationOverlaps.length}
            data-worktree-overlaps={c.worktreeOverlaps.length}
            data-waiting={c.tasksWaitingOnFiles.length}
          >
            {c.reservationOverlaps.length} reservation overlap(s) · {c.worktreeOverlaps.length} file(s)
            changed in several worktrees · {c.tasksWaitingOnFiles.length} task(s) waiting
          </span>
        )}
      </div>
      {l.errors.conflicts && <div class="error-line">{l.errors.conflicts}</div>}
      <div class="scroll">
        {!c ? (
          <div class="empty">{l.loaded.has('conflicts') ? 'No run selected.' : 'loading…'}</div>
        ) : (
          <>
            <h3>Reservation overlaps</h3>
            {c.reservationOverlaps.length === 0 ? (
              <div class="empty small">none</div>
            ) : (
              <ul class="list">
                {c.reservationOverlaps.map(({ a, b }) => (
                  <li
                    key={`${a.id}-${b.id}`}
                    data-testid="reservation-overlap"
                    data-a={a.holder}
                    data-b={b.holder}
                    class="warn-row"
                  >
                    <Res r={a} /> <b>⟷</b> <Res r={b} />
                  </li>
                ))}
              </ul>
            )}
            <h3>Files changed in more than one worktree</h3>
            {c.worktreeOverlaps.length === 0 ? (
              <div class="empty small">none</div>
            ) : (
              <table class="grid">
                <thead>
                  <tr>
                    <th>path</th>
                    <th>changed by</th>
                  </tr>
                </thead>
                <tbody>
                  {c.worktreeOverlaps.map((o) => (
                    <tr key={o.path} data-testid="worktree-overlap" data-path={o.path} class="warn-row">
                      <td class="mono">{o.path}</td>
                      <td>
                        {o.instances.map((i) => (
                          <div key={i.id}>
                            <span class="mono">{i.id}</span>
                            {i.taskId && <span class="dim"> task {i.taskId}</span>}
                            {i.branch && <span class="dim mono"> ⎇ {i.branch}</span>}
                          </div>
                        ))}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <h3>Ready tasks waiting on files</h3>
            {c.tasksWaitingOnFiles.length === 0 ? (
              <div class="empty small">none</div>
            ) : (
              <ul class="list">
                {c.tasksWaitingOnFiles.map((id) => {
                  const t = tasks.get(id);
                  return (
                    <li key={id} data-testid="task-waiting" data-task-id={id}>
                      <span class="mono">{id}</span> {t && clip(t.title, 80)}
                      {t && t.files.length > 0 && <span class="dim mono"> · {t.files.join(', ')}</span>}
                    </li>
                  );
                })}
              </ul>
            )}
          </>
        )}
        <h3>Current reservations</h3>
        {l.reservations.length === 0 ? (
          <div class="empty small">none</div>
        ) : (
          <table class="grid">
            <thead>
              <tr>
                <th>pattern</th>
                <th>mode</th>
                <th>holder</th>
                <th>task</th>
                <th>expires</th>
              </tr>
            </thead>
            <tbody>
              {l.reservations.map((r) => (
                <tr key={r.id} data-testid="reservation-row" data-holder={r.holder}>
                  <td class="mono">{r.pattern}</td>
                  <td>{r.mode}</td>
                  <td class="mono">{r.holder}</td>
                  <td class="mono">{r.taskId ?? '–'}</td>
                  <td class="mono dim">{fmtTime(r.expiresAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
