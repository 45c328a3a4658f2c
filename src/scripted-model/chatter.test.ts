import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { formatMessages, type DeliveredMessage } from '../prompts/index.js';
import { chatterConfig, formatChatterBlock, processedCountsInTranscript, processedIdsIn } from './chatter.js';
import { parseDeliveredMessages, stripClientMarkup } from './prompt-formats.js';
import { nextTurn } from './scenarios.js';
import type { ScriptedTurn, WireMessage, WireToolUseBlock } from './wire.js';

function uses(turn: ScriptedTurn): WireToolUseBlock[] {
  return turn.content.filter((b): b is WireToolUseBlock => b.type === 'tool_use');
}

function said(turn: ScriptedTurn): string {
  return turn.content.map((b) => (b.type === 'text' ? b.text : '')).join('\n');
}

type Result = { text: string; isError?: boolean };

/** The history with the turn appended and one result per tool call. */
function answer(
  history: WireMessage[],
  turn: ScriptedTurn,
  results: (c: WireToolUseBlock) => Result,
): WireMessage[] {
  return [
    ...history,
    { role: 'assistant', content: turn.content },
    {
      role: 'user',
      content: uses(turn).map((c) => {
        const r = results(c);
        return {
          type: 'tool_result',
          tool_use_id: c.id,
          content: r.text,
          ...(r.isError ? { is_error: true } : {}),
        };
      }),
    },
  ];
}

function prompt(history: WireMessage[], turn: ScriptedTurn, text: string): WireMessage[] {
  return [...history, { role: 'assistant', content: turn.content }, { role: 'user', content: text }];
}

const bare = (name: string): string => name.replace(/^mcp__.+?__/, '');

/** Results of a well-behaved bus: every call succeeds; waits bring `incoming` (once), then nothing. */
function ok(incoming: string[] = []): (c: WireToolUseBlock) => Result {
  return (c) => {
    switch (bare(c.name)) {
      case 'send_message':
        return {
          text: JSON.stringify({
            message_id: `msg-${String(c.input.client_id)}`,
            recipients: [c.input.to],
            duplicate: false,
          }),
        };
      case 'ack':
        return { text: JSON.stringify({ acked: c.input.ids, already_acked: [] }) };
      case 'wait_for_messages': {
        const messages = incoming.splice(0).map((id) => inboxMessage(id));
        return { text: JSON.stringify({ messages, timed_out: messages.length === 0 }) };
      }
      default:
        return { text: `unexpected tool ${c.name}`, isError: true };
    }
  };
}

function inboxMessage(id: string, from = 'b'): Record<string, unknown> {
  return {
    id,
    from,
    from_role: 'specialist',
    to: 'a',
    subject: 'chatter',
    body: `chatter 0 from ${from}`,
    requires_ack: true,
    reply_to: null,
    topic: null,
    topic_seq: null,
    sent_at: '2030-01-01T00:00:00.000Z',
    state: 'delivered',
    attempts: 1,
  };
}

function delivered(ids: string[], extra: Partial<DeliveredMessage> = {}): string {
  return formatMessages(
    ids.map((id) => ({
      messageId: id,
      senderId: 'b',
      senderRole: 'specialist',
      body: 'chatter 1 from b',
      subject: 'chatter',
      requiresAck: true,
      ...extra,
    })),
  );
}

function start(config: Record<string, unknown>, lead = 'Chat with your peers.'): WireMessage[] {
  return [{ role: 'user', content: `${lead}\n\n${formatChatterBlock(config as never)}` }];
}

const names = (turn: ScriptedTurn): string[] => uses(turn).map((u) => bare(u.name));

