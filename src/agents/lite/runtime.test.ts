import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { HookEvent, HookPoster } from './hooks.js';
import { LiteRuntime } from './runtime.js';
import type { RuntimeUi } from './terminal-ui.js';
import type { ToolCall, ToolExecutor, ToolOutcome } from './tool-types.js';
import type { Transcript, TranscriptEntry } from './transcript.js';
import { limitError, resetFromHeaders } from './anthropic-model.js';
import Anthropic from '@anthropic-ai/sdk';
import {
  ModelLimitError,
  runTurn,
  type AssistantMessage,
  type ConversationMessage,
  type ModelClient,
  type ModelRequest,
} from './turn-loop.js';

const quietUi: RuntimeUi = {
  prompt() {},
  assistantText() {},
  toolCall() {},
  toolResult() {},
  notice() {},
  error() {},
  setBusy() {},
};

function say(text: string): AssistantMessage {
  return { content: [{ type: 'text', text }], stop_reason: 'end_turn' };
}

function use(...calls: [id: string, name: string, input?: Record<string, unknown>][]): AssistantMessage {
  return {
    content: calls.map(([id, name, input]) => ({ type: 'tool_use', id, name, input: input ?? {} })),
    stop_reason: 'tool_use',
  };
}

/** A model that answers from a function of the request and records what it was sent. */
function fakeModel(reply: (req: ModelRequest, n: number, signal: AbortSignal) => Promise<AssistantMessage>) {
  const requests: ConversationMessage[][] = [];
  const model: ModelClient = {
    createMessage(req, signal) {
      requests.push(structuredClone(req.messages) as ConversationMessage[]);
      return reply(req, requests.length, signal);
    },
  };
  return { model, requests };
}

function fakeHooks(respond: (event: HookEvent, n: number) => unknown = () => ({})) {
  const posted: { event: HookEvent; payload: Record<string, unknown> }[] = [];
  const hooks: HookPoster = {
    post(event, payload) {
      posted.push({ event, payload });
      return Promise.resolve(respond(event, posted.filter((p) => p.event === event).length));
    },
  };
  return { hooks, posted };
}

function memoryTranscript() {
  const entries: TranscriptEntry[] = [];
  const transcript: Transcript = { append: (e) => entries.push(e) };
  return { transcript, entries };
}

const noTools: ToolExecutor = { execute: () => Promise.resolve({ content: 'ok', isError: false }) };

function lastUserText(messages: ConversationMessage[]): string {
  const last = messages.at(-1);
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  const b = last.content.at(-1);
  return b?.type === 'text' ? b.text : '';
}

void describe('runTurn', () => {
  void test('runs all tool_use blocks of a message concurrently and sends every result back, errors flagged', async () => {
    // Each tool waits until both have started: the turn only completes if they run at the same time.
    let started = 0;
    let release!: () => void;
    const bothStarted = new Promise<void>((r) => (release = r));
    const tools: ToolExecutor = {
      async execute(call: ToolCall): Promise<ToolOutcome> {
        if (++started === 2) release();
        await bothStarted;
        if (call.name === 'bad') throw new Error('boom');
        return { content: `did ${call.name}`, isError: false };
      },
    };
    const { model, requests } = fakeModel((_req, n) =>
      Promise.resolve(n === 1 ? use(['t1', 'good'], ['t2', 'bad']) : say('finished')),
    );
    const messages: ConversationMessage[] = [{ role: 'user', content: 'go' }];
    const result = await runTurn({ model, tools, toolDefinitions: [], system: 'Role: x', messages });
    assert.deepEqual(result, { stopReason: 'end_turn', finalText: 'finished', modelCalls: 2 });
    assert.deepEqual(requests[1]?.at(-1), {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 't1', content: 'did good' },
        { type: 'tool_result', tool_use_id: 't2', content: 'boom', is_error: true },
      ],
    });
  });

  void test('stops after maxModelCalls when the model keeps calling tools', async () => {
    const { model } = fakeModel(() => Promise.resolve(use(['t', 'again'])));
    const result = await runTurn({
      model,
      tools: noTools,
      toolDefinitions: [],
      system: '',
      messages: [{ role: 'user', content: 'loop' }],
      maxModelCalls: 3,
    });
    assert.equal(result.stopReason, 'max_model_calls');
    assert.equal(result.modelCalls, 3);
  });
});

