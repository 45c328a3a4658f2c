import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ROLES } from '../core/index.js';
import { parseDeliveredMessages, roleFromSystemPrompt } from '../scripted-model/prompt-formats.js';
import {
  formatMessages,
  messageIdsIn,
  rolePrompt,
  type DeliveredMessage,
  type PromptContext,
} from './index.js';

const SPECIALIST: PromptContext = {
  instanceId: 'spec-abc',
  role: 'specialist',
  parentId: 'mgr-xyz',
  branch: 'specialist-spec-abc-t1-auth',
  worktree: '/home/u/.tmux-claude/worktrees/spec-abc',
  runGoal: 'Build utilities',
};

const EXECUTIVE: PromptContext = {
  instanceId: 'exec-1',
  role: 'executive',
  parentId: null,
  branch: null,
  worktree: null,
  runGoal: 'Build utilities',
};

type Msg = DeliveredMessage;

function roundTrip(messages: Msg[]): Msg[] {
  return parseDeliveredMessages(formatMessages(messages));
}

void describe('rolePrompt', () => {
  void test('carries a machine-read "Role: <role>" line for every role', () => {
    for (const role of ROLES) {
      const prompt = rolePrompt({ ...SPECIALIST, role });
      assert.ok(prompt.split('\n').includes(`Role: ${role}`), role);
      assert.equal(roleFromSystemPrompt(prompt), role);
    }
  });

  void test('names the instance, its parent, branch, worktree and the run goal', () => {
    const lines = rolePrompt(SPECIALIST).split('\n');
    assert.match(lines[0] ?? '', /spec-abc/);
    for (const line of [
      'Parent: mgr-xyz',
      'Branch: specialist-spec-abc-t1-auth',
      'Worktree: /home/u/.tmux-claude/worktrees/spec-abc',
      'Run goal: Build utilities',
    ]) {
      assert.ok(lines.includes(line), line);
    }
  });

  void test('says the parent is the user and leaves out branch and worktree lines when there are none', () => {
    const prompt = rolePrompt(EXECUTIVE);
    const lines = prompt.split('\n');
    assert.ok(lines.includes('Parent: the user'));
    assert.ok(!lines.some((l) => l.startsWith('Branch:') || l.startsWith('Worktree:')));
    assert.ok(!prompt.includes('\n\n\n'), 'no runs of blank lines where lines were left out');
  });

  void test('tells each role how it delegates or reports and how messages arrive', () => {
    assert.match(rolePrompt(EXECUTIVE), /never edit files/);
    assert.match(rolePrompt({ ...SPECIALIST, role: 'manager' }), /never edit files/);
    assert.match(rolePrompt(SPECIALIST), /commit/);
    for (const role of ROLES) {
      assert.match(rolePrompt({ ...SPECIALIST, role }), /\[tmux-claude\] message/);
    }
  });
});

void describe('formatMessages and parseDeliveredMessages', () => {
  void test('a single message round-trips exactly', () => {
    const messages: Msg[] = [
      { messageId: 'msg-a1', senderId: 'spec-9', senderRole: 'specialist', body: 'DONE 1a2b3c' },
    ];
    assert.deepEqual(roundTrip(messages), messages);
  });

  void test('several messages with blank lines, indentation and code fences round-trip exactly', () => {
    const messages: Msg[] = [
      {
        messageId: 'msg-1',
        senderId: 'mgr-1',
        senderRole: 'manager',
        body: 'Task:\n\n\n  - step one\n\t- step two\n\n```ts\nconst x = 1;\n```',
      },
      { messageId: 'msg-2', senderId: 'exec-1', senderRole: 'executive', body: '\nstarts with a newline' },
      {
        messageId: 'msg-3',
        senderId: 'user',
        senderRole: 'user',
        body: 'ünïcødé 🚀 and "quotes" (parens): $x `y`',
      },
    ];
    assert.deepEqual(roundTrip(messages), messages);
  });

  void test('tmux-claude-looking text inside a body that is not a header line stays in the body', () => {
    const messages: Msg[] = [
      {
        messageId: 'msg-1',
        senderId: 'mgr-1',
        senderRole: 'manager',
        body:
          'Messages look like "[tmux-claude] message X from Y (role):" when quoted mid-line.\n' +
          '[tmux-claude] message without the rest of a header\n' +
          ' [tmux-claude] message msg-9 from exec-1 (executive):\n' +
          '[tmux-claude] message msg-9 from exec-1 (executive): not at line end',
      },
      { messageId: 'msg-2', senderId: 'spec-2', senderRole: 'specialist', body: 'second' },
    ];
    assert.deepEqual(roundTrip(messages), messages);
  });

  void test('an empty body round-trips as an empty body', () => {
    const messages: Msg[] = [
      { messageId: 'msg-1', senderId: 'mgr-1', senderRole: 'manager', body: '' },
      { messageId: 'msg-2', senderId: 'mgr-1', senderRole: 'manager', body: 'after an empty one' },
      { messageId: 'msg-3', senderId: 'mgr-1', senderRole: 'manager', body: '' },
    ];
    assert.deepEqual(roundTrip(messages), messages);
  });

  void test('text before the first header is ignored by the parser', () => {
    const text = `Some preamble\n\n${formatMessages([{ messageId: 'msg-1', senderId: 'a', senderRole: 'manager', body: 'b' }])}`;
    assert.deepEqual(parseDeliveredMessages(text), [
      { messageId: 'msg-1', senderId: 'a', senderRole: 'manager', body: 'b' },
    ]);
  });
});

void describe('messageIdsIn', () => {
  void test('finds the id of every message header, also inside text a CLI wrapped around the paste', () => {
    const text = formatMessages([
      { messageId: 'msg-1', senderId: 'mgr-1', senderRole: 'manager', body: 'a\tb' },
      { messageId: 'msg-2', senderId: 'user', senderRole: 'user', body: 'c' },
    ]);
    const wrapped = `\n\n<pasted_content id="85de">\n${text.replace('\t', '    ')}\n</pasted_content id="85de">\n`;
    assert.deepEqual(messageIdsIn(wrapped), ['msg-1', 'msg-2']);
    assert.deepEqual(messageIdsIn('no header here'), []);
  });

  void test('reads headers that carry a subject, reply, topic, ack and redelivery marks', () => {
    const text = formatMessages([
      {
        messageId: 'msg-a',
        senderId: 'spec-1',
        senderRole: 'specialist',
        body: 'b',
        subject: 'api: "v2" ready',
        replyTo: 'msg-0',
        requiresAck: true,
        redelivered: true,
      },
      {
        messageId: 'msg-b',
        senderId: 'supervisor',
        senderRole: 'supervisor',
        body: '{}',
        topic: 'system.merged',
        topicSeq: 3,
      },
    ]);
    assert.match(
      text,
      /^\[tmux-claude\] message msg-a from spec-1 \(specialist\); subject "api: \\"v2\\" ready"; reply to msg-0; ack required; redelivered:$/m,
    );
    assert.match(text, /; topic system\.merged #3:$/m);
    assert.deepEqual(messageIdsIn(text), ['msg-a', 'msg-b']);
  });
});