void describe('chatter scenario', () => {
  void test('the first call sends the first batch round-robin to the peers after self; then the next batches', () => {
    const h0 = start({ self: 'a', peers: ['c', 'a', 'b', 'd'], count: 30, batch: 12, body_bytes: 40 });
    const t1 = nextTurn(undefined, h0);
    assert.equal(t1.stop_reason, 'tool_use');
    const sends = uses(t1);
    assert.equal(sends.length, 12);
    assert.deepEqual(sends[0]?.input, {
      to: 'b',
      subject: 'chatter',
      body: 'chatter 0 from a'.padEnd(40, '.'),
      requires_ack: true,
      client_id: 'a:0',
    });
    assert.deepEqual(
      sends.slice(0, 4).map((s) => s.input.to),
      ['b', 'd', 'c', 'b'],
    );
    assert.deepEqual(
      sends.map((s) => s.input.client_id),
      Array.from({ length: 12 }, (_, i) => `a:${i}`),
    );
    assert.ok(!said(t1).includes('Processed:'));

    const h1 = answer(h0, t1, ok());
    const t2 = nextTurn('specialist', h1);
    assert.deepEqual(
      uses(t2).map((s) => s.input.client_id),
      Array.from({ length: 12 }, (_, i) => `a:${i + 12}`),
    );
    const h2 = answer(h1, t2, ok());
    const t3 = nextTurn('executive', h2);
    assert.deepEqual(
      uses(t3).map((s) => s.input.client_id),
      ['a:24', 'a:25', 'a:26', 'a:27', 'a:28', 'a:29'],
    );
    const h3 = answer(h2, t3, ok());
    const t4 = nextTurn(undefined, h3);
    assert.deepEqual(names(t4), ['wait_for_messages']);
    assert.deepEqual(uses(t4)[0]?.input, { timeout_s: 2 });
    const t5 = nextTurn(undefined, answer(h3, t4, ok()));
    assert.equal(t5.stop_reason, 'end_turn');
    assert.match(said(t5), /^Chatter done: sent 30\/30, processed 0, duplicates 0$/m);
  });

  void test('calls the tools by the offered (MCP-prefixed) names and uses the last chatter block', () => {
    const tools = [
      'mcp__tmux-claude__send_message',
      'mcp__tmux-claude__ack',
      'mcp__tmux-claude__wait_for_messages',
    ];
    const h = [
      ...start({ self: 'a', peers: ['b'], count: 5 }),
      { role: 'assistant' as const, content: 'ok' },
      {
        role: 'user' as const,
        content: `Again:\n${formatChatterBlock({ self: 'a', peers: ['b'], count: 2, batch: 1 })}`,
      },
    ];
    const t = nextTurn('manager', h, { tools });
    assert.deepEqual(
      uses(t).map((u) => [u.name, u.input.client_id]),
      [['mcp__tmux-claude__send_message', 'a:0']],
    );
  });

  void test('a chatter block that is not a valid configuration is reported; no block means another scenario', () => {
    const t = nextTurn(undefined, [{ role: 'user', content: '```chatter\n{"self":"a","count":-1}\n```' }]);
    assert.equal(t.stop_reason, 'end_turn');
    assert.match(said(t), /chatter block is not/);
    assert.equal(chatterConfig(['no block here']), undefined);
    assert.deepEqual(chatterConfig([formatChatterBlock({ self: 'a', peers: ['b'], count: 1 })]), {
      self: 'a',
      peers: ['b'],
      count: 1,
      batch: 25,
      wait_s: 2,
    });
  });

  void test('acks and processes messages from wait results and pasted prompts, each once', () => {
    const h0 = start({ self: 'a', peers: ['a', 'b'], count: 0, wait_s: 5 });
    const t1 = nextTurn(undefined, h0);
    assert.deepEqual(names(t1), ['wait_for_messages']);
    assert.deepEqual(uses(t1)[0]?.input, { timeout_s: 5 });

    const h1 = answer(h0, t1, ok(['m1', 'm2']));
    const t2 = nextTurn(undefined, h1);
    assert.equal(t2.stop_reason, 'tool_use');
    assert.match(said(t2), /^Processed: m1 m2$/m);
    assert.deepEqual(
      uses(t2).map((u) => [bare(u.name), u.input]),
      [['ack', { ids: ['m1', 'm2'] }]],
    );

    const h2 = answer(h1, t2, ok());
    const t3 = nextTurn(undefined, h2);
    assert.deepEqual(names(t3), ['wait_for_messages']);
    assert.ok(!said(t3).includes('Processed:'));
    const h3 = answer(h2, t3, ok());
    const t4 = nextTurn(undefined, h3);
    assert.equal(t4.stop_reason, 'end_turn');
    assert.match(said(t4), /Chatter done: sent 0\/0, processed 2, duplicates 0/);

    // An idle agent gets messages pasted (Claude Code wraps them; a Stop hook hands them over the same way).
    const paste = `<pasted_content id="1">${delivered(['m3', 'm4'], { redelivered: false })}</pasted_content id="1">`;
    const h4 = prompt(h3, t4, paste);
    const t5 = nextTurn(undefined, h4);
    assert.match(said(t5), /^Processed: m3 m4$/m);
    assert.deepEqual(
      uses(t5).map((u) => [bare(u.name), u.input]),
      [['ack', { ids: ['m3', 'm4'] }]],
    );
    const h5 = answer(h4, t5, ok());
    const t6 = nextTurn(undefined, h5);
    assert.deepEqual(names(t6), ['wait_for_messages']);
    const t7 = nextTurn(undefined, answer(h5, t6, ok()));
    assert.equal(t7.stop_reason, 'end_turn');
    assert.match(said(t7), /processed 4, duplicates 0/);
    const all = [t2, t3, t5, t6, t7].flatMap((t) => processedIdsIn(said(t)));
    assert.deepEqual(all, ['m1', 'm2', 'm3', 'm4']);
  });

  void test('processing, acking and sending go in one reply', () => {
    const h0 = [
      {
        role: 'user' as const,
        content: `${formatChatterBlock({ self: 'a', peers: ['b', 'c'], count: 3 })}\n\n${delivered(['m1'])}`,
      },
    ];
    const t = nextTurn(undefined, h0);
    assert.equal(t.stop_reason, 'tool_use');
    assert.match(said(t), /^Processed: m1$/m);
    assert.deepEqual(names(t), ['ack', 'send_message', 'send_message', 'send_message']);
  });

  void test('a redelivered message is dropped as a duplicate, and acked again when the earlier ack failed', () => {
    const h0 = start({ self: 'a', peers: ['b'], count: 0 });
    const t1 = nextTurn(undefined, h0);
    const h1 = answer(h0, t1, ok(['m1', 'm2']));
    const t2 = nextTurn(undefined, h1);
    assert.match(said(t2), /^Processed: m1 m2$/m);
    // The ack is torn by a crash: the resumed conversation shows it as an error.
    const h2 = answer(h1, t2, () => ({ text: 'interrupted: the runtime stopped', isError: true }));
    // After the restart both come back, marked as redelivered.
    const h3 = [...h2, { role: 'user' as const, content: delivered(['m1', 'm2'], { redelivered: true }) }];
    const t3 = nextTurn(undefined, h3);
    assert.ok(!said(t3).includes('Processed:'), said(t3));
    assert.match(said(t3), /^Dropped duplicates: 2$/m);
    assert.deepEqual(
      uses(t3).map((u) => [bare(u.name), u.input]),
      [['ack', { ids: ['m1', 'm2'] }]],
    );
    // Once acked, another redelivery (e.g. from a wait result) is only counted, not acked again.
    const h4 = answer(h3, t3, ok());
    const t4 = nextTurn(undefined, h4);
    assert.deepEqual(names(t4), ['wait_for_messages']);
    assert.ok(!said(t4).includes('Dropped duplicates'), 'already reported');
    const h5 = answer(h4, t4, ok(['m2', 'm3']));
    const t5 = nextTurn(undefined, h5);
    assert.match(said(t5), /^Processed: m3$/m);
    assert.match(said(t5), /^Dropped duplicates: 3$/m);
    assert.deepEqual(
      uses(t5).map((u) => [bare(u.name), u.input]),
      [['ack', { ids: ['m3'] }]],
    );
  });

  void test('failed sends are retried first, with the same client_id and input', () => {
    const h0 = start({ self: 'a', peers: ['b', 'c'], count: 8, batch: 4 });
    const t1 = nextTurn(undefined, h0);
    const failing = new Set(['a:1', 'a:3']);
    const h1 = answer(h0, t1, (c) =>
      failing.has(String(c.input.client_id)) ? { text: 'supervisor unavailable', isError: true } : ok()(c),
    );
    const t2 = nextTurn(undefined, h1);
    assert.deepEqual(
      uses(t2).map((u) => u.input.client_id),
      ['a:1', 'a:3', 'a:4', 'a:5'],
    );
    assert.deepEqual(uses(t2)[0]?.input, uses(t1)[1]?.input);
    assert.match(said(t2), /sent 2\/8/);
    // A send whose call was torn (the supervisor had it) is simply sent again: the bus answers duplicate.
    const h2 = answer(h1, t2, ok());
    const t3 = nextTurn(undefined, h2);
    assert.deepEqual(
      uses(t3).map((u) => u.input.client_id),
      ['a:6', 'a:7'],
    );
  });

  void test('ends the turn after a wait that brought nothing or failed; goes on waiting after duplicates only', () => {
    const h0 = start({ self: 'a', peers: ['b'], count: 0 });
    const t1 = nextTurn(undefined, h0);
    const failed = nextTurn(
      undefined,
      answer(h0, t1, () => ({ text: 'fetch failed', isError: true })),
    );
    assert.equal(failed.stop_reason, 'end_turn');
    assert.match(said(failed), /Chatter done: sent 0\/0/);

    const h1 = answer(h0, t1, ok(['m1']));
    const t2 = nextTurn(undefined, h1);
    const h2 = answer(h1, t2, ok());
    const t3 = nextTurn(undefined, h2);
    assert.deepEqual(names(t3), ['wait_for_messages']);
    // The wait brings an already processed and acked message: keep waiting, report the duplicate.
    const h3 = answer(h2, t3, ok(['m1']));
    const t4 = nextTurn(undefined, h3);
    assert.deepEqual(names(t4), ['wait_for_messages']);
    assert.match(said(t4), /^Dropped duplicates: 1$/m);
    const t5 = nextTurn(undefined, answer(h3, t4, ok()));
    assert.equal(t5.stop_reason, 'end_turn');
    assert.match(said(t5), /processed 1, duplicates 1/);
  });

  void test('a hot loop of failures ends the turn; one failed batch is retried; a new prompt tries again', () => {
    const h0 = start({ self: 'a', peers: ['b'], count: 100, batch: 25 });
    const fail = (): Result => ({ text: 'connect ECONNREFUSED 127.0.0.1:4100', isError: true });
    let h = h0;
    let t = nextTurn(undefined, h);
    for (let round = 1; round <= 2; round++) {
      h = answer(h, t, fail);
      t = nextTurn(undefined, h);
      assert.equal(t.stop_reason, 'tool_use', `round ${round} is retried`);
      assert.equal(uses(t)[0]?.input.client_id, 'a:0');
    }
    h = answer(h, t, fail);
    const stopped = nextTurn(undefined, h);
    assert.equal(stopped.stop_reason, 'end_turn');
    assert.match(said(stopped), /^Chatter stopped: the last 75 tool results \(over 3 replies\) were errors/);
    assert.match(said(stopped), /ECONNREFUSED/);
    assert.match(said(stopped), /sent 0\/100/);

    const again = nextTurn(undefined, prompt(h, stopped, delivered(['m9'])));
    assert.equal(again.stop_reason, 'tool_use');
    assert.match(said(again), /^Processed: m9$/m);
    assert.deepEqual(names(again).slice(0, 2), ['ack', 'send_message']);
  });

  void test('many deliveries in a long conversation are handled in one pass', () => {
    let h = start({ self: 'a', peers: ['b'], count: 0 });
    let t = nextTurn(undefined, h);
    let n = 0;
    for (let round = 0; round < 150; round++) {
      const ids = Array.from({ length: 5 }, () => `m${n++}`);
      h = answer(h, t, ok(ids));
      t = nextTurn(undefined, h);
      h = answer(h, t, ok());
      t = nextTurn(undefined, h);
    }
    const began = performance.now();
    h = answer(h, t, ok(['m0', `m${n}`]));
    t = nextTurn(undefined, h);
    const ms = performance.now() - began;
    assert.match(said(t), new RegExp(`^Processed: m${n}$`, 'm'));
    assert.match(said(t), /^Dropped duplicates: 1$/m);
    assert.ok(ms < 1000, `one call over ${h.length} messages took ${ms.toFixed(0)} ms`);
  });
});

