import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, isLive, type InstanceView, type TaskView } from './api';
import { clip } from './format';
import { live } from './live';

/** What the user asked for; nothing is sent before they confirm it in the dialog. */
export type ActionRequest =
  | { kind: 'restart'; instance: InstanceView }
  | { kind: 'kill'; instance: InstanceView }
  | { kind: 'send'; instance: InstanceView }
  | { kind: 'reassign'; task: TaskView };

export interface ActionOutcome {
  id: number;
  action: string;
  target: string;
  ok: boolean;
  message: string;
}

type Listener = () => void;

/** The open dialog and the outcomes shown as notices. */
class ActionState {
  request: ActionRequest | null = null;
  outcomes: ActionOutcome[] = [];
  private nextId = 1;
  private listeners = new Set<Listener>();

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  private notify(): void {
    for (const fn of [...this.listeners]) fn();
  }
  open(request: ActionRequest): void {
    this.request = request;
    this.notify();
  }
  close(): void {
    this.request = null;
    this.notify();
  }
  report(o: Omit<ActionOutcome, 'id'>): void {
    const outcome = { ...o, id: this.nextId++ };
    this.outcomes = [...this.outcomes, outcome].slice(-5);
    this.notify();
    if (o.ok) setTimeout(() => this.dismiss(outcome.id), 15_000);
  }
  dismiss(id: number): void {
    this.outcomes = this.outcomes.filter((o) => o.id !== id);
    this.notify();
  }
}

export const actions = new ActionState();

function useActions(): ActionState {
  const [, setV] = useState(0);
  useEffect(() => actions.subscribe(() => setV((n) => n + 1)), []);
  return actions;
}

/** Runs a confirmed action and reports how it ended. */
async function perform(
  action: string,
  target: string,
  run: () => Promise<unknown>,
  ok: (r: unknown) => string,
) {
  try {
    const r = await run();
    actions.report({ action, target, ok: true, message: ok(r) });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    actions.report({
      action,
      target,
      ok: false,
      message: `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`,
    });
  }
}

