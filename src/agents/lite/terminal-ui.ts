import type { ToolCall, ToolOutcome } from './tool-types.js';

/** What the runtime shows the person (or tmux capture-pane) watching the pane. */
export interface RuntimeUi {
  /** Echo of a prompt that was submitted. */
  prompt(text: string): void;
  assistantText(text: string): void;
  toolCall(call: ToolCall): void;
  toolResult(call: ToolCall, outcome: ToolOutcome): void;
  notice(text: string): void;
  error(text: string): void;
  setBusy(busy: boolean): void;
}

/** One display line: tabs as spaces, cut to `width` characters with an ellipsis. */
export function fitLine(text: string, width: number): string {
  const chars = Array.from(text.replace(/\t/g, ' '));
  const w = Math.max(8, width);
  return chars.length <= w ? chars.join('') : `${chars.slice(0, w - 1).join('')}…`;
}

function firstLine(text: string): string {
  const lines = text.split('\n');
  const more = lines.length > 1 ? ` … (+${lines.length - 1} lines)` : '';
  return `${lines[0] ?? ''}${more}`;
}

/** Options of {@link TerminalUi}. */
export interface TerminalUiOptions {
  out: { write(s: string): unknown };
  /** Use ANSI sequences (line redraw, pane title); off when stdout is not a terminal. */
  ansi: boolean;
  columns: () => number;
  /** Pane title prefix, e.g. `tmux-claude spec-abc123`. */
  title?: string;
}

/**
 * Compact, plain output that reads well through `tmux capture-pane`: `> prompt`, `● tool {json}`,
 * `  ⎿ result`, model text. The input line `> …` stays at the bottom and is redrawn after each output line.
 */
export class TerminalUi implements RuntimeUi {
  private input = '';
  private busy = false;

  constructor(private readonly opts: TerminalUiOptions) {}

  /** Redraws the input line with the current, unsubmitted text. */
  renderInput(buffer: string): void {
    this.input = buffer;
    if (this.opts.ansi) this.opts.out.write(`\r\x1b[K${this.inputLine()}`);
  }

  prompt(text: string): void {
    this.input = '';
    this.line(fitLine(`> ${firstLine(text)}`, this.width()));
  }

  assistantText(text: string): void {
    const lines = text.trimEnd().split('\n');
    lines.forEach((l, i) => this.line(`${i === 0 ? '●' : ' '} ${l}`));
  }

  toolCall(call: ToolCall): void {
    this.line(fitLine(`● ${call.name} ${JSON.stringify(call.input)}`, this.width()));
  }

  toolResult(_call: ToolCall, outcome: ToolOutcome): void {
    const text = outcome.isError ? `error: ${outcome.content}` : outcome.content;
    this.line(fitLine(`  ⎿ ${firstLine(text.trim())}`, this.width()));
  }

  notice(text: string): void {
    this.line(fitLine(`  ${text}`, this.width()));
  }

  error(text: string): void {
    this.line(fitLine(`✖ ${text}`, this.width()));
  }

  setBusy(busy: boolean): void {
    this.busy = busy;
    if (this.opts.ansi && this.opts.title) {
      this.opts.out.write(`\x1b]2;${this.opts.title} ${busy ? 'busy' : 'idle'}\x07`);
    }
    if (this.opts.ansi) this.renderInput(this.input);
  }

  /** Clears the input line before the process exits. */
  finish(): void {
    if (this.opts.ansi) this.opts.out.write('\r\x1b[K');
  }

  private width(): number {
    return this.opts.columns();
  }

  private inputLine(): string {
    const flat = this.input.replace(/\n/g, '⏎').replace(/\t/g, ' ');
    const room = Math.max(8, this.width() - (this.busy ? 14 : 3));
    const chars = Array.from(flat);
    const shown = chars.length > room ? `…${chars.slice(chars.length - room + 1).join('')}` : flat;
    return `${this.busy ? '(busy) ' : ''}> ${shown}`;
  }

  private line(text: string): void {
    if (this.opts.ansi) this.opts.out.write(`\r\x1b[K${text}\n${this.inputLine()}`);
    else this.opts.out.write(`${text}\n`);
  }
}
