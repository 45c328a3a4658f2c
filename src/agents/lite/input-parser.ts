import { StringDecoder } from 'node:string_decoder';

/** What a chunk of terminal input meant. */
export type InputEvent =
  /** Text added to the line; `paste` when it came inside a bracketed paste. */
  | { kind: 'insert'; text: string; paste: boolean }
  /** Backspace removed the last character. */
  | { kind: 'erase' }
  /** Ctrl-U emptied the line. */
  | { kind: 'clear' }
  /** Enter (`\r`) outside a paste, with the exact text of the line; the line is emptied. */
  | { kind: 'submit'; text: string }
  /** Ctrl-C outside a paste. */
  | { kind: 'interrupt' }
  /** Ctrl-D on an empty line. */
  | { kind: 'eof' };

const PASTE_START = '\x1b[200~';
const PASTE_END = '\x1b[201~';
// A complete CSI sequence (arrows, function keys, focus events, …) that the line editor ignores.
// eslint-disable-next-line no-control-regex -- matching terminal escape sequences is the point
const CSI = /^\x1b\[[0-9;?<=>]*[ -/]*[@-~]/;
// eslint-disable-next-line no-control-regex -- as above
const CSI_PREFIX = /^\x1b(?:\[[0-9;?<=>]*[ -/]*)?$/;

/** Length of the longest suffix of `text` that is a proper prefix of `marker`. */
function partialMarkerLength(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) {
    if (marker.startsWith(text.slice(text.length - n))) return n;
  }
  return 0;
}

/**
 * A line editor for a raw-mode terminal with bracketed paste. Pure: bytes in, events out; the caller does
 * the echo. Inside `ESC[200~ … ESC[201~` everything is literal (newlines, tabs, control characters) except
 * that CR and CRLF become LF, because tmux's `paste-buffer` sends line breaks as CR. Outside a paste, `\r`
 * submits, `\n` (Ctrl-J) inserts a newline, Ctrl-C interrupts, Ctrl-D on an empty line is end of input,
 * Backspace and Ctrl-U edit, other escape sequences are ignored. Markers and multi-byte UTF-8 characters may
 * be split across chunks.
 */
export class InputParser {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private inPaste = false;
  private pasteEndedWithCR = false;
  private lastWasCR = false;
  private line = '';

  /** The current, unsubmitted line. */
  get buffer(): string {
    return this.line;
  }

  /** True while between the paste start and end markers. */
  get pasting(): boolean {
    return this.inPaste;
  }

  /** Empties the line (e.g. on Ctrl-C while idle). */
  clear(): void {
    this.line = '';
  }

  feed(chunk: Buffer | string): InputEvent[] {
    const events: InputEvent[] = [];
    const s = this.pending + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    this.pending = '';
    let i = 0;
    while (i < s.length) {
      if (this.inPaste) {
        const end = s.indexOf(PASTE_END, i);
        let upto = end === -1 ? s.length : end;
        if (end === -1) {
          const held = partialMarkerLength(s.slice(i), PASTE_END);
          upto = s.length - held;
          this.pending = s.slice(upto);
        }
        this.insert(events, this.normalizePaste(s.slice(i, upto)), true);
        if (end === -1) break;
        this.inPaste = false;
        i = end + PASTE_END.length;
        continue;
      }
      const ch = s[i] ?? '';
      if (ch === '\x1b') {
        const rest = s.slice(i);
        if (rest.startsWith(PASTE_START)) {
          this.inPaste = true;
          this.pasteEndedWithCR = false;
          this.lastWasCR = false;
          i += PASTE_START.length;
          continue;
        }
        if (PASTE_START.startsWith(rest) || CSI_PREFIX.test(rest)) {
          // An incomplete sequence: wait for the rest of it.
          this.pending = rest;
          break;
        }
        const csi = CSI.exec(rest);
        i += csi ? csi[0].length : rest[1] === 'O' && rest.length >= 3 ? 3 : 2;
        this.lastWasCR = false;
        continue;
      }
      const wasCR = this.lastWasCR;
      this.lastWasCR = false;
      if (ch === '\r') {
        this.lastWasCR = true;
        const text = this.line;
        this.line = '';
        events.push({ kind: 'submit', text });
      } else if (ch === '\n') {
        if (!wasCR) this.insert(events, '\n', false);
      } else if (ch === '\x03') {
        events.push({ kind: 'interrupt' });
      } else if (ch === '\x04') {
        if (this.line === '') events.push({ kind: 'eof' });
      } else if (ch === '\x7f' || ch === '\b') {
        if (this.line !== '') {
          const chars = Array.from(this.line);
          chars.pop();
          this.line = chars.join('');
          events.push({ kind: 'erase' });
        }
      } else if (ch === '\x15') {
        this.line = '';
        events.push({ kind: 'clear' });
      } else if (ch === '\t' || ch >= ' ') {
        // Take the whole run of ordinary characters at once.
        let j = i + 1;
        while (j < s.length && (s[j] === '\t' || (s[j] ?? '') >= ' ') && s[j] !== '\x7f') j++;
        this.insert(events, s.slice(i, j), false);
        i = j;
        continue;
      }
      i += 1;
    }
    return events;
  }

  private insert(events: InputEvent[], text: string, paste: boolean): void {
    if (text === '') return;
    this.line += text;
    const prev = events.at(-1);
    if (prev?.kind === 'insert' && prev.paste === paste) prev.text += text;
    else events.push({ kind: 'insert', text, paste });
  }

  private normalizePaste(text: string): string {
    let out = '';
    for (const ch of text) {
      if (ch === '\r') {
        out += '\n';
        this.pasteEndedWithCR = true;
        continue;
      }
      if (ch === '\n' && this.pasteEndedWithCR) {
        this.pasteEndedWithCR = false;
        continue;
      }
      this.pasteEndedWithCR = false;
      out += ch;
    }
    return out;
  }
}
