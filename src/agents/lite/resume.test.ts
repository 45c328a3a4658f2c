import { strict as assert } from 'node:assert';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { HookPoster } from './hooks.js';
import {
  conversationFromTranscript,
  INTERRUPTED_TOOL_RESULT,
  parseTranscript,
  readTranscript,
} from './resume.js';
import { LiteRuntime } from './runtime.js';
import type { RuntimeUi } from './terminal-ui.js';
import type { ToolExecutor } from './tool-types.js';
import { createTranscript, type TranscriptEntry } from './transcript.js';
import type { AssistantMessage, ConversationMessage, ModelClient } from './turn-loop.js';

const quietUi: RuntimeUi = {
  prompt() {},
  assistantText() {},
  toolCall() {},
  toolResult() {},
  notice() {},
  error() {},
  setBusy() {},
};

const start = (source?: 'startup' | 'resume'): TranscriptEntry => ({
  type: 'session_start',
  instance: 'spec-x1',
  role: 'specialist',
  pid: 1,
  ...(source ? { source } : {}),
});
const prompt = (text: string, source: 'user' | 'stop_hook' = 'user'): TranscriptEntry => ({
  type: 'prompt',
  text,
  source,
});
const said = (text: string): TranscriptEntry => ({
  type: 'assistant',
  content: [{ type: 'text', text }],
  stop_reason: 'end_turn',
});
const used = (...ids: string[]): TranscriptEntry => ({
  type: 'assistant',
  content: ids.map((id) => ({ type: 'tool_use', id, name: 'send', input: { text: id } })),
  stop_reason: 'tool_use',
});
const called = (id: string): TranscriptEntry => ({
  type: 'tool_call',
  id,
  name: 'send',
  input: { text: id },
});
const result = (id: string, content: string, isError = false): TranscriptEntry => ({
  type: 'tool_result',
  id,
  name: 'send',
  content,
  is_error: isError,
});

/** Roles alternate, starting with the user, and every tool_use is answered in the next message. */
function assertValidForApi(messages: ConversationMessage[]): void {
  messages.forEach((m, i) => assert.equal(m.role, i % 2 === 0 ? 'user' : 'assistant', `message ${i}`));
  messages.forEach((m, i) => {
    if (typeof m.content === 'string') return;
    const uses = m.content.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []));
    if (uses.length === 0) return;
    const next = messages[i + 1]?.content;
    const answered = Array.isArray(next)
      ? next.flatMap((b) => (b.type === 'tool_result' ? [b.tool_use_id] : []))
      : [];
    assert.deepEqual(answered, uses, `tool_use of message ${i} answered`);
  });
}