function summary(r: unknown): string {
  if (r && typeof r === 'object') {
    const parts = Object.entries(r as Record<string, unknown>)
      .filter(([, v]) => v === null || Array.isArray(v) || ['string', 'number', 'boolean'].includes(typeof v))
      .slice(0, 5)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.map(String).join(', ') || 'none' : String(v)}`);
    if (parts.length > 0) return clip(parts.join('; '), 400);
  }
  return 'done';
}

function Dialog(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  disabled?: boolean;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ok = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !props.busy) props.onCancel();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });
  return (
    <div class="modal-backdrop" data-testid="confirm-backdrop">
      <div
        class="modal"
        role="dialog"
        aria-modal="true"
        aria-label={props.title}
        data-testid="confirm-dialog"
      >
        <h3>{props.title}</h3>
        <div class="modal-body">{props.children}</div>
        <div class="modal-buttons">
          <button type="button" data-testid="confirm-cancel" disabled={props.busy} onClick={props.onCancel}>
            Cancel
          </button>
          <button
            type="button"
            ref={ok}
            class={props.danger ? 'danger' : 'primary'}
            data-testid="confirm-ok"
            disabled={props.busy || props.disabled}
            onClick={props.onConfirm}
          >
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

function RestartDialog({ instance }: { instance: InstanceView }) {
  const [busy, setBusy] = useState(false);
  return (
    <Dialog
      title={`Restart ${instance.id}?`}
      confirmLabel="Restart"
      busy={busy}
      onCancel={() => actions.close()}
      onConfirm={() => {
        setBusy(true);
        void perform('restart', instance.id, () => api.restart(instance.id), summary).then(() =>
          actions.close(),
        );
      }}
    >
      <p>
        The agent of <b>{instance.name}</b> ({instance.role}, {instance.state}) is stopped and started again
        in its tmux session. Its worktree, branch and unacknowledged messages are kept.
      </p>
    </Dialog>
  );
}

function KillDialog({ instance }: { instance: InstanceView }) {
  const [busy, setBusy] = useState(false);
  const [cascade, setCascade] = useState(false);
  const children = live.instances.filter((i) => i.parentId === instance.id && isLive(i.state)).length;
  return (
    <Dialog
      title={`Terminate ${instance.id}?`}
      confirmLabel="Terminate"
      danger
      busy={busy}
      onCancel={() => actions.close()}
      onConfirm={() => {
        setBusy(true);
        void perform('kill', instance.id, () => api.kill(instance.id, cascade), summary).then(() =>
          actions.close(),
        );
      }}
    >
      <p>
        <b>{instance.name}</b> ({instance.role}) is stopped for good. A worktree holding unmerged commits is
        kept.
      </p>
      <label class="check">
        <input
          type="checkbox"
          data-testid="kill-cascade"
          checked={cascade}
          onChange={(e) => setCascade(e.currentTarget.checked)}
        />
        also terminate everything below it (cascade
        {children > 0 ? `: ${children} live child instance(s)` : ''})
      </label>
    </Dialog>
  );
}

function SendDialog({ instance }: { instance: InstanceView }) {
  const [busy, setBusy] = useState(false);
  const [text, setText] = useState('');
  return (
    <Dialog
      title={`Send a message to ${instance.id}`}
      confirmLabel="Send"
      busy={busy}
      disabled={text.trim() === ''}
      onCancel={() => actions.close()}
      onConfirm={() => {
        setBusy(true);
        void perform('send', instance.id, () => api.send(instance.id, text), summary).then(() =>
          actions.close(),
        );
      }}
    >
      <p>The text is typed into the agent as a prompt from the user (recorded in the audit trail).</p>
      <textarea
        data-testid="send-text"
        rows={5}
        value={text}
        placeholder="Message…"
        onInput={(e) => setText(e.currentTarget.value)}
      />
    </Dialog>
  );
}

function ReassignDialog({ task }: { task: TaskView }) {
  const [busy, setBusy] = useState(false);
  const [to, setTo] = useState('');
  const candidates = live
    .runInstances()
    .filter((i) => isLive(i.state) && i.role !== 'executive' && i.id !== task.owner);
  return (
    <Dialog
      title={`Reassign task ${task.id}?`}
      confirmLabel="Reassign"
      danger
      busy={busy}
      onCancel={() => actions.close()}
      onConfirm={() => {
        setBusy(true);
        void perform(
          'reassign',
          task.id,
          () => api.reassign(task.id, to || null),
          (r) => {
            const t = r as Partial<TaskView> | null;
            return t?.state ? `task ${task.id} is ${t.state}${to ? `, offered to ${to}` : ''}` : summary(r);
          },
        ).then(() => actions.close());
      }}
    >
      <p>
        <b>{clip(task.title, 120)}</b> ({task.state}
        {task.owner ? `, held by ${task.owner}` : ''}) goes back to ready; the current holder's lease is
        fenced out (its completion will be refused).
      </p>
      <label>
        Then offer it to{' '}
        <select data-testid="reassign-to" value={to} onChange={(e) => setTo(e.currentTarget.value)}>
          <option value="">nobody (any instance may claim it)</option>
          {candidates.map((i) => (
            <option key={i.id} value={i.id}>
              {i.id} — {i.role} {i.name} ({i.state})
            </option>
          ))}
        </select>
      </label>
    </Dialog>
  );
}

/** The confirm dialog of the pending action, if any. */
export function ActionDialogs() {
  const a = useActions();
  const r = a.request;
  if (!r) return null;
  switch (r.kind) {
    case 'restart':
      return <RestartDialog key={`r-${r.instance.id}`} instance={r.instance} />;
    case 'kill':
      return <KillDialog key={`k-${r.instance.id}`} instance={r.instance} />;
    case 'send':
      return <SendDialog key={`s-${r.instance.id}`} instance={r.instance} />;
    case 'reassign':
      return <ReassignDialog key={`t-${r.task.id}`} task={r.task} />;
  }
}

/** How the confirmed actions ended: successes fade after a while, errors stay until dismissed. */
export function ActionOutcomes() {
  const a = useActions();
  if (a.outcomes.length === 0) return null;
  return (
    <div class="toasts" data-testid="action-results">
      {a.outcomes.map((o) => (
        <div
          key={o.id}
          class={`toast ${o.ok ? 'ok' : 'err'}`}
          data-testid="action-result"
          data-action={o.action}
          data-target={o.target}
          data-ok={String(o.ok)}
        >
          <span class="toast-title">
            {o.action} {o.target}: {o.ok ? 'ok' : 'failed'}
          </span>
          <span class="toast-msg">{o.message}</span>
          <button
            type="button"
            class="link"
            data-testid="action-result-dismiss"
            onClick={() => a.dismiss(o.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/** The action buttons of an instance (details pane). */
export function InstanceActions({ instance }: { instance: InstanceView }) {
  const liveNow = isLive(instance.state);
  return (
    <div class="actions" data-testid="instance-actions">
      <button
        type="button"
        data-testid="action-restart"
        onClick={() => actions.open({ kind: 'restart', instance })}
      >
        Restart
      </button>
      <button
        type="button"
        class="danger"
        data-testid="action-kill"
        disabled={instance.state === 'terminated'}
        onClick={() => actions.open({ kind: 'kill', instance })}
      >
        Terminate
      </button>
      <button
        type="button"
        data-testid="action-send"
        disabled={!liveNow}
        onClick={() => actions.open({ kind: 'send', instance })}
      >
        Send message
      </button>
    </div>
  );
}

export function ReassignButton({ task }: { task: TaskView }) {
  const disabled = task.state === 'done' || task.state === 'failed';
  return (
    <button
      type="button"
      data-testid="action-reassign"
      data-task-id={task.id}
      disabled={disabled}
      title={
        disabled
          ? `a ${task.state} task cannot be reassigned`
          : 'return the task to ready and optionally offer it to an instance'
      }
      onClick={(e) => {
        e.stopPropagation();
        actions.open({ kind: 'reassign', task });
      }}
    >
      Reassign
    </button>
  );
}