void describe('LiteRuntime', () => {
  function runtime(opts: { model: ModelClient; hooks: HookPoster; transcript?: Transcript }) {
    return new LiteRuntime({
      instanceId: 'spec-x1',
      role: 'specialist',
      cwd: '/tmp',
      system: 'Role: specialist',
      model: opts.model,
      tools: noTools,
      toolDefinitions: [],
      hooks: opts.hooks,
      transcript: opts.transcript ?? memoryTranscript().transcript,
      ui: quietUi,
    });
  }

  void test('posts UserPromptSubmit then Stop with the final text, in order', async () => {
    const { model } = fakeModel(() => Promise.resolve(say('hello back')));
    const { hooks, posted } = fakeHooks();
    const rt = runtime({ model, hooks });
    rt.submit('hello');
    await rt.whenIdle();
    assert.deepEqual(
      posted.map((p) => p.payload),
      [
        { hook_event_name: 'UserPromptSubmit', session_id: 'spec-x1', cwd: '/tmp', prompt: 'hello' },
        {
          hook_event_name: 'Stop',
          session_id: 'spec-x1',
          cwd: '/tmp',
          stop_hook_active: false,
          last_assistant_message: 'hello back',
        },
      ],
    );
  });

  void test('a Stop hook that blocks hands its reason to the model as the next prompt, with stop_hook_active', async () => {
    const { model, requests } = fakeModel((req) =>
      Promise.resolve(say(`re: ${lastUserText([...req.messages])}`)),
    );
    const { hooks, posted } = fakeHooks((event, n) =>
      event === 'Stop' && n === 1 ? { decision: 'block', reason: 'new message for you' } : {},
    );
    const { transcript, entries } = memoryTranscript();
    const rt = runtime({ model, hooks, transcript });
    rt.submit('first');
    await rt.whenIdle();
    assert.equal(lastUserText(requests[1] ?? []), 'new message for you');
    const stops = posted.filter((p) => p.event === 'Stop').map((p) => p.payload);
    assert.deepEqual(
      stops.map((s) => [s.stop_hook_active, s.last_assistant_message]),
      [
        [false, 're: first'],
        [true, 're: new message for you'],
      ],
    );
    assert.deepEqual(
      entries.filter((e) => e.type === 'prompt'),
      [
        { type: 'prompt', text: 'first', source: 'user' },
        { type: 'prompt', text: 'new message for you', source: 'stop_hook' },
      ],
    );
  });

  void test('a model error posts StopFailure and the next prompt still runs', async () => {
    const { model, requests } = fakeModel((_req, n) =>
      n === 1 ? Promise.reject(new Error('529 overloaded')) : Promise.resolve(say('recovered')),
    );
    const { hooks, posted } = fakeHooks();
    const rt = runtime({ model, hooks });
    rt.submit('one');
    await rt.whenIdle();
    rt.submit('two');
    await rt.whenIdle();
    assert.deepEqual(
      posted.map((p) => p.event),
      ['UserPromptSubmit', 'StopFailure', 'UserPromptSubmit', 'Stop'],
    );
    assert.equal(posted[1]?.payload.error, '529 overloaded');
    // The failed prompt and the new one share one user message, so roles keep alternating.
    assert.deepEqual(requests[1], [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'one' },
          { type: 'text', text: 'two' },
        ],
      },
    ]);
  });

  void test('a rate limit posts StopFailure with its type, text and reset time; usage rides on Stop hooks', async () => {
    const resetAt = Date.parse('2030-01-01T00:00:10.000Z');
    const usage = {
      input_tokens: 100,
      output_tokens: 20,
      cache_creation_input_tokens: 3,
      cache_read_input_tokens: 4,
      model: 'm',
    };
    const { model } = fakeModel((_req, n) =>
      n === 1
        ? Promise.resolve({ ...use(['t1', 'claim_task']), usage })
        : n === 2
          ? Promise.reject(new ModelLimitError('rate_limit', '429 slow down', resetAt))
          : Promise.resolve({ ...say('resumed'), usage }),
    );
    const { hooks, posted } = fakeHooks();
    const rt = runtime({ model, hooks });
    rt.submit('one');
    await rt.whenIdle();
    rt.submit('continue');
    await rt.whenIdle();
    assert.deepEqual(
      posted.map((p) => p.event),
      ['UserPromptSubmit', 'StopFailure', 'UserPromptSubmit', 'Stop'],
    );
    const failure = posted[1]!.payload;
    assert.equal(failure.error, 'rate_limit');
    assert.equal(failure.error_details, '429 slow down');
    assert.equal(failure.reset_at, '2030-01-01T00:00:10.000Z');
    assert.deepEqual(failure.usage, usage, 'the calls before the failure are reported with it');
    assert.deepEqual(posted[3]!.payload.usage, usage, 'and the next turn reports only its own');
    assert.equal(posted[0]!.payload.usage, undefined);
  });

  void test('API errors map to limit errors with the reset time the headers give', () => {
    const now = 1_000_000;
    const h = (o: Record<string, string>) => new Headers(o);
    assert.equal(resetFromHeaders(h({ 'retry-after': '7' }), now), now + 7000);
    assert.equal(resetFromHeaders(h({ 'retry-after-ms': '250' }), now), now + 250);
    assert.equal(
      resetFromHeaders(h({ 'anthropic-ratelimit-requests-reset': '2030-01-01T00:00:00Z' }), now),
      Date.parse('2030-01-01T00:00:00Z'),
    );
    assert.equal(resetFromHeaders(h({}), now), null);
    const limited = limitError(
      Anthropic.APIError.generate(
        429,
        { error: { type: 'rate_limit_error' } },
        'slow',
        h({ 'retry-after': '2' }),
      ),
      now,
    );
    assert.ok(limited instanceof ModelLimitError);
    assert.equal(limited.kind, 'rate_limit');
    assert.equal(limited.resetAt, now + 2000);
    const overloaded = limitError(Anthropic.APIError.generate(529, undefined, 'busy', h({})), now);
    assert.equal(overloaded?.kind, 'overloaded');
    assert.equal(overloaded?.resetAt, null);
    assert.equal(limitError(Anthropic.APIError.generate(400, undefined, 'bad', h({})), now), undefined);
    assert.equal(limitError(new Error('x'), now), undefined);
  });

  void test('prompts submitted while busy run afterwards, in order', async () => {
    let unblock!: () => void;
    const gate = new Promise<void>((r) => (unblock = r));
    const { model, requests } = fakeModel(async (req, n) => {
      if (n === 1) await gate;
      return say(`done ${lastUserText([...req.messages])}`);
    });
    const { hooks } = fakeHooks();
    const rt = runtime({ model, hooks });
    rt.submit('a');
    rt.submit('b');
    rt.submit('c');
    assert.equal(rt.busy, true);
    unblock();
    await rt.whenIdle();
    assert.deepEqual(
      requests.map((r) => lastUserText(r)),
      ['a', 'b', 'c'],
    );
  });

  void test('interrupt aborts the running turn, posts Stop, and the runtime takes the next prompt', async () => {
    let modelStarted!: () => void;
    const started = new Promise<void>((r) => (modelStarted = r));
    const { model } = fakeModel((_req, n, signal) => {
      if (n > 1) return Promise.resolve(say('fine'));
      modelStarted();
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    });
    const { hooks, posted } = fakeHooks();
    const rt = runtime({ model, hooks });
    rt.submit('long task');
    await started;
    assert.equal(rt.interrupt(), true);
    await rt.whenIdle();
    assert.deepEqual(
      posted.map((p) => p.event),
      ['UserPromptSubmit', 'Stop'],
    );
    assert.equal(rt.interrupt(), false);
    rt.submit('next');
    await rt.whenIdle();
    assert.equal(posted.at(-1)?.payload.last_assistant_message, 'fine');
  });
});