void describe('conversationFromTranscript', () => {
  void test('tool results come back in tool_use order, with errors flagged, as runTurn sends them', () => {
    const messages = conversationFromTranscript([
      start('startup'),
      prompt('go'),
      used('t1', 't2'),
      called('t1'),
      called('t2'),
      // t2 finished first.
      result('t2', 'boom', true),
      result('t1', 'ok'),
      said('done'),
      { type: 'turn_end', stop_reason: 'end_turn', final_text: 'done' },
    ]);
    assert.deepEqual(messages, [
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 't1', name: 'send', input: { text: 't1' } },
          { type: 'tool_use', id: 't2', name: 'send', input: { text: 't2' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: 'ok' },
          { type: 'tool_result', tool_use_id: 't2', content: 'boom', is_error: true },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'done' }] },
    ]);
  });

  void test('a tool call cut off by the crash gets an interrupted error result', () => {
    const messages = conversationFromTranscript([
      start(),
      prompt('spawn two'),
      used('t1', 't2'),
      called('t1'),
      called('t2'),
      result('t1', 'spawned'),
    ]);
    assert.deepEqual(messages.at(-1), {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 't1', content: 'spawned' },
        { type: 'tool_result', tool_use_id: 't2', content: INTERRUPTED_TOOL_RESULT, is_error: true },
      ],
    });
    assertValidForApi(messages);
  });

  void test('an unanswered prompt stays, and what comes next joins its user message', () => {
    const entries = [start(), prompt('first'), said('one'), prompt('second')];
    assert.deepEqual(conversationFromTranscript(entries).at(-1), { role: 'user', content: 'second' });
    // The resumed session's next prompt.
    const resumed = conversationFromTranscript([...entries, start('resume'), prompt('third')]);
    assert.deepEqual(resumed.at(-1), {
      role: 'user',
      content: [
        { type: 'text', text: 'second' },
        { type: 'text', text: 'third' },
      ],
    });
    assertValidForApi(resumed);
  });

  void test('a repaired tool call stays repaired across a second resume, the next prompt after its result', () => {
    const messages = conversationFromTranscript([
      start(),
      prompt('go'),
      used('t1'),
      called('t1'),
      start('resume'),
      prompt('are you there?'),
      said('yes'),
    ]);
    assert.deepEqual(messages, [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'send', input: { text: 't1' } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: INTERRUPTED_TOOL_RESULT, is_error: true },
          { type: 'text', text: 'are you there?' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'yes' }] },
    ]);
  });

  void test('a session started afresh begins a new conversation; empty assistant messages are left out', () => {
    const messages = conversationFromTranscript([
      start(),
      prompt('old'),
      said('old reply'),
      start('startup'),
      prompt('new'),
      { type: 'assistant', content: [], stop_reason: 'end_turn' },
    ]);
    assert.deepEqual(messages, [{ role: 'user', content: 'new' }]);
  });
});

void describe('parseTranscript / readTranscript', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tc-lite-resume-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('a torn line is skipped, and the next session appends on a line of its own', () => {
    const path = join(dir, 'torn.jsonl');
    const transcript = createTranscript(path);
    transcript.append(prompt('hello'));
    transcript.append(said('hi'));
    // Killed mid-write.
    appendFileSync(path, '{"ts":"2025-01-01T00:00:00.000Z","type":"prompt","text":"cut o');
    assert.equal(readTranscript(path)?.length, 2);

    const next = createTranscript(path);
    next.append(start('resume'));
    next.append(prompt('again'));
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.length, 6, 'two entries, the torn line, two entries and the final newline');
    assert.deepEqual(
      readTranscript(path)?.map((e) => e.type),
      ['prompt', 'assistant', 'session_start', 'prompt'],
    );
    assert.deepEqual(conversationFromTranscript(readTranscript(path) ?? []).at(-1), {
      role: 'user',
      content: 'again',
    });
  });

  void test('no file is no transcript; lines that are not entries are ignored', () => {
    assert.equal(readTranscript(join(dir, 'missing.jsonl')), undefined);
    const path = join(dir, 'odd.jsonl');
    writeFileSync(path, `[1,2]\n{"type":"prompt"}\n{"type":"mystery"}\n\n${JSON.stringify(prompt('x'))}\n`);
    assert.deepEqual(readTranscript(path), [{ type: 'prompt', text: 'x', source: 'user' }]);
    assert.deepEqual(parseTranscript(''), []);
  });
});

