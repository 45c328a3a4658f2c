import { StateBadge, ProgressBar } from './Hierarchy';
import { budgetMeters, fmtDateTime } from './format';
import { useLive } from './hooks';

/** Budgets of the run on screen: per subtree, what it used of each limit; a paused subtree stands out. */
export function Budgets(props: { onFocus: (id: string) => void }) {
  const l = useLive('budgets');
  return (
    <section class="panel budgets" data-testid="panel-budgets">
      <div class="panel-head">
        <h2>Budgets</h2>
        <span class="dim">
          {l.budgets.length} subtree(s) · {l.budgets.filter((b) => b.state === 'paused').length} paused
        </span>
      </div>
      {l.errors.budgets && <div class="error-line">{l.errors.budgets}</div>}
      <div class="scroll">
        {l.budgets.length === 0 ? (
          <div class="empty">
            {l.loaded.has('budgets')
              ? 'No budgets in this run (set them with `tmux-claude run --max-tokens N …` or spawn budgets).'
              : 'loading…'}
          </div>
        ) : (
          <table class="grid">
            <thead>
              <tr>
                <th>subtree</th>
                <th>state</th>
                <th>used / allowed</th>
                <th>since</th>
              </tr>
            </thead>
            <tbody>
              {l.budgets.map((b) => (
                <tr
                  key={b.root}
                  data-testid="budget-row"
                  data-root={b.root}
                  data-state={b.state}
                  class={b.state === 'paused' ? 'warn-row' : ''}
                >
                  <td>
                    <button type="button" class="link mono" onClick={() => props.onFocus(b.root)}>
                      {b.name ?? b.root}
                    </button>{' '}
                    <span class="dim">{b.role ?? ''}</span>{' '}
                    {b.rootState && <StateBadge state={b.rootState} />}
                  </td>
                  <td>
                    <span class={b.state === 'paused' ? 'bad' : ''}>
                      {b.state}
                      {b.pausedFor ? ` (${b.pausedFor})` : ''}
                    </span>
                  </td>
                  <td>
                    <ul class="meters">
                      {budgetMeters(b).map((m) => (
                        <li
                          key={m.label}
                          data-testid="budget-meter"
                          data-resource={m.label}
                          data-level={m.level}
                        >
                          <span class="meter-label">{m.label}</span>
                          {m.percent !== null && <ProgressBar percent={m.percent} />}
                          <span class={`mono ${m.level === 'ok' ? '' : m.level}`}>
                            {m.used}
                            {m.limit === null ? ' (no limit)' : ` / ${m.limit}`}
                          </span>
                        </li>
                      ))}
                    </ul>
                  </td>
                  <td class="dim">{fmtDateTime(b.startedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
