import type { TerminalScreen } from './api';

/** One frame of the pane: clear, each row at its place (colours as tmux captured them), then the cursor. */
export function screenToAnsi(s: TerminalScreen): string {
  const rows = s.text.split('\n');
  let out = '\x1b[0m\x1b[2J\x1b[3J';
  rows.forEach((row, i) => {
    if (i < s.height) out += `\x1b[${i + 1};1H${row.replace(/\r/g, '')}`;
  });
  return `${out}\x1b[0m\x1b[${s.cursorY + 1};${s.cursorX + 1}H`;
}