void describe('resuming a LiteRuntime from its transcript', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tc-lite-resume-rt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const reply = (msg: AssistantMessage): Promise<AssistantMessage> => Promise.resolve(msg);
  const hooksThat = (stop: () => unknown): HookPoster => ({
    post: (event) => Promise.resolve(event === 'Stop' ? stop() : {}),
  });

  void test('the rebuilt conversation equals the one the runtime had, through tools, errors and Stop-hook prompts', async () => {
    const path = join(dir, 'roundtrip.jsonl');
    // A script of model replies: tools (one failing), a model error, a Stop-hook continuation.
    const script: (() => Promise<AssistantMessage>)[] = [
      () =>
        reply({
          content: [
            { type: 'text', text: 'on it' },
            { type: 'tool_use', id: 'a', name: 'good', input: { n: 1 } },
            { type: 'tool_use', id: 'b', name: 'bad', input: {} },
          ],
          stop_reason: 'tool_use',
        }),
      () => Promise.reject(new Error('529 overloaded')),
      () => reply({ content: [{ type: 'text', text: 'back' }], stop_reason: 'end_turn' }),
      () => reply({ content: [{ type: 'text', text: 'handled the message' }], stop_reason: 'end_turn' }),
      () => reply({ content: [{ type: 'text', text: 'still here' }], stop_reason: 'end_turn' }),
    ];
    const model: ModelClient = {
      createMessage: () => {
        const next = script.shift();
        assert.ok(next, 'the model was called more often than scripted');
        return next();
      },
    };
    const tools: ToolExecutor = {
      execute: (call) =>
        call.name === 'bad'
          ? Promise.reject(new Error('no such thing'))
          : Promise.resolve({ content: `did ${call.name}`, isError: false }),
    };
    let stops = 0;
    const runtime = (resumed?: ConversationMessage[]) =>
      new LiteRuntime({
        instanceId: 'spec-x1',
        role: 'specialist',
        cwd: '/tmp',
        system: 'Role: specialist',
        model,
        tools,
        toolDefinitions: [],
        hooks: hooksThat(() => (++stops === 1 ? { decision: 'block', reason: 'a message for you' } : {})),
        transcript: createTranscript(path),
        ui: quietUi,
        ...(resumed ? { resumed } : {}),
      });
    const rt = runtime();
    await rt.announce();
    rt.submit('first');
    await rt.whenIdle();
    rt.submit('second');
    await rt.whenIdle();

    const rebuilt = conversationFromTranscript(readTranscript(path) ?? []);
    assert.deepEqual(rebuilt, rt.messages);
    assert.equal(rebuilt.length, 6);
    assertValidForApi(rebuilt);

    // The resumed session appends to the same transcript, which rebuilds to its conversation in turn.
    const next = runtime(rebuilt);
    await next.announce();
    next.submit('third');
    await next.whenIdle();
    assert.equal(script.length, 0, 'every scripted reply was used');
    assert.equal(next.messages.length, 8);
    assert.deepEqual(conversationFromTranscript(readTranscript(path) ?? []), next.messages);
  });

  void test('a resumed runtime announces source resume, shows the count, and sends the history to the model', async () => {
    const notices: string[] = [];
    const requests: ConversationMessage[][] = [];
    const posted: [string, Record<string, unknown>][] = [];
    const entries: TranscriptEntry[] = [];
    const resumed = conversationFromTranscript([start(), prompt('go'), used('t1'), called('t1')]);
    const rt = new LiteRuntime({
      instanceId: 'spec-x1',
      role: 'specialist',
      cwd: '/tmp',
      system: 'Role: specialist',
      model: {
        createMessage: (req) => {
          requests.push(structuredClone(req.messages) as ConversationMessage[]);
          return reply({ content: [{ type: 'text', text: 'checking' }], stop_reason: 'end_turn' });
        },
      },
      tools: { execute: () => Promise.resolve({ content: '', isError: false }) },
      toolDefinitions: [],
      hooks: {
        post: (event, payload) => {
          posted.push([event, payload]);
          return Promise.resolve({});
        },
      },
      transcript: { append: (e) => entries.push(e) },
      ui: { ...quietUi, notice: (t) => notices.push(t) },
      resumed,
    });
    await rt.announce();
    assert.deepEqual(notices, ['resumed 3 messages']);
    assert.equal(posted[0]?.[0], 'SessionStart');
    assert.equal(posted[0]?.[1].source, 'resume');
    assert.deepEqual(entries[0], { ...start('resume'), pid: process.pid });

    rt.submit('did it work?');
    await rt.whenIdle();
    assert.deepEqual(requests[0], [
      ...resumed.slice(0, 2),
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: INTERRUPTED_TOOL_RESULT, is_error: true },
          { type: 'text', text: 'did it work?' },
        ],
      },
    ]);
    // The runtime worked on a copy.
    assert.equal(resumed.length, 3);
    assert.equal((resumed[2]?.content as unknown[]).length, 1);
  });
});
