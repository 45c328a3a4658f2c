import { useEffect, useState } from 'preact/hooks';
import { ActionDialogs, ActionOutcomes } from './actions';
import { Audit } from './Audit';
import { Budgets } from './Budgets';
import { Conflicts } from './Conflicts';
import { Header } from './Header';
import { Hierarchy } from './Hierarchy';
import { useLive } from './hooks';
import { InstanceDetails } from './Instance';
import { Messages } from './Messages';
import { Resources } from './Resources';
import { Tasks } from './Tasks';

export const TABS = ['instance', 'messages', 'tasks', 'conflicts', 'budgets', 'resources', 'audit'] as const;
export type Tab = (typeof TABS)[number];

const TAB_LABEL: Record<Tab, string> = {
  instance: 'Instance',
  messages: 'Messages',
  tasks: 'Tasks',
  conflicts: 'Conflicts',
  budgets: 'Budgets',
  resources: 'Resources',
  audit: 'Audit',
};

/** `#tasks`, `#instance/ID`: the view survives a reload and can be linked. */
function readHash(): { tab: Tab; focus: string | null } {
  const [tab = '', focus = ''] = decodeURIComponent(location.hash.slice(1)).split('/');
  return {
    tab: (TABS as readonly string[]).includes(tab) ? (tab as Tab) : 'messages',
    focus: focus || null,
  };
}

function TabBadge({ tab }: { tab: Tab }) {
  const l = useLive('messages', 'conflicts', 'tasks', 'budgets');
  let n = 0;
  let title = '';
  if (tab === 'messages') {
    n = l.messages.filter((m) => m.state === 'dead').length;
    title = 'dead letters';
  } else if (tab === 'conflicts' && l.conflicts) {
    n = l.conflicts.reservationOverlaps.length + l.conflicts.worktreeOverlaps.length;
    title = 'overlaps';
  } else if (tab === 'budgets') {
    n = l.budgets.filter((b) => b.state === 'paused').length;
    title = 'paused subtrees';
  } else if (tab === 'tasks') {
    n = l.tasks.filter((t) => t.state === 'failed').length;
    title = 'failed tasks';
  }
  return n > 0 ? (
    <span class="tab-badge" title={title} data-testid={`tab-badge-${tab}`}>
      {n}
    </span>
  ) : null;
}

export function App() {
  const initial = readHash();
  const [tab, setTab] = useState<Tab>(initial.tab);
  const [focus, setFocus] = useState<string | null>(initial.focus);

  useEffect(() => {
    const next = `#${tab}${focus ? `/${encodeURIComponent(focus)}` : ''}`;
    if (location.hash !== next) history.replaceState(null, '', next);
  }, [tab, focus]);

  const onFocus = (id: string): void => {
    setFocus(id);
    setTab('instance');
  };

  return (
    <div class="app" data-testid="app">
      <Header />
      <div class="body">
        <aside class="side">
          <Hierarchy focusId={focus} onFocus={onFocus} />
        </aside>
        <main class="main">
          <nav class="tabs" role="tablist" data-testid="tabs">
            {TABS.map((t) => (
              <button
                key={t}
                type="button"
                role="tab"
                class={`tab${tab === t ? ' active' : ''}`}
                aria-selected={tab === t}
                data-testid={`tab-${t}`}
                onClick={() => setTab(t)}
              >
                {TAB_LABEL[t]}
                {t === 'instance' && focus ? <span class="dim mono"> {focus}</span> : null}
                <TabBadge tab={t} />
              </button>
            ))}
          </nav>
          <div class="tab-body" role="tabpanel" data-testid={`tabpanel-${tab}`}>
            {tab === 'instance' && <InstanceDetails id={focus} onFocus={onFocus} />}
            {tab === 'messages' && <Messages />}
            {tab === 'tasks' && <Tasks />}
            {tab === 'conflicts' && <Conflicts />}
            {tab === 'budgets' && <Budgets onFocus={onFocus} />}
            {tab === 'resources' && <Resources />}
            {tab === 'audit' && <Audit />}
          </div>
        </main>
      </div>
      <ActionDialogs />
      <ActionOutcomes />
    </div>
  );
}