void describe('chatter helpers', () => {
  void test('processedIdsIn reads every Processed line; processedCountsInTranscript counts assistant entries', () => {
    assert.deepEqual(processedIdsIn('x\nProcessed: m1 m2\nDropped duplicates: 1\nProcessed: m1\n'), [
      'm1',
      'm2',
      'm1',
    ]);
    assert.deepEqual(processedIdsIn('Not Processed: m1'), []);
    const lines = [
      { type: 'session_start', instance: 'a', role: 'specialist', pid: 1 },
      { type: 'prompt', text: 'Processed: m0', source: 'user' },
      {
        type: 'assistant',
        content: [{ type: 'text', text: 'Chatter a\nProcessed: m1 m2' }],
        stop_reason: 'tool_use',
      },
      {
        type: 'assistant',
        content: [{ type: 'text', text: 'Processed: m3\nDropped duplicates: 1' }],
        stop_reason: 'end_turn',
      },
      { type: 'turn_end', stop_reason: 'end_turn', final_text: 'Processed: m3\nDropped duplicates: 1' },
      { type: 'session_start', instance: 'a', role: 'specialist', pid: 2, source: 'resume' },
      { type: 'assistant', content: [{ type: 'text', text: 'Processed: m2' }], stop_reason: 'tool_use' },
    ].map((e) => JSON.stringify({ ts: '2030-01-01T00:00:00Z', ...e }));
    const jsonl = `${lines.join('\n')}\n{"ts":"2030-01-01T00:00:01Z","type":"assistant","content":[{"type":"text","text":"Processed: m9`;
    assert.deepEqual([...processedCountsInTranscript(jsonl)].sort(), [
      ['m1', 1],
      ['m2', 2],
      ['m3', 1],
    ]);
  });

  void test('delivered-message headers with extras parse; a header without extras still does', () => {
    const text =
      '[tmux-claude] message msg-abc from spc-x1 (specialist); subject "chatter"; ack required:\n' +
      'chatter 1 from spc-x1\n\n' +
      '[tmux-claude] message msg-2 from mgr-1 (manager):\nplain\n\n' +
      '[tmux-claude] message msg-3 from sup (supervisor); subject "a: \\"b\\"; c"; reply to msg-1; topic system.merged #7; ack required; redelivered:\n{}\n\n' +
      '[tmux-claude] message msg-4 from x (specialist); redelivered; ack required:\nodd order';
    assert.deepEqual(parseDeliveredMessages(text), [
      {
        messageId: 'msg-abc',
        senderId: 'spc-x1',
        senderRole: 'specialist',
        body: 'chatter 1 from spc-x1',
        subject: 'chatter',
        requiresAck: true,
      },
      { messageId: 'msg-2', senderId: 'mgr-1', senderRole: 'manager', body: 'plain' },
      {
        messageId: 'msg-3',
        senderId: 'sup',
        senderRole: 'supervisor',
        body: '{}',
        subject: 'a: "b"; c',
        replyTo: 'msg-1',
        topic: 'system.merged',
        topicSeq: 7,
        requiresAck: true,
        redelivered: true,
      },
      {
        messageId: 'msg-4',
        senderId: 'x',
        senderRole: 'specialist',
        body: 'odd order',
        requiresAck: true,
        redelivered: true,
      },
    ]);
    const messages: DeliveredMessage[] = [
      {
        messageId: 'm1',
        senderId: 'a',
        senderRole: 'specialist',
        body: 'x',
        subject: 's',
        requiresAck: true,
      },
      {
        messageId: 'm2',
        senderId: 'b',
        senderRole: 'manager',
        body: 'y',
        topic: 't',
        topicSeq: 2,
        replyTo: 'm1',
      },
      { messageId: 'm3', senderId: 'c', senderRole: 'manager', body: 'z', redelivered: true },
    ];
    assert.deepEqual(parseDeliveredMessages(formatMessages(messages)), messages);
    // Hook output inside a reminder survives client-markup stripping with extras too.
    const reminder = `<system-reminder>\n${formatMessages(messages.slice(0, 1))}\n</system-reminder>`;
    assert.equal(parseDeliveredMessages(stripClientMarkup(reminder))[0]?.messageId, 'm1');
  });
});

