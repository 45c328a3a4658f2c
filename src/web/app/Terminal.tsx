import type { Terminal as XTerm } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { screenToAnsi } from './ansi';
import { api, isLive, type InstanceView, type TerminalScreen } from './api';

type Status = 'connecting' | 'live' | 'ended' | 'unavailable';

/** xterm.js is loaded when a terminal is first shown, not with the page. */
async function loadXterm() {
  const [xterm, fit] = await Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit')]);
  return { Terminal: xterm.Terminal, FitAddon: fit.FitAddon };
}

const STATUS_LABEL: Record<Status, string> = {
  connecting: 'connecting…',
  live: 'live',
  ended: 'the pane is gone',
  unavailable: 'no terminal (the tmux session is gone or the server refused)',
};

/**
 * The focused instance's tmux pane, live. Read-only unless the user switches it to interactive; then every
 * keystroke goes to the agent and the server records it in the audit trail (`dashboard.input`).
 */
export function Terminal({ instance }: { instance: InstanceView }) {
  const box = useRef<HTMLDivElement>(null);
  const termRef = useRef<XTerm | null>(null);
  const interactiveRef = useRef(false);
  const [status, setStatus] = useState<Status>('connecting');
  const [interactive, setInteractive] = useState(false);
  const [fitWidth, setFitWidth] = useState(true);
  const fitRef = useRef(true);
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);
  const [inputError, setInputError] = useState<string | null>(null);
  const [sent, setSent] = useState(0);
  const id = instance.id;

  const gone = instance.state === 'terminated';
  useEffect(() => {
    const el = box.current;
    if (!el || gone) return;
    let disposed = false;
    let unmount: (() => void) | null = null;
    setStatus('connecting');
    loadXterm().then(
      (x) => {
        if (!disposed) unmount = mount(el, x);
      },
      (err: unknown) => {
        setStatus('unavailable');
        setInputError(`could not load the terminal: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    return () => {
      disposed = true;
      unmount?.();
    };
  }, [id, gone]);

  /** Opens the terminal in `el` and follows the pane; returns its teardown. */
  function mount(el: HTMLDivElement, x: Awaited<ReturnType<typeof loadXterm>>): () => void {
    const term = new x.Terminal({
      disableStdin: true,
      scrollback: 0,
      fontSize: 12,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      cursorBlink: false,
      cursorStyle: 'block',
      theme: { background: '#0b0e14', foreground: '#d6deeb' },
    });
    const fit = new x.FitAddon();
    term.loadAddon(fit);
    term.open(el);
    termRef.current = term;
    let last: TerminalScreen | null = null;

    // Fit the pane's width into the box by the font size (the pane's size is fixed by tmux).
    const fitFont = (): void => {
      if (!last) return;
      if (!fitRef.current) {
        if (term.options.fontSize !== 12) term.options.fontSize = 12;
        return;
      }
      const dims = fit.proposeDimensions();
      if (!dims || !Number.isFinite(dims.cols) || dims.cols <= 0) return;
      const current = term.options.fontSize ?? 12;
      const next = Math.max(6, Math.min(14, Math.floor(((current * dims.cols) / last.width) * 2) / 2));
      if (Math.abs(next - current) >= 0.5) term.options.fontSize = next;
    };

    const es = new EventSource(api.terminalUrl(id));
    es.addEventListener('open', () => setStatus('live'));
    es.addEventListener('screen', (e) => {
      let s: TerminalScreen;
      try {
        s = JSON.parse((e as MessageEvent<string>).data) as TerminalScreen;
      } catch {
        return;
      }
      setStatus('live');
      const resized = !last || last.width !== s.width || last.height !== s.height;
      last = s;
      if (resized && s.width > 0 && s.height > 0) {
        term.resize(s.width, s.height);
        setSize({ w: s.width, h: s.height });
        fitFont();
      }
      term.write(screenToAnsi(s));
    });
    es.addEventListener('end', () => {
      setStatus('ended');
      es.close();
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) setStatus((st) => (st === 'ended' ? st : 'unavailable'));
      else setStatus('connecting');
    });

    // Keystrokes are sent in order, coalesced while a request is on its way.
    let pending = '';
    let sending = false;
    const flush = async (): Promise<void> => {
      if (sending || pending === '') return;
      sending = true;
      const data = pending;
      pending = '';
      try {
        await api.input(id, data);
        setInputError(null);
        setSent((n) => n + data.length);
      } catch (err) {
        setInputError(err instanceof Error ? err.message : String(err));
      }
      sending = false;
      if (pending !== '') void flush();
    };
    const onData = term.onData((data) => {
      if (!interactiveRef.current) return;
      pending += data;
      void flush();
    });

    const ro = new ResizeObserver(() => fitFont());
    ro.observe(el);
    const refit = (): void => fitFont();
    el.addEventListener('tmux-claude-refit', refit);
    if (interactiveRef.current) {
      term.options.disableStdin = false;
      term.focus();
    }
    return () => {
      el.removeEventListener('tmux-claude-refit', refit);
      ro.disconnect();
      es.close();
      onData.dispose();
      term.dispose();
      termRef.current = null;
    };
  }

  useEffect(() => {
    interactiveRef.current = interactive;
    const term = termRef.current;
    if (!term) return;
    term.options.disableStdin = !interactive;
    term.options.cursorBlink = interactive;
    if (interactive) term.focus();
    else term.blur();
  }, [interactive]);

  useEffect(() => {
    fitRef.current = fitWidth;
    box.current?.dispatchEvent(new Event('tmux-claude-refit'));
  }, [fitWidth]);

  if (gone) {
    return (
      <div
        class="terminal"
        data-testid="terminal"
        data-instance-id={id}
        data-status="ended"
        data-interactive="false"
      >
        <div class="terminal-bar">
          <span class="dot term-ended" />
          <span data-testid="terminal-status">the instance is terminated; its terminal is gone</span>
        </div>
      </div>
    );
  }
  const canType = isLive(instance.state) && status === 'live';
  return (
    <div
      class={`terminal${interactive ? ' interactive' : ''}`}
      data-testid="terminal"
      data-instance-id={id}
      data-status={status}
      data-interactive={String(interactive)}
    >
      <div class="terminal-bar">
        <span class={`dot term-${status}`} />
        <span data-testid="terminal-status">{STATUS_LABEL[status]}</span>
        {size && (
          <span class="dim">
            {' '}
            · {size.w}×{size.h}
          </span>
        )}
        <span class="spacer" />
        <label class="check small">
          <input
            type="checkbox"
            data-testid="terminal-fit"
            checked={fitWidth}
            onChange={(e) => setFitWidth(e.currentTarget.checked)}
          />
          fit width
        </label>
        <label class={`check small switch${interactive ? ' on' : ''}`}>
          <input
            type="checkbox"
            data-testid="terminal-interactive"
            checked={interactive}
            disabled={!canType && !interactive}
            onChange={(e) => setInteractive(e.currentTarget.checked)}
          />
          interactive
        </label>
      </div>
      {interactive && (
        <div class="terminal-warning" data-testid="terminal-interactive-warning">
          Interactive: what you type goes straight to the agent in {instance.tmuxSession} and is recorded in
          the audit trail (dashboard.input).{sent > 0 ? ` ${sent} character(s) sent.` : ''}
        </div>
      )}
      {inputError && (
        <div class="error-line" data-testid="terminal-input-error">
          input refused: {inputError}
        </div>
      )}
      <div ref={box} class={`terminal-box${status === 'live' ? '' : ' waiting'}`} />
    </div>
  );
}
