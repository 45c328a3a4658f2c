import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { InputParser, type InputEvent } from './input-parser.js';

const START = '\x1b[200~';
const END = '\x1b[201~';

function submitted(events: InputEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'submit' ? [e.text] : []));
}

/** Feeds `input` in chunks of `size` bytes (splitting markers and UTF-8 sequences) and returns submissions. */
function feedInChunks(input: string, size: number): string[] {
  const parser = new InputParser();
  const bytes = Buffer.from(input, 'utf8');
  const events: InputEvent[] = [];
  for (let i = 0; i < bytes.length; i += size) events.push(...parser.feed(bytes.subarray(i, i + size)));
  return submitted(events);
}

const TRICKY = [
  'echo $HOME and ${PATH}',
  'a `backtick` and $(subshell)',
  `"double" and 'single' quotes; rm -rf / ; echo done`,
  'line one\nline two\n\nline four',
  'tab\tseparated\tcolumns\t',
  'unicode: héllo wörld — 日本語 🚀 𝕏',
  'trailing newline\n',
  'backslash \\n is not a newline \\',
  'control-looking text: ^C ^D \\x1b',
];

void describe('InputParser (bracketed paste)', () => {
  for (const text of TRICKY) {
    void test(`a pasted ${JSON.stringify(text.slice(0, 24))} is submitted byte for byte`, () => {
      const parser = new InputParser();
      const events = parser.feed(Buffer.from(`${START}${text}${END}\r`, 'utf8'));
      assert.deepEqual(submitted(events), [text]);
      assert.equal(parser.buffer, '');
    });
  }

  void test('a 10 KB paste fed one byte at a time comes out identical', () => {
    let text = '';
    for (let i = 0; text.length < 10 * 1024; i++) text += `${i}\t$x \`y\` "z" 'w'; é🚀\n`;
    assert.deepEqual(feedInChunks(`${START}${text}${END}\r`, 1), [text]);
    assert.deepEqual(feedInChunks(`${START}${text}${END}\r`, 7), [text]);
  });

  void test('control characters inside a paste are literal; Enter inside a paste does not submit', () => {
    const parser = new InputParser();
    const events = parser.feed(`${START}a\x03b\x04c\x7fd\x1b[Ae${END}`);
    assert.deepEqual(submitted(events), []);
    assert.equal(parser.buffer, 'a\x03b\x04c\x7fd\x1b[Ae');
    assert.ok(!events.some((e) => e.kind === 'interrupt' || e.kind === 'eof'));
  });

  void test("tmux's CR line breaks inside a paste become LF (CRLF too)", () => {
    const parser = new InputParser();
    assert.deepEqual(submitted(parser.feed(`${START}one\rtwo\r\nthree\r`)), []);
    assert.deepEqual(submitted(parser.feed(`\nfour${END}\r`)), ['one\ntwo\nthree\nfour']);
  });

  void test('typed text and a paste combine into one line; \\r outside a paste submits', () => {
    const parser = new InputParser();
    const events = parser.feed(`Note: ${START}pasted\nblock${END} end\r`);
    assert.deepEqual(submitted(events), ['Note: pasted\nblock end']);
    assert.deepEqual(
      events.filter((e) => e.kind === 'insert').map((e) => (e.kind === 'insert' ? e.paste : null)),
      [false, true, false],
    );
  });

  void test('two pastes each followed by Enter are two submissions, CRLF submits once', () => {
    const parser = new InputParser();
    assert.deepEqual(submitted(parser.feed(`${START}a${END}\r\n${START}b${END}\r`)), ['a', 'b']);
  });
});

void describe('InputParser (keys)', () => {
  void test('backspace removes a whole character, Ctrl-U clears the line', () => {
    const parser = new InputParser();
    parser.feed('ab🚀\x7f');
    assert.equal(parser.buffer, 'ab');
    parser.feed('\x15');
    assert.equal(parser.buffer, '');
  });

  void test('Ctrl-C is an interrupt; Ctrl-D is end of input only on an empty line', () => {
    const parser = new InputParser();
    assert.deepEqual(parser.feed('\x03'), [{ kind: 'interrupt' }]);
    assert.deepEqual(
      parser.feed('x\x04').map((e) => e.kind),
      ['insert'],
    );
    parser.clear();
    assert.deepEqual(parser.feed('\x04'), [{ kind: 'eof' }]);
  });

  void test('arrow keys and other escape sequences are ignored, even split across chunks', () => {
    const parser = new InputParser();
    parser.feed('a\x1b[');
    parser.feed('Ab\x1b[1;5');
    parser.feed('Cc\x1bOPd');
    assert.deepEqual(submitted(parser.feed('\r')), ['abcd']);
  });

  void test('an empty Enter submits an empty line (the runtime ignores it)', () => {
    assert.deepEqual(submitted(new InputParser().feed('\r')), ['']);
  });
});