/**
 * A small bus simulation: agents chat through an in-memory bus that loses calls (before or after acting),
 * crashes agents (their unacked deliveries come back, marked redelivered) and pastes messages into idle
 * agents. Every message must end up processed exactly once and acked.
 */
void describe('chatter against a flaky bus', () => {
  void test('every message is processed exactly once per recipient despite failures and redeliveries', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const peers = ['a', 'b', 'c', 'd'];
    const count = 40;
    interface Msg {
      id: string;
      from: string;
      to: string;
      state: 'queued' | 'delivered' | 'acked';
      redelivered: boolean;
    }
    const bus: Msg[] = [];
    const byClient = new Map<string, Msg>();
    const agents = new Map(
      peers.map((self) => [
        self,
        { history: start({ self, peers, count, batch: 7, wait_s: 0 }), idle: false, said: [] as string[] },
      ]),
    );
    const queuedFor = (to: string): Msg[] => bus.filter((m) => m.to === to && m.state === 'queued');
    const execute = (self: string, c: WireToolUseBlock): Result => {
      const r = rand();
      if (r < 0.08) return { text: 'fetch failed (before)', isError: true };
      let out: Result;
      switch (bare(c.name)) {
        case 'send_message': {
          const key = String(c.input.client_id);
          const old = byClient.get(key);
          const m = old ?? {
            id: `msg-${bus.length}`,
            from: self,
            to: String(c.input.to),
            state: 'queued',
            redelivered: false,
          };
          if (!old) {
            bus.push(m);
            byClient.set(key, m);
          }
          out = {
            text: JSON.stringify({ message_id: m.id, recipients: [m.to], duplicate: old !== undefined }),
          };
          break;
        }
        case 'ack': {
          const ids = c.input.ids as string[];
          for (const m of bus) if (ids.includes(m.id) && m.to === self) m.state = 'acked';
          out = { text: JSON.stringify({ acked: ids, already_acked: [] }) };
          break;
        }
        case 'wait_for_messages': {
          const ms = queuedFor(self).slice(0, 5);
          for (const m of ms) m.state = 'delivered';
          out = {
            text: JSON.stringify({
              messages: ms.map((m) => inboxMessage(m.id, m.from)),
              timed_out: ms.length === 0,
            }),
          };
          break;
        }
        default:
          out = { text: `no tool ${c.name}`, isError: true };
      }
      return r < 0.12 ? { text: 'socket hang up (after)', isError: true } : out;
    };

    for (let step = 0; step < 20_000; step++) {
      const busy = [...agents].filter(([, a]) => !a.idle);
      const idleWithMail = [...agents].filter(([self, a]) => a.idle && queuedFor(self).length > 0);
      if (busy.length === 0 && idleWithMail.length === 0) break;
      const pick = [...busy, ...idleWithMail][Math.floor(rand() * (busy.length + idleWithMail.length))];
      if (!pick) break;
      const [self, agent] = pick;
      if (agent.idle) {
        const ms = queuedFor(self);
        for (const m of ms) m.state = 'delivered';
        const text = formatMessages(
          ms.map((m) => ({
            messageId: m.id,
            senderId: m.from,
            senderRole: 'specialist',
            body: 'x',
            subject: 'chatter',
            requiresAck: true,
            redelivered: m.redelivered,
          })),
        );
        const last = agent.history.at(-1);
        agent.history = [
          ...agent.history,
          ...(last?.role === 'assistant' ? [] : [{ role: 'assistant' as const, content: 'idle' }]),
          { role: 'user', content: text },
        ];
        agent.idle = false;
        continue;
      }
      const turn = nextTurn('specialist', agent.history);
      agent.said.push(said(turn));
      if (turn.stop_reason === 'end_turn') {
        agent.history = [...agent.history, { role: 'assistant', content: turn.content }];
        agent.idle = true;
        // Deliveries lost with a failed wait are unacked: the bus delivers them again.
        for (const m of bus) {
          if (m.to === self && m.state === 'delivered') {
            m.state = 'queued';
            m.redelivered = true;
          }
        }
        continue;
      }
      const crash = rand() < 0.03;
      agent.history = answer(agent.history, turn, (c) =>
        crash && rand() < 0.5 ? { text: 'interrupted', isError: true } : execute(self, c),
      );
      if (crash) {
        for (const m of bus) {
          if (m.to === self && m.state === 'delivered') {
            m.state = 'queued';
            m.redelivered = true;
          }
        }
        agent.history = [...agent.history, { role: 'assistant', content: 'restarted' }];
        agent.idle = true;
        // A restarted agent is prompted again (its conversation resumed).
        agent.history = [...agent.history, { role: 'user', content: 'Resumed.' }];
        agent.idle = false;
      }
    }

    assert.equal(bus.length, peers.length * count, 'every message sent once');
    assert.ok(
      bus.every((m) => m.state === 'acked'),
      'every message acked',
    );
    for (const [self, agent] of agents) {
      const counts = new Map<string, number>();
      for (const t of agent.said)
        for (const id of processedIdsIn(t)) counts.set(id, (counts.get(id) ?? 0) + 1);
      const mine = bus.filter((m) => m.to === self).map((m) => m.id);
      assert.deepEqual([...counts.keys()].sort(), [...mine].sort(), self);
      assert.ok(
        [...counts.values()].every((n) => n === 1),
        `${self} processed each once`,
      );
      assert.match(agent.said.at(-1) ?? '', new RegExp(`sent ${count}/${count}, processed ${mine.length}`));
    }
  });
});
