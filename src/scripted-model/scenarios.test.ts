import { strict as assert } from 'node:assert';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { runCommand } from '../core/index.js';
import { DEMO_PLAN, generatedProject, overlappingTasks } from './demo-plan.js';
import { formatMessages } from '../prompts/index.js';
import {
  extractJsonBlock,
  parseDeliveredMessages,
  scriptedKnobs,
  stripClientMarkup,
} from './prompt-formats.js';
import {
  appendCommand,
  commitCommand,
  knowledgeTag,
  nextTurn,
  readResultContent,
  shellQuote,
} from './scenarios.js';
import type { ReplyBlock, ScriptedTurn, WireMessage, WireToolUseBlock } from './wire.js';

function toolUses(turn: ScriptedTurn): WireToolUseBlock[] {
  return turn.content.filter((b): b is WireToolUseBlock => b.type === 'tool_use');
}

function textOf(turn: ScriptedTurn): string {
  return turn.content
    .filter((b: ReplyBlock) => b.type === 'text')
    .map((b) => (b.type === 'text' ? b.text : ''))
    .join('\n');
}

/** Appends the assistant turn and a user message with one result per tool_use (from `results(call)`). */
function answer(
  history: WireMessage[],
  turn: ScriptedTurn,
  results: (call: WireToolUseBlock) => { text: string; isError?: boolean },
): WireMessage[] {
  const calls = toolUses(turn);
  return [
    ...history,
    { role: 'assistant', content: turn.content },
    {
      role: 'user',
      content: calls.map((c) => {
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

let nextId = 0;
function spawnResult(call: WireToolUseBlock): { text: string } {
  const role = String(call.input.role);
  const id = `${role === 'manager' ? 'mgr' : 'spec'}-${String(call.input.name)}-${nextId++}`;
  return { text: JSON.stringify({ id, role, branch: `b-${id}`, tmuxSession: `tc-${id}` }) };
}

/** Instance ids from the spawn results in the last message. */
function spawnedIds(h: WireMessage[]): string[] {
  const last = h.at(-1)?.content;
  if (!Array.isArray(last)) return [];
  return last.map((r) => (JSON.parse(String((r as { content?: unknown }).content)) as { id: string }).id);
}

function done(senderId: string, senderRole: string, body: string, msgId = `msg-${senderId}`): string {
  return formatMessages([{ messageId: msgId, senderId, senderRole, body }]);
}

void describe('prompt formats', () => {
  void test('every delivered message block is parsed with its sender and body', () => {
    const text =
      formatMessages([
        {
          messageId: 'msg-1',
          senderId: 'mgr-a',
          senderRole: 'manager',
          body: 'DONE first\n\nwith a blank line',
        },
        { messageId: 'msg-2', senderId: 'spec-b', senderRole: 'specialist', body: 'hello (there)' },
      ]) + '\n';
    assert.deepEqual(parseDeliveredMessages(`Stop hook feedback:\n${text}`), [
      {
        messageId: 'msg-1',
        senderId: 'mgr-a',
        senderRole: 'manager',
        body: 'DONE first\n\nwith a blank line',
      },
      { messageId: 'msg-2', senderId: 'spec-b', senderRole: 'specialist', body: 'hello (there)' },
    ]);
  });

  void test('a fenced plan block is read as JSON; a non-JSON block is skipped', () => {
    const text = 'Goal\n```plan\nnot json\n```\nand\n```plan\n{"managers":[]}\n```\n';
    assert.deepEqual(extractJsonBlock(text, 'plan'), { managers: [] });
    assert.equal(extractJsonBlock('no block here', 'plan'), undefined);
  });
});

void describe('executive scenario', () => {
  void test('spawns one manager per demo-plan entry in a single message, then waits', () => {
    const goal: WireMessage[] = [{ role: 'user', content: 'Build some utilities' }];
    const t1 = nextTurn('executive', goal);
    assert.equal(t1.stop_reason, 'tool_use');
    const spawns = toolUses(t1);
    assert.deepEqual(
      spawns.map((s) => [s.name, s.input.role, s.input.name]),
      [
        ['spawn', 'manager', 'text-utils'],
        ['spawn', 'manager', 'math-utils'],
      ],
    );
    const plan = extractJsonBlock(String(spawns[0]?.input.prompt), 'plan');
    assert.deepEqual(plan?.specialists, DEMO_PLAN.managers[0]?.specialists);

    const t2 = nextTurn('executive', answer(goal, t1, spawnResult));
    assert.equal(t2.stop_reason, 'end_turn');
    assert.match(textOf(t2), /^Waiting for 2 managers/);
  });

  void test('uses the goal plan block when present', () => {
    const plan = {
      managers: [
        {
          name: 'docs',
          specialists: [
            { name: 'readme', files: [{ path: 'R.md', content: '# R' }], commit: 'docs: readme' },
          ],
        },
      ],
    };
    const t1 = nextTurn('executive', [
      { role: 'user', content: 'Goal\n```plan\n' + JSON.stringify(plan) + '\n```' },
    ]);
    const spawns = toolUses(t1);
    assert.equal(spawns.length, 1);
    assert.equal(spawns[0]?.input.name, 'docs');
    assert.deepEqual(extractJsonBlock(String(spawns[0]?.input.prompt), 'plan'), {
      name: 'docs',
      specialists: plan.managers[0]?.specialists,
    });
  });

  void test('passes the plan’s max_active, depends_on, priority and append flags on to the manager', () => {
    const manager = {
      name: 'gen',
      max_active: 3,
      specialists: generatedProject({ tasks: 10, seed: 2, sharedEvery: 2 }).specialists,
    };
    const t1 = nextTurn('executive', [
      { role: 'user', content: 'Goal\n```plan\n' + JSON.stringify({ managers: [manager] }) + '\n```' },
    ]);
    assert.deepEqual(extractJsonBlock(String(toolUses(t1)[0]?.input.prompt), 'plan'), manager);
  });

  void test('merges then terminates every manager that reports DONE (several in one prompt), then says ALL DONE', () => {
    let h: WireMessage[] = [{ role: 'user', content: 'Build some utilities' }];
    const t1 = nextTurn('executive', h);
    h = answer(h, t1, spawnResult);
    const [a, b] = spawnedIds(h) as [string, string];
    const t2 = nextTurn('executive', h);
    const both =
      done(a, 'manager', 'DONE manager text-utils: merged 2 specialists') +
      '\n\n' +
      done(b, 'manager', 'DONE manager math-utils: merged 2 specialists');
    h = prompt(h, t2, both);

    const t3 = nextTurn('executive', h);
    assert.equal(t3.stop_reason, 'tool_use');
    assert.deepEqual(
      toolUses(t3).map((u) => [u.name, u.input]),
      [
        ['merge_branch', { instance_id: a }],
        ['merge_branch', { instance_id: b }],
      ],
    );
    h = answer(h, t3, (c) => ({
      text: JSON.stringify({ merged: true, commit: 'abc1234', into: 'run', commits: 2, c: c.id }),
    }));

    const t4 = nextTurn('executive', h);
    assert.deepEqual(
      toolUses(t4).map((u) => [u.name, u.input]),
      [
        ['terminate', { id: a, cascade: true }],
        ['terminate', { id: b, cascade: true }],
      ],
    );
    h = answer(h, t4, () => ({ text: '{"terminated":true}' }));

    // Every manager merged: one query_knowledge, then ALL DONE with the number of entries it saw.
    const t5 = nextTurn('executive', h);
    assert.deepEqual(
      toolUses(t5).map((u) => [u.name, u.input]),
      [['query_knowledge', { limit: 100 }]],
    );
    h = answer(h, t5, () => ({
      text: JSON.stringify({ results: [{ key: 'a' }, { key: 'b' }, { key: 'c' }] }),
    }));
    const t6 = nextTurn('executive', h);
    assert.equal(t6.stop_reason, 'end_turn');
    assert.equal(
      textOf(t6),
      `ALL DONE: merged 2 managers (text-utils ${a}, math-utils ${b}) for goal "Build some utilities"; ` +
        'knowledge: 3 entries visible.',
    );
    // A later prompt does not query again.
    assert.equal(textOf(nextTurn('executive', prompt(h, t6, 'status?'))), textOf(t6));
  });

  /** An executive with both demo managers spawned and merged, up to its query_knowledge call. */
  function allMerged(): { h: WireMessage[]; query: ScriptedTurn } {
    let h: WireMessage[] = [{ role: 'user', content: 'goal' }];
    h = answer(h, nextTurn('executive', h), spawnResult);
    const [a, b] = spawnedIds(h) as [string, string];
    h = prompt(
      h,
      nextTurn('executive', h),
      done(a, 'manager', 'DONE manager text-utils') + '\n\n' + done(b, 'manager', 'DONE manager math-utils'),
    );
    h = answer(h, nextTurn('executive', h), () => ({ text: '{"merged":true}' }));
    h = answer(h, nextTurn('executive', h), () => ({ text: '{"terminated":true}' }));
    return { h, query: nextTurn('executive', h) };
  }

  void test('a failed query_knowledge does not stop the executive: ALL DONE says the query failed', () => {
    const { h, query } = allMerged();
    assert.deepEqual(
      toolUses(query).map((u) => u.name),
      ['query_knowledge'],
    );
    const failed = answer(h, query, () => ({ text: 'Error INTERNAL: no knowledge store', isError: true }));
    const end = nextTurn('executive', failed);
    assert.equal(end.stop_reason, 'end_turn');
    assert.match(
      textOf(end),
      /^ALL DONE: merged 2 managers \(.*\) for goal "goal"; knowledge: query failed\.$/,
    );
  });

  void test('a FAILED manager report ends the turn with RUN FAILED once; later turns wait for the others', () => {
    let h: WireMessage[] = [{ role: 'user', content: 'goal' }];
    h = answer(h, nextTurn('executive', h), spawnResult);
    const [a, b] = spawnedIds(h) as [string, string];
    const report = 'FAILED manager text-utils: task slugify failed: tests fail';
    h = prompt(h, nextTurn('executive', h), done(a, 'manager', report, 'msg-f1'));
    const t3 = nextTurn('executive', h);
    assert.equal(t3.stop_reason, 'end_turn');
    assert.equal(textOf(t3), `RUN FAILED: ${report}`);
    // The same report delivered again, or a plain prompt: no second RUN FAILED.
    h = prompt(h, t3, done(a, 'manager', report, 'msg-f1'));
    const t4 = nextTurn('executive', h);
    assert.match(textOf(t4), /^Waiting for 2 managers/);
    // The other manager's DONE is merged and terminated as before; the failed one is still waited for.
    h = prompt(h, t4, done(b, 'manager', 'DONE manager math-utils'));
    const merge = nextTurn('executive', h);
    assert.deepEqual(
      toolUses(merge).map((u) => [u.name, u.input]),
      [['merge_branch', { instance_id: b }]],
    );
    h = answer(h, merge, () => ({ text: '{"merged":true}' }));
    h = answer(h, nextTurn('executive', h), () => ({ text: '{"terminated":true}' }));
    assert.match(
      textOf(nextTurn('executive', h)),
      new RegExp(`^Waiting for 1 manager \\(text-utils ${a}\\)`),
    );
  });

  void test('merges a DONE manager delivered with a FAILED report first, then says RUN FAILED', () => {
    let h: WireMessage[] = [{ role: 'user', content: 'goal' }];
    h = answer(h, nextTurn('executive', h), spawnResult);
    const [a, b] = spawnedIds(h) as [string, string];
    const report = 'FAILED manager math-utils: merge conflict on sum: Error MERGE_CONFLICT: x';
    h = prompt(
      h,
      nextTurn('executive', h),
      done(a, 'manager', 'DONE manager text-utils') + '\n\n' + done(b, 'manager', report),
    );
    const merge = nextTurn('executive', h);
    assert.deepEqual(
      toolUses(merge).map((u) => [u.name, u.input]),
      [['merge_branch', { instance_id: a }]],
    );
    h = answer(h, merge, () => ({ text: '{"merged":true}' }));
    const term = nextTurn('executive', h);
    assert.deepEqual(
      toolUses(term).map((u) => [u.name, u.input]),
      [['terminate', { id: a, cascade: true }]],
    );
    h = answer(h, term, () => ({ text: '{"terminated":true}' }));
    const end = nextTurn('executive', h);
    assert.equal(end.stop_reason, 'end_turn');
    assert.equal(textOf(end), `RUN FAILED: ${report}`);
    assert.match(textOf(nextTurn('executive', prompt(h, end, 'status?'))), /^Waiting for 1 manager/);
  });

  void test('a DONE from one manager merges only that one and keeps waiting for the other', () => {
    let h: WireMessage[] = [{ role: 'user', content: 'goal' }];
    const t1 = nextTurn('executive', h);
    h = answer(h, t1, spawnResult);
    const [a] = spawnedIds(h) as [string];
    h = prompt(h, nextTurn('executive', h), done(a, 'manager', 'DONE manager text-utils'));
    const t3 = nextTurn('executive', h);
    h = answer(h, t3, () => ({ text: '{"merged":true}' }));
    const t4 = nextTurn('executive', h);
    h = answer(h, t4, () => ({ text: '{}' }));
    const t5 = nextTurn('executive', h);
    assert.match(textOf(t5), /^Waiting for 1 manager \(/);
    // The same message delivered again does not start a second merge.
    h = prompt(h, t5, done(a, 'manager', 'DONE manager text-utils'));
    assert.match(textOf(nextTurn('executive', h)), /^Waiting for 1 manager/);
  });

  void test('a failed tool result ends the turn with the error instead of looping', () => {
    let h: WireMessage[] = [{ role: 'user', content: 'goal' }];
    const t1 = nextTurn('executive', h);
    h = answer(h, t1, (c) =>
      c.input.name === 'math-utils' ? { text: 'spawn refused: quota', isError: true } : spawnResult(c),
    );
    const t2 = nextTurn('executive', h);
    assert.equal(t2.stop_reason, 'end_turn');
    assert.match(textOf(t2), /spawn .*failed: spawn refused: quota/);
    // The next prompt goes on with the manager that did start.
    h = prompt(h, t2, 'status?');
    assert.match(textOf(nextTurn('executive', h)), /^Waiting for 1 manager/);
  });

  void test('calls tools by the name the request offers (Claude Code prefixes MCP tools)', () => {
    const t1 = nextTurn('executive', [{ role: 'user', content: 'goal' }], {
      tools: ['Read', 'mcp__tmux-claude__spawn', 'mcp__tmux-claude__send'],
    });
    assert.deepEqual(
      toolUses(t1).map((u) => u.name),
      ['mcp__tmux-claude__spawn', 'mcp__tmux-claude__spawn'],
    );
  });
});

void describe('manager scenario', () => {
  const plan = {
    name: 'text-utils',
    specialists: DEMO_PLAN.managers[0]!.specialists,
  };
  const first: WireMessage[] = [
    { role: 'user', content: 'You are a manager.\n\n```plan\n' + JSON.stringify(plan) + '\n```' },
  ];

  // A supervisor without the work coordinator: spawn is offered, execute_parallel is not.
  const direct = { tools: ['spawn', 'merge_branch', 'terminate', 'send'] };

  void test('without execute_parallel it spawns one specialist per plan entry, merges each DONE, then reports', () => {
    const t1 = nextTurn('manager', first, direct);
    const spawns = toolUses(t1);
    assert.deepEqual(
      spawns.map((s) => [s.input.role, s.input.name]),
      [
        ['specialist', 'slugify'],
        ['specialist', 'capitalize'],
      ],
    );
    const task = extractJsonBlock(String(spawns[0]?.input.prompt), 'task');
    assert.deepEqual(task?.files, plan.specialists[0]?.files);
    assert.equal(task?.commit, 'feat(slugify): add slugify');

    let h = answer(first, t1, spawnResult);
    const [a, b] = spawnedIds(h) as [string, string];
    const t2 = nextTurn('manager', h, direct);
    assert.match(textOf(t2), /^Waiting for 2 specialists/);

    for (const id of [a, b]) {
      h = prompt(h, nextTurn('manager', h, direct), done(id, 'specialist', 'DONE 0123abc'));
      const merge = nextTurn('manager', h, direct);
      assert.deepEqual(
        toolUses(merge).map((u) => [u.name, u.input]),
        [['merge_branch', { instance_id: id }]],
      );
      h = answer(h, merge, () => ({ text: '{"merged":true,"commit":"f00","into":"m","commits":1}' }));
      const term = nextTurn('manager', h, direct);
      assert.deepEqual(
        toolUses(term).map((u) => [u.name, u.input]),
        [['terminate', { id }]],
      );
      h = answer(h, term, () => ({ text: '{"terminated":true}' }));
    }
    const report = nextTurn('manager', h, direct);
    assert.deepEqual(
      toolUses(report).map((u) => [u.name, u.input]),
      [['send', { to: 'parent', text: 'DONE manager text-utils: merged 2 specialists' }]],
    );
    h = answer(h, report, () => ({ text: '{"messageId":"msg-x","delivered":true}' }));
    const end = nextTurn('manager', h, direct);
    assert.equal(end.stop_reason, 'end_turn');
    assert.match(textOf(end), /DONE manager text-utils/);
  });

  void test('without a plan block it says so in text', () => {
    const t = nextTurn('manager', [{ role: 'user', content: 'hello' }]);
    assert.equal(t.stop_reason, 'end_turn');
    assert.match(textOf(t), /no ```plan block/);
  });
});

/** A task notice as the supervisor delivers it to a task's creator. */
function notice(
  messageId: string,
  subject: 'task.done' | 'task.failed',
  body: object,
  redelivered = false,
): string {
  return formatMessages([
    {
      messageId,
      senderId: 'supervisor',
      senderRole: 'supervisor',
      subject,
      body: JSON.stringify(body),
      ...(redelivered ? { redelivered: true } : {}),
    },
  ]);
}

const ok =
  (text = '{"ok":true}') =>
  () => ({ text });

void describe('manager scenario with the work coordinator', () => {
  const plan = {
    name: 'text-utils',
    max_active: 2,
    specialists: [
      DEMO_PLAN.managers[0]!.specialists[0]!,
      { ...DEMO_PLAN.managers[0]!.specialists[1]!, depends_on: ['slugify'], priority: 2 },
    ],
  };
  const first: WireMessage[] = [
    { role: 'user', content: 'You are a manager.\n\n```plan\n' + JSON.stringify(plan) + '\n```' },
  ];
  const started = JSON.stringify({
    tasks: [
      { name: 'slugify', task_id: 'task-1', state: 'ready' },
      { name: 'capitalize', task_id: 'task-2', state: 'blocked' },
    ],
    max_active: 2,
  });
  const doneBody = (taskId: string, name: string, instance: string) => ({
    task_id: taskId,
    name,
    title: `feat(${name}): add ${name}`,
    instance,
    branch: `b-${instance}`,
    result: '0123abc',
    epoch: 1,
  });
  /** The history right after execute_parallel was answered. */
  function running(): WireMessage[] {
    return answer(first, nextTurn('manager', first), ok(started));
  }
  function calls(turn: ScriptedTurn): [string, unknown][] {
    return toolUses(turn).map((u) => [u.name, u.input]);
  }

  void test('runs the whole plan with one execute_parallel call: one task per specialist entry', () => {
    const t1 = nextTurn('manager', first, {
      tools: ['mcp__tmux-claude__spawn', 'mcp__tmux-claude__execute_parallel'],
    });
    const [call] = toolUses(t1);
    assert.equal(toolUses(t1).length, 1);
    assert.equal(call?.name, 'mcp__tmux-claude__execute_parallel');
    const input = call?.input as { tasks: Record<string, unknown>[]; max_active?: number };
    assert.equal(input.max_active, 2);
    assert.equal('serialize_overlaps' in input, false);
    assert.deepEqual(
      input.tasks.map((t) => [t.name, t.title, t.files, t.depends_on, t.priority]),
      [
        [
          'slugify',
          'feat(slugify): add slugify',
          ['src/slugify.js', 'test/slugify.test.js'],
          undefined,
          undefined,
        ],
        [
          'capitalize',
          'feat(capitalize): add capitalize',
          ['src/capitalize.js', 'test/capitalize.test.js'],
          ['slugify'],
          2,
        ],
      ],
    );
    // The description is the specialist's prompt: its task block is what the specialist will write.
    const task = extractJsonBlock(String(input.tasks[0]?.description), 'task');
    assert.deepEqual(task, {
      name: 'slugify',
      files: plan.specialists[0]!.files,
      commit: 'feat(slugify): add slugify',
    });
    assert.match(String(input.tasks[0]?.description), /claim_task.*complete_task/s);
  });

  void test('merges and terminates each task.done once (a redelivery is ignored), waits on a retry, then reports DONE', () => {
    let h = running();
    const t2 = nextTurn('manager', h);
    assert.equal(textOf(t2), 'Waiting for 2 of 2 tasks to be done and merged: slugify, capitalize.');

    h = prompt(h, t2, notice('m-1', 'task.done', doneBody('task-1', 'slugify', 'spec-1')));
    const merge = nextTurn('manager', h);
    assert.deepEqual(calls(merge), [['merge_branch', { instance_id: 'spec-1' }]]);
    h = answer(h, merge, ok('{"merged":true,"commit":"f00","into":"mgr","commits":1}'));
    const term = nextTurn('manager', h);
    assert.deepEqual(calls(term), [['terminate', { id: 'spec-1' }]]);
    h = answer(h, term, ok('{"terminated":true}'));
    const wait = nextTurn('manager', h);
    assert.equal(textOf(wait), 'Waiting for 1 of 2 tasks to be done and merged: capitalize.');

    // The same message again (a restarted manager's unacked mail), and a retry of the other task: nothing to do.
    h = prompt(
      h,
      wait,
      notice('m-1', 'task.done', doneBody('task-1', 'slugify', 'spec-1'), true) +
        '\n\n' +
        notice('m-2', 'task.failed', {
          task_id: 'task-2',
          name: 'capitalize',
          instance: 'spec-2',
          error: 'lease expired',
          state: 'ready',
        }),
    );
    const still = nextTurn('manager', h);
    assert.equal(still.stop_reason, 'end_turn');
    assert.match(textOf(still), /^Waiting for 1 of 2 tasks/);

    h = prompt(h, still, notice('m-3', 'task.done', doneBody('task-2', 'capitalize', 'spec-3')));
    const merge2 = nextTurn('manager', h);
    assert.deepEqual(calls(merge2), [['merge_branch', { instance_id: 'spec-3' }]]);
    h = answer(h, merge2, ok());
    const term2 = nextTurn('manager', h);
    h = answer(h, term2, ok());
    // Every task merged: one query_knowledge before the report, whose count goes into the DONE text.
    const query = nextTurn('manager', h);
    assert.deepEqual(calls(query), [['query_knowledge', { limit: 100 }]]);
    h = answer(
      h,
      query,
      ok(JSON.stringify({ results: [{ key: 'slugify.summary' }, { key: 'capitalize.summary' }] })),
    );
    const report = nextTurn('manager', h);
    const doneText = 'DONE manager text-utils: merged 2 tasks; knowledge: 2 entries visible';
    assert.deepEqual(calls(report), [['send', { to: 'parent', text: doneText }]]);
    h = answer(h, report, ok('{"messageId":"msg-x","delivered":true}'));
    const end = nextTurn('manager', h);
    assert.equal(end.stop_reason, 'end_turn');
    assert.equal(textOf(end), `Reported to parent: ${doneText}.`);
    // A later prompt neither queries nor reports again.
    assert.deepEqual(calls(nextTurn('manager', prompt(h, end, 'status?'))), []);
  });

  void test('a failed query_knowledge still sends exactly one DONE, saying the query failed', () => {
    let h = running();
    h = prompt(
      h,
      nextTurn('manager', h),
      notice('m-1', 'task.done', doneBody('task-1', 'slugify', 'spec-1')) +
        '\n\n' +
        notice('m-2', 'task.done', doneBody('task-2', 'capitalize', 'spec-2')),
    );
    h = answer(h, nextTurn('manager', h), ok('{"merged":true}'));
    h = answer(h, nextTurn('manager', h), ok('{"terminated":true}'));
    const query = nextTurn('manager', h);
    assert.deepEqual(calls(query), [['query_knowledge', { limit: 100 }]]);
    h = answer(h, query, () => ({ text: 'Error INTERNAL: store closed', isError: true }));
    const report = nextTurn('manager', h);
    assert.deepEqual(calls(report), [
      ['send', { to: 'parent', text: 'DONE manager text-utils: merged 2 tasks; knowledge: query failed' }],
    ]);
    h = answer(h, report, ok());
    assert.equal(
      textOf(nextTurn('manager', h)),
      'Reported to parent: DONE manager text-utils: merged 2 tasks; knowledge: query failed.',
    );
    const sends = h.flatMap((m) =>
      m.role === 'assistant' && Array.isArray(m.content)
        ? m.content.filter((b) => b.type === 'tool_use' && b.name === 'send')
        : [],
    );
    assert.equal(sends.length, 1);
  });

  void test('a task given up (task.failed, state failed) is reported to the parent once, and the manager stops', () => {
    let h = running();
    const failed = notice('m-9', 'task.failed', {
      task_id: 'task-2',
      name: 'capitalize',
      title: 'feat(capitalize): add capitalize',
      instance: 'spec-2',
      error: 'tests fail\nsee the log',
      state: 'failed',
    });
    h = prompt(h, nextTurn('manager', h), failed);
    const report = nextTurn('manager', h);
    assert.deepEqual(calls(report), [
      [
        'send',
        { to: 'parent', text: 'FAILED manager text-utils: task capitalize failed: tests fail see the log' },
      ],
    ]);
    h = answer(h, report, ok());
    const end = nextTurn('manager', h);
    assert.equal(
      textOf(end),
      'Reported to parent: FAILED manager text-utils: task capitalize failed: tests fail see the log.',
    );
    // Later notices do not restart the work.
    h = prompt(h, end, notice('m-10', 'task.done', doneBody('task-1', 'slugify', 'spec-1')));
    assert.deepEqual(calls(nextTurn('manager', h)), []);
  });

  void test('a merge conflict is reported to the parent instead of stopping on the error', () => {
    let h = running();
    h = prompt(
      h,
      nextTurn('manager', h),
      notice('m-1', 'task.done', doneBody('task-1', 'slugify', 'spec-1')),
    );
    const merge = nextTurn('manager', h);
    const conflict =
      'Error MERGE_CONFLICT: merging spec-1 into mgr-1 conflicts in src/index.js\nWhat to do: rebase';
    h = answer(h, merge, () => ({ text: conflict, isError: true }));
    const report = nextTurn('manager', h);
    assert.deepEqual(calls(report), [
      [
        'send',
        {
          to: 'parent',
          text: 'FAILED manager text-utils: merge conflict on slugify: Error MERGE_CONFLICT: merging spec-1 into mgr-1 conflicts in src/index.js What to do: rebase',
        },
      ],
    ]);
    h = answer(h, report, ok());
    assert.match(
      textOf(nextTurn('manager', h)),
      /^Reported to parent: FAILED manager text-utils: merge conflict/,
    );
  });

  void test('a failed execute_parallel stops the turn; the next prompt makes the call again', () => {
    const t1 = nextTurn('manager', first);
    let h = answer(first, t1, () => ({
      text: 'Error INVALID_ARGUMENT: bad plan\nWhat to do: fix it',
      isError: true,
    }));
    const t2 = nextTurn('manager', h);
    assert.equal(t2.stop_reason, 'end_turn');
    assert.match(textOf(t2), /execute_parallel .*failed: Error INVALID_ARGUMENT/);
    h = prompt(h, t2, 'try again');
    assert.deepEqual(
      toolUses(nextTurn('manager', h)).map((u) => u.name),
      ['execute_parallel'],
    );
  });

  void test('tasks that share files ask the coordinator to run them one after the other', () => {
    const generated = generatedProject({ tasks: 8, sharedEvery: 2 });
    const t1 = nextTurn('manager', [
      { role: 'user', content: '```plan\n' + JSON.stringify(generated) + '\n```' },
    ]);
    const input = toolUses(t1)[0]?.input as {
      tasks: { name: string; files: string[] }[];
      serialize_overlaps?: boolean;
    };
    assert.equal(input.serialize_overlaps, true);
    assert.deepEqual(
      input.tasks.filter((t) => t.files.includes('src/index.js')).map((t) => t.name),
      ['gen000', 'gen002', 'gen004', 'gen006'],
    );
  });
});

void describe('specialist scenario', () => {
  const task = {
    files: [
      { path: 'src/a.js', content: 'a' },
      { path: 'test/a.test.js', content: 'b' },
    ],
    commit: 'feat(a): add a',
  };
  const first: WireMessage[] = [
    { role: 'user', content: 'Do it\n```task\n' + JSON.stringify(task) + '\n```' },
  ];

  void test('writes every file in one message, commits, reports DONE <sha>, then ends', () => {
    const t1 = nextTurn('specialist', first);
    assert.deepEqual(
      toolUses(t1).map((u) => [u.name, u.input]),
      task.files.map((f) => ['write_file', { path: f.path, content: f.content }]),
    );
    let h = answer(first, t1, () => ({ text: '{"ok":true}' }));
    const t2 = nextTurn('specialist', h);
    assert.deepEqual(
      toolUses(t2).map((u) => [u.name, u.input]),
      [['git_commit', { message: 'feat(a): add a' }]],
    );
    h = answer(h, t2, () => ({ text: '{"commit":"9f2c1e0d5b"}' }));
    const t3 = nextTurn('specialist', h);
    assert.deepEqual(
      toolUses(t3).map((u) => [u.name, u.input]),
      [['send', { to: 'parent', text: 'DONE 9f2c1e0d5b' }]],
    );
    h = answer(h, t3, () => ({ text: '{"messageId":"m","delivered":true}' }));
    const t4 = nextTurn('specialist', h);
    assert.equal(t4.stop_reason, 'end_turn');
    assert.equal(textOf(t4), 'Task complete: DONE 9f2c1e0d5b');
  });

  void test('a failed write ends the turn reporting the error', () => {
    const t1 = nextTurn('specialist', first);
    const h = answer(first, t1, (c) =>
      c.input.path === 'src/a.js'
        ? { text: 'path outside the working directory', isError: true }
        : { text: 'ok' },
    );
    const t2 = nextTurn('specialist', h);
    assert.equal(t2.stop_reason, 'end_turn');
    assert.match(textOf(t2), /write_file .*failed: path outside the working directory/);
  });

  void test('tool ids are deterministic and unique within the conversation', () => {
    const t1 = nextTurn('specialist', first);
    assert.deepEqual(nextTurn('specialist', first), t1);
    const ids = toolUses(t1).map((u) => u.id);
    assert.equal(new Set(ids).size, ids.length);
    const t2 = nextTurn(
      'specialist',
      answer(first, t1, () => ({ text: 'ok' })),
    );
    assert.ok(!ids.includes(toolUses(t2)[0]!.id));
  });
});

void describe('specialist scenario with a coordinator task', () => {
  const task = {
    name: 'a',
    files: [
      { path: 'src/a.js', content: 'a' },
      { path: 'CHANGELOG.md', content: '- a\n', append: true },
    ],
    commit: 'feat(a): add a',
  };
  const assignment =
    'Task id: task-7\nTitle: feat(a): add a\nFiles reserved for you: src/a.js, CHANGELOG.md\n' +
    'You are the specialist "a".\n\n```task\n' +
    JSON.stringify(task) +
    '\n```';
  const first: WireMessage[] = [{ role: 'user', content: assignment }];
  const claimed = JSON.stringify({
    task: { id: 'task-7', state: 'claimed', epoch: 3, owner: 'spec-1' },
    epoch: 3,
    lease_expires_at: '2030-01-01T00:00:00.000Z',
    reservations: [],
  });
  const sha = '9f2c1e0d5b9f2c1e0d5b9f2c1e0d5b9f2c1e0d5b';
  function calls(turn: ScriptedTurn): [string, unknown][] {
    return toolUses(turn).map((u) => [u.name, u.input]);
  }

  const progress = ['report_progress', { percent: 50, note: 'files written, committing' }] as const;
  const summary = {
    key: 'a.summary',
    value: `feat(a): add a — files: src/a.js, CHANGELOG.md; commit ${sha}`,
    tags: ['task', 'a'],
    paths: ['src/a.js', 'CHANGELOG.md'],
  };
  /** The history of `start` up to the commit's result: claim, writes (appends read first), commit. */
  function committed(start: WireMessage[], opts = {}): WireMessage[] {
    let h = answer(start, nextTurn('specialist', start, opts), () => ({ text: claimed }));
    for (;;) {
      const t = nextTurn('specialist', h, opts);
      const isCommit = toolUses(t).some(
        (u) => u.name.endsWith('git_commit') || String(u.input.command).includes('git commit'),
      );
      h = answer(h, t, () => ({ text: isCommit ? JSON.stringify({ commit: sha }) : '{"ok":true}' }));
      if (isCommit) return h;
    }
  }

  void test('claims the task, appends to the shared file it read, commits, records, completes; never sends DONE', () => {
    const t1 = nextTurn('specialist', first);
    assert.deepEqual(calls(t1), [['claim_task', { task_id: 'task-7' }]]);
    let h = answer(first, t1, () => ({ text: claimed }));
    const t2 = nextTurn('specialist', h);
    assert.deepEqual(calls(t2), [
      ['write_file', { path: 'src/a.js', content: 'a' }],
      ['read_file', { path: 'CHANGELOG.md' }],
    ]);
    h = answer(h, t2, (c) => ({ text: c.name === 'read_file' ? '# Changelog\n- b\n' : '{"bytes":1}' }));
    const t3 = nextTurn('specialist', h);
    assert.deepEqual(calls(t3), [
      ['write_file', { path: 'CHANGELOG.md', content: '# Changelog\n- b\n- a\n' }],
    ]);
    h = answer(h, t3, ok());
    // The commit goes with a progress report in the same turn.
    const t4 = nextTurn('specialist', h);
    assert.deepEqual(calls(t4), [['git_commit', { message: 'feat(a): add a' }], progress]);
    h = answer(h, t4, (c) =>
      ok(c.name === 'git_commit' ? JSON.stringify({ commit: sha }) : '{"progress":{"percent":50}}')(),
    );
    // With the sha known: the summary, in a turn of its own before complete_task.
    const t5 = nextTurn('specialist', h);
    assert.deepEqual(calls(t5), [['record_discovery', summary]]);
    h = answer(h, t5, ok(JSON.stringify({ recorded: { ...summary, version: 1, task_id: 'task-7' } })));
    const t6 = nextTurn('specialist', h);
    assert.deepEqual(calls(t6), [['complete_task', { task_id: 'task-7', epoch: 3, result: sha }]]);
    h = answer(h, t6, ok('{"task":{"id":"task-7","state":"done"},"unblocked":[]}'));
    const t7 = nextTurn('specialist', h);
    assert.equal(t7.stop_reason, 'end_turn');
    assert.equal(textOf(t7), `Task complete: task-7 ${sha}`);
    // A later prompt (e.g. a message) does not redo anything.
    assert.equal(textOf(nextTurn('specialist', prompt(h, t7, 'status?'))), `Task complete: task-7 ${sha}`);
  });

  void test('a failed record_discovery (or report_progress) does not stop the task: it completes and says so', () => {
    let h = answer(first, nextTurn('specialist', first), () => ({ text: claimed }));
    h = answer(h, nextTurn('specialist', h), ok());
    h = answer(h, nextTurn('specialist', h), ok());
    const commit = nextTurn('specialist', h);
    h = answer(h, commit, (c) =>
      c.name === 'git_commit'
        ? { text: JSON.stringify({ commit: sha }) }
        : { text: 'Error INVALID_ARGUMENT: no', isError: true },
    );
    const record = nextTurn('specialist', h);
    assert.deepEqual(
      toolUses(record).map((u) => u.name),
      ['record_discovery'],
    );
    const error = 'Error INVALID_ARGUMENT: tag "x": use 1–50 of a-z 0-9 . _ -\nWhat to do: fix the tags';
    h = answer(h, record, () => ({ text: error, isError: true }));
    const complete = nextTurn('specialist', h);
    assert.deepEqual(calls(complete), [['complete_task', { task_id: 'task-7', epoch: 3, result: sha }]]);
    h = answer(h, complete, ok('{"task":{"id":"task-7","state":"done"}}'));
    const end = nextTurn('specialist', h);
    const said =
      `Task complete: task-7 ${sha}; record_discovery failed: ` +
      'Error INVALID_ARGUMENT: tag "x": use 1–50 of a-z 0-9 . _ - What to do: fix the tags';
    assert.equal(textOf(end), said);
    // Not retried after a later prompt either.
    assert.equal(textOf(nextTurn('specialist', prompt(h, end, 'status?'))), said);
  });

  void test('the summary key and tag come from the task name (sanitised), else from the task id', () => {
    const named = (name: string | undefined, id: string): WireMessage[] => [
      {
        role: 'user',
        content:
          `Task id: ${id}\n\`\`\`task\n` +
          JSON.stringify({
            ...(name === undefined ? {} : { name }),
            files: [{ path: 'x.md', content: 'x' }],
            commit: 'docs: x\n\nbody',
          }) +
          '\n```',
      },
    ];
    const recordOf = (start: WireMessage[]) =>
      toolUses(nextTurn('specialist', committed(start))).find((u) => u.name === 'record_discovery')?.input;
    assert.deepEqual(recordOf(named('Docs: Fix README!', 'task-1')), {
      key: 'Docs: Fix README!.summary',
      value: `docs: x — files: x.md; commit ${sha}`,
      tags: ['task', 'docs--fix-readme-'],
      paths: ['x.md'],
    });
    assert.deepEqual(recordOf(named(undefined, 'Task_9')), {
      key: 'Task_9.summary',
      value: `docs: x — files: x.md; commit ${sha}`,
      tags: ['task', 'task_9'],
      paths: ['x.md'],
    });
    assert.deepEqual(recordOf(named('__Ünïcode', 't-2'))?.tags, ['task', 'n-code']);
    assert.deepEqual(recordOf(named('task', 't-3'))?.tags, ['task']);
    assert.equal(knowledgeTag('x'.repeat(80)).length, 50);
    for (const name of ['A b', '-x', 'Ü', 'a/b.c_d']) {
      assert.match(knowledgeTag(name) || 'task', /^[a-z0-9][a-z0-9._-]*$/);
    }
  });

  void test('appending to a file that does not exist creates it with the content', () => {
    let h = answer(first, nextTurn('specialist', first), () => ({ text: claimed }));
    const t2 = nextTurn('specialist', h);
    h = answer(h, t2, (c) =>
      c.name === 'read_file'
        ? { text: "ENOENT: no such file or directory, stat '/wt/CHANGELOG.md'", isError: true }
        : { text: 'ok' },
    );
    assert.deepEqual(calls(nextTurn('specialist', h)), [
      ['write_file', { path: 'CHANGELOG.md', content: '- a\n' }],
    ]);
  });

  void test('a refused claim ends the turn with CLAIM REFUSED; a later prompt claims again', () => {
    const t1 = nextTurn('specialist', first);
    const refusal = 'Error CONFLICT: task task-7 is not ready: blocked on task-6\nWhat to do: wait';
    let h = answer(first, t1, () => ({ text: refusal, isError: true }));
    const t2 = nextTurn('specialist', h);
    assert.equal(t2.stop_reason, 'end_turn');
    assert.equal(textOf(t2), `CLAIM REFUSED: task-7: ${refusal}`);
    h = prompt(h, t2, 'task-6 is done now');
    assert.deepEqual(calls(nextTurn('specialist', h)), [['claim_task', { task_id: 'task-7' }]]);
  });

  void test('a complete_task refused for a stale lease ends the turn with COMPLETE REFUSED and the epoch', () => {
    let h = answer(first, nextTurn('specialist', first), () => ({ text: claimed }));
    h = answer(h, nextTurn('specialist', h), ok());
    h = answer(h, nextTurn('specialist', h), ok());
    h = answer(h, nextTurn('specialist', h), ok(JSON.stringify({ commit: sha })));
    h = answer(h, nextTurn('specialist', h), ok('{"recorded":{}}'));
    const complete = nextTurn('specialist', h);
    assert.equal(toolUses(complete)[0]?.name, 'complete_task');
    const stale =
      'Error STALE_LEASE: cannot complete task task-7: your lease expired\nWhat to do: stop working on it';
    h = answer(h, complete, () => ({ text: stale, isError: true }));
    const end = nextTurn('specialist', h);
    assert.equal(end.stop_reason, 'end_turn');
    assert.equal(textOf(end), `COMPLETE REFUSED: task-7 epoch 3: ${stale}`);
  });

  void test('the fail knob gives the claimed task up with fail_task', () => {
    const failing: WireMessage[] = [
      {
        role: 'user',
        content: 'Task id: task-8\n```task\n{"files":[],"commit":"c","fail":"scripted failure"}\n```',
      },
    ];
    let h = answer(failing, nextTurn('specialist', failing), () => ({ text: claimed }));
    const t2 = nextTurn('specialist', h);
    assert.deepEqual(calls(t2), [['fail_task', { task_id: 'task-8', epoch: 3, error: 'scripted failure' }]]);
    h = answer(h, t2, ok('{"task":{"id":"task-8","state":"ready"}}'));
    assert.equal(textOf(nextTurn('specialist', h)), 'TASK FAILED: task-8 epoch 3: scripted failure');
  });

  void test('under Claude Code an append file is Read, then written whole with Write', () => {
    const worktree = '/wt/spec-1';
    const opts = {
      tools: ['Bash', 'Read', 'Write', 'mcp__tmux-claude__claim_task', 'mcp__tmux-claude__complete_task'],
      context: [`Role: specialist\nWorktree: ${worktree}`],
    };
    const t1 = nextTurn('specialist', first, opts);
    assert.deepEqual(calls(t1), [['mcp__tmux-claude__claim_task', { task_id: 'task-7' }]]);
    let h = answer(first, t1, () => ({ text: claimed }));
    const t2 = nextTurn('specialist', h, opts);
    assert.deepEqual(calls(t2), [
      ['Write', { file_path: `${worktree}/src/a.js`, content: 'a' }],
      ['Read', { file_path: `${worktree}/CHANGELOG.md` }],
    ]);
    // Claude Code 2.1 numbers each line; the file's final newline shows as an empty last line.
    h = answer(h, t2, (c) => ({ text: c.name === 'Read' ? '1\t# Changelog\n2\t- b\n3\t' : 'ok' }));
    assert.deepEqual(calls(nextTurn('specialist', h, opts)), [
      ['Write', { file_path: `${worktree}/CHANGELOG.md`, content: '# Changelog\n- b\n- a\n' }],
    ]);
  });

  void test('under Claude Code the knowledge tools are called by their mcp__tmux-claude__ names', () => {
    const worktree = '/wt/spec-1';
    const mcp = ['claim_task', 'complete_task', 'report_progress', 'record_discovery'].map(
      (t) => `mcp__tmux-claude__${t}`,
    );
    const opts = {
      tools: ['Bash', 'Read', 'Write', ...mcp],
      context: [`Role: specialist\nWorktree: ${worktree}`],
    };
    let h = answer(first, nextTurn('specialist', first, opts), () => ({ text: claimed }));
    h = answer(h, nextTurn('specialist', h, opts), ok('1\t# Changelog\n2\t'));
    h = answer(h, nextTurn('specialist', h, opts), ok());
    const commit = nextTurn('specialist', h, opts);
    assert.deepEqual(
      toolUses(commit).map((u) => [u.name, u.name === 'Bash' ? u.input.command : u.input]),
      [
        ['Bash', "git add -A && git commit -q -m 'feat(a): add a' && git rev-parse HEAD"],
        ['mcp__tmux-claude__report_progress', progress[1]],
      ],
    );
    h = answer(h, commit, (c) => ok(c.name === 'Bash' ? `${sha}\n` : '{"progress":{}}')());
    const record = nextTurn('specialist', h, opts);
    assert.deepEqual(calls(record), [['mcp__tmux-claude__record_discovery', summary]]);
    h = answer(h, record, ok('{"recorded":{}}'));
    assert.deepEqual(calls(nextTurn('specialist', h, opts)), [
      ['mcp__tmux-claude__complete_task', { task_id: 'task-7', epoch: 3, result: sha }],
    ]);
  });

  void test('without a Read tool (Codex’s shell) an append file is appended in place with Bash', () => {
    const worktree = '/wt/spec-1';
    const opts = { tools: ['Bash', 'Write', 'claim_task'], context: [`Worktree: ${worktree}`] };
    const h = answer(first, nextTurn('specialist', first, opts), () => ({ text: claimed }));
    const t2 = nextTurn('specialist', h, opts);
    assert.deepEqual(calls(t2), [
      ['Write', { file_path: `${worktree}/src/a.js`, content: 'a' }],
      [
        'Bash',
        {
          command: appendCommand(`${worktree}/CHANGELOG.md`, '- a\n'),
          description: 'Append to CHANGELOG.md',
        },
      ],
    ]);
    // The next step is the commit, not a second append.
    assert.match(
      String(toolUses(nextTurn('specialist', answer(h, t2, ok('')), opts))[0]?.input.command),
      /^git add -A/,
    );
  });

  void test('Read results are turned back into the file content', () => {
    assert.equal(readResultContent('1\tone\n2\t  two\n3\t'), 'one\n  two\n');
    assert.equal(readResultContent('1\tone\n2\ttwo'), 'one\ntwo');
    assert.equal(readResultContent('     1\u2192one\n     2\u2192'), 'one\n');
    assert.equal(
      readResultContent('1\tone\n2\t\n\n<system-reminder>\nWhenever you read a file…\n</system-reminder>\n'),
      'one\n',
    );
    assert.equal(
      readResultContent(
        '<system-reminder>Warning: the file exists but the contents are empty.</system-reminder>',
      ),
      '',
    );
    assert.equal(readResultContent('raw text\nwithout numbers\n'), 'raw text\nwithout numbers\n');
    assert.equal(readResultContent('1\tone\n[Truncated: PARTIAL view — lines 1-1 of 9]'), undefined);
  });
});

void describe('unknown situations', () => {
  void test('an unknown or missing role gets a text reply saying so', () => {
    for (const role of ['janitor', undefined]) {
      const t = nextTurn(role, [{ role: 'user', content: 'hi' }]);
      assert.equal(t.stop_reason, 'end_turn');
      assert.match(textOf(t), /unknown role/);
    }
  });

  void test('a conversation that does not end with a user message gets a text reply', () => {
    assert.equal(nextTurn('executive', []).stop_reason, 'end_turn');
    assert.match(
      textOf(nextTurn('specialist', [{ role: 'assistant', content: 'x' }])),
      /must end with a user message/,
    );
  });
});

void describe('Claude Code mechanics in the scenarios', () => {
  const worktree = '/home/u/.tmux-claude/worktrees/spec-1';
  const claudeTools = ['Agent', 'Bash', 'Edit', 'Read', 'Write', 'mcp__tmux-claude__send'];
  const context = [
    `You are spec-1.\nRole: specialist\nWorktree: ${worktree}\n`,
    `# Environment\n - Primary working directory: ${worktree}\n - Is a git repository: true\n`,
  ];
  const task = {
    files: [
      { path: 'src/a.js', content: 'a' },
      { path: 'README.md', content: "it's b" },
    ],
    commit: "feat(a): add a, it's new",
  };
  // What Claude Code sends for a pasted prompt: its own reminders first, the paste wrapped in tags.
  const first: WireMessage[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: '<system-reminder>\n# gitStatus\nCurrent branch: main\n</system-reminder>' },
        {
          type: 'text',
          text:
            '\n\n<pasted_content id="5702">\nDo it\n```task\n' +
            JSON.stringify(task) +
            '\n```\n</pasted_content id="5702">\n',
        },
      ],
    },
  ];
  const opts = { tools: claudeTools, context };

  void test('a specialist writes with Write (absolute paths), commits with one Bash command, reports the sha', () => {
    const t1 = nextTurn('specialist', first, opts);
    assert.deepEqual(
      toolUses(t1).map((u) => [u.name, u.input]),
      [
        ['Write', { file_path: `${worktree}/src/a.js`, content: 'a' }],
        ['Write', { file_path: `${worktree}/README.md`, content: "it's b" }],
      ],
    );
    let h = answer(first, t1, (c) => ({
      text: `File created successfully at: ${String(c.input.file_path)}`,
    }));
    const t2 = nextTurn('specialist', h, opts);
    assert.deepEqual(
      toolUses(t2).map((u) => [u.name, u.input.command]),
      [['Bash', "git add -A && git commit -q -m 'feat(a): add a, it'\\''s new' && git rev-parse HEAD"]],
    );
    assert.equal(typeof toolUses(t2)[0]?.input.description, 'string');
    const sha = '9f2c1e0d5b9f2c1e0d5b9f2c1e0d5b9f2c1e0d5b';
    h = answer(h, t2, () => ({ text: `${sha}\n` }));
    const t3 = nextTurn('specialist', h, opts);
    assert.deepEqual(
      toolUses(t3).map((u) => [u.name, u.input]),
      [['mcp__tmux-claude__send', { to: 'parent', text: `DONE ${sha}` }]],
    );
    h = answer(h, t3, () => ({ text: '{"messageId":"m","delivered":true}' }));
    assert.equal(textOf(nextTurn('specialist', h, opts)), `Task complete: DONE ${sha}`);
  });

  void test('a Write refused because the file was not read is retried after a Read; a failed commit stops', () => {
    const t1 = nextTurn('specialist', first, opts);
    let h = answer(first, t1, (c) =>
      String(c.input.file_path).endsWith('README.md')
        ? { text: 'File has not been read yet. Read it first before writing to it.', isError: true }
        : { text: 'ok' },
    );
    const t2 = nextTurn('specialist', h, opts);
    assert.deepEqual(
      toolUses(t2).map((u) => [u.name, u.input]),
      [['Read', { file_path: `${worktree}/README.md` }]],
    );
    h = answer(h, t2, () => ({ text: '1\t# old' }));
    const t3 = nextTurn('specialist', h, opts);
    assert.deepEqual(
      toolUses(t3).map((u) => [u.name, u.input]),
      [['Write', { file_path: `${worktree}/README.md`, content: "it's b" }]],
    );
    h = answer(h, t3, () => ({ text: 'ok' }));
    const t4 = nextTurn('specialist', h, opts);
    assert.equal(toolUses(t4)[0]?.name, 'Bash');
    h = answer(h, t4, () => ({ text: 'Exit code 1\nnothing to commit', isError: true }));
    const t5 = nextTurn('specialist', h, opts);
    assert.equal(t5.stop_reason, 'end_turn');
    assert.match(textOf(t5), /Bash .*failed: Exit code 1/);
  });

  void test('Bash enters the worktree first when Claude Code runs elsewhere; paths may not leave it', () => {
    const elsewhere = [context[0]!, '# Environment\n - Primary working directory: /srv/other\n'];
    const t1 = nextTurn('specialist', first, { tools: claudeTools, context: elsewhere });
    const h = answer(first, t1, () => ({ text: 'ok' }));
    const t2 = nextTurn('specialist', h, { tools: claudeTools, context: elsewhere });
    assert.match(String(toolUses(t2)[0]?.input.command), new RegExp(`^cd '${worktree}' && git add -A && `));

    const escaping: WireMessage[] = [
      { role: 'user', content: '```task\n{"files":[{"path":"../x.js","content":"x"}],"commit":"c"}\n```' },
    ];
    const t = nextTurn('specialist', escaping, opts);
    assert.equal(t.stop_reason, 'end_turn');
    assert.match(textOf(t), /task paths outside/);
  });

  void test('the executive reads its goal past Claude Code reminders and calls prefixed MCP tools', () => {
    const goal: WireMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: '<system-reminder>\nAttribution for git commits\n</system-reminder>\n' },
          { type: 'text', text: '<pasted_content id="1">\nShip the utilities\n</pasted_content id="1">' },
        ],
      },
    ];
    const tools = ['Read', 'mcp__tmux-claude__spawn', 'mcp__tmux-claude__merge_branch'];
    let h = goal;
    const t1 = nextTurn('executive', h, { tools });
    assert.deepEqual(
      toolUses(t1).map((u) => u.name),
      ['mcp__tmux-claude__spawn', 'mcp__tmux-claude__spawn'],
    );
    h = answer(h, t1, spawnResult);
    const [a] = spawnedIds(h) as [string];
    h = prompt(h, nextTurn('executive', h, { tools }), done(a, 'manager', 'DONE manager text-utils'));
    // Stop-hook feedback carries delivered messages the same way.
    h[h.length - 1] = { role: 'user', content: `Stop hook feedback:\n${String(h.at(-1)?.content)}` };
    assert.deepEqual(
      toolUses(nextTurn('executive', h, { tools })).map((u) => [u.name, u.input]),
      [['mcp__tmux-claude__merge_branch', { instance_id: a }]],
    );
  });

  void test('tryEdit: an executive calls Edit even when not offered, then ends its turn quoting the error', () => {
    const goal: WireMessage[] = [
      { role: 'user', content: 'Plan it.\n```scripted\n{"tryEdit": "NOTES.md"}\n```' },
    ];
    const ctx = ['Role: executive', ' - Primary working directory: /repo'];
    const tools = ['mcp__tmux-claude__spawn'];
    const t1 = nextTurn('executive', goal, { tools, context: ctx });
    assert.deepEqual(
      toolUses(t1).map((u) => [u.name, u.input]),
      [
        [
          'Edit',
          {
            file_path: '/repo/NOTES.md',
            old_string: '',
            new_string: 'edited by the scripted model (tryEdit knob)\n',
          },
        ],
      ],
    );
    const error = '<tool_use_error>Error: No such tool available: Edit</tool_use_error>';
    let h = answer(goal, t1, () => ({ text: error, isError: true }));
    const t2 = nextTurn('executive', h, { tools, context: ctx });
    assert.equal(t2.stop_reason, 'end_turn');
    assert.equal(textOf(t2), `EDIT REFUSED: Edit /repo/NOTES.md: ${error}`);
    // The next prompt goes on with the scenario.
    h = prompt(h, t2, 'go on');
    assert.equal(
      toolUses(nextTurn('executive', h, { tools, context: ctx }))[0]?.name,
      'mcp__tmux-claude__spawn',
    );
  });

  void test('tryEdit picks Write, or the light runtime’s write_file, when offered; a success is reported', () => {
    const goal: WireMessage[] = [{ role: 'user', content: '```scripted {"tryEdit": "x.md"}```' }];
    const ctx = ['Role: manager\nWorktree: /wt'];
    const viaWrite = nextTurn('manager', goal, { tools: ['Write', 'Read'], context: ctx });
    assert.deepEqual(
      toolUses(viaWrite).map((u) => [u.name, u.input.file_path]),
      [['Write', '/wt/x.md']],
    );
    const viaLite = nextTurn('manager', goal, { tools: ['write_file', 'spawn'] });
    assert.deepEqual(
      toolUses(viaLite).map((u) => [u.name, u.input.path]),
      [['write_file', 'x.md']],
    );
    const h = answer(goal, viaLite, () => ({ text: '{"ok":true}' }));
    assert.match(
      textOf(nextTurn('manager', h, { tools: ['write_file'] })),
      /^EDIT ALLOWED: write_file x\.md/,
    );
  });

  void test('tryEditAfterClaim: a specialist claims its task first, then tries the edit while holding it', () => {
    const prompt: WireMessage[] = [
      {
        role: 'user',
        content:
          'Task id: t-1\nTitle: a\n```task\n{"files": [{"path": "a.js", "content": "a"}], "commit": "add a"}\n```\n' +
          '```scripted {"tryEdit": "/elsewhere/x.md", "tryEditAfterClaim": true}```',
      },
    ];
    const tools = ['write_file', 'git_commit', 'claim_task', 'complete_task'];
    const first = nextTurn('specialist', prompt, { tools });
    assert.deepEqual(
      toolUses(first).map((u) => u.name),
      ['claim_task'],
    );
    const claimed = answer(prompt, first, () => ({ text: '{"task":{"id":"t-1"},"epoch":1}' }));
    assert.deepEqual(
      toolUses(nextTurn('specialist', claimed, { tools })).map((u) => [u.name, u.input.path]),
      [['write_file', '/elsewhere/x.md']],
    );
  });
});

void describe('prompt helpers for Claude Code', () => {
  void test('client markup is removed, delivered messages inside a reminder are kept', () => {
    assert.equal(stripClientMarkup('plain <b>text</b>'), 'plain <b>text</b>');
    assert.equal(stripClientMarkup('<system-reminder>\nctx\n</system-reminder>'), '');
    assert.equal(stripClientMarkup('\n<pasted_content id="7">\nhi\n</pasted_content id="7">\n'), 'hi');
    const delivered =
      '<system-reminder>\n[tmux-claude] message m1 from a (manager):\nDONE x\n</system-reminder>';
    assert.equal(parseDeliveredMessages(stripClientMarkup(delivered))[0]?.body.startsWith('DONE x'), true);
    const midTurn =
      'The user sent a new message while you were working:\n[tmux-claude] message m2 from b (specialist):\nDONE 1a2b\n\n' +
      'This is how Claude Code surfaces messages the user sends mid-turn — within the running turn. Address it.';
    assert.deepEqual(parseDeliveredMessages(stripClientMarkup(midTurn)), [
      { messageId: 'm2', senderId: 'b', senderRole: 'specialist', body: 'DONE 1a2b' },
    ]);
  });

  void test('scripted knobs: fenced or inline JSON, later blocks win, wrong types ignored', () => {
    assert.deepEqual(scriptedKnobs(['```scripted\n{"delayMs": 3000}\n```']), { delayMs: 3000 });
    assert.deepEqual(scriptedKnobs(['x ```scripted {"tryEdit":"a.md","tryTool":"Write"}``` y']), {
      tryEdit: 'a.md',
      tryTool: 'Write',
    });
    assert.deepEqual(
      scriptedKnobs([
        '```scripted\n{"delayMs": 1}\n```',
        '```scripted\n{"delayMs": "slow", "tryEdit": 3}\n```',
      ]),
      { delayMs: 1 },
    );
    assert.deepEqual(scriptedKnobs(['```scripted-transcript\n[]\n```', '```scripted\nnot json\n```']), {});
  });

  void test('firstAttempt knobs apply until the briefing names an earlier attempt', () => {
    const block =
      '```scripted {"delayMs": 5, "firstAttempt": {"delayMs": 600000, "tryEditAfterClaim": true}}```';
    assert.deepEqual(scriptedKnobs(['Role: specialist', block]), {
      delayMs: 600000,
      tryEditAfterClaim: true,
    });
    assert.deepEqual(
      scriptedKnobs([
        'Role: specialist\n\nEarlier attempts:\nYou take over task t-1 "x" (attempt 2 of 3).',
        block,
      ]),
      { delayMs: 5 },
    );
  });

  void test('the commit command survives a real shell with quotes and paragraphs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tc-commit-cmd-'));
    try {
      const git = (...args: string[]) => runCommand(['git', '-C', dir, ...args]);
      await git('init', '-q');
      await git('config', 'user.email', 't@example.com');
      await git('config', 'user.name', 'T');
      await writeFile(join(dir, 'a.txt'), 'a\n');
      const message = `fix: don't break on "quotes", $HOME or \`ticks\`\n\nSecond paragraph; it's fine.`;
      const res = await runCommand(['bash', '-c', commitCommand(message)], { cwd: dir });
      const sha = res.stdout.trim();
      assert.match(sha, /^[0-9a-f]{40}$/);
      assert.equal((await git('log', '-1', '--format=%B')).stdout.trim(), message);
      assert.equal(shellQuote("it's"), "'it'\\''s'");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

void describe('generated project (coordinator scale tests)', () => {
  void test('is deterministic for a seed, with one module and test per task and distinct task names', () => {
    const plan = generatedProject({ tasks: 40, seed: 7 });
    assert.deepEqual(generatedProject({ tasks: 40, seed: 7 }), plan);
    assert.notDeepEqual(generatedProject({ tasks: 40, seed: 8 }), plan);
    assert.equal(plan.specialists.length, 40);
    assert.equal(new Set(plan.specialists.map((s) => s.name)).size, 40);
    for (const s of plan.specialists) {
      assert.deepEqual(
        s.files.filter((f) => !f.append).map((f) => f.path),
        [`src/${s.name}.js`, `test/${s.name}.test.js`],
      );
    }
  });

  void test('a known share of tasks append distinct lines to shared files; overlappingTasks names them', () => {
    const plan = generatedProject({ tasks: 40, sharedEvery: 4 });
    const appenders = (path: string) =>
      plan.specialists.filter((s) => s.files.some((f) => f.path === path)).map((s) => s.name);
    assert.equal(appenders('src/index.js').length, 10);
    assert.equal(appenders('CHANGELOG.md').length, 5);
    const overlapping = overlappingTasks(plan);
    assert.equal(overlapping.length, 15);
    assert.deepEqual(
      new Set(overlapping),
      new Set([...appenders('src/index.js'), ...appenders('CHANGELOG.md')]),
    );
    const appended = plan.specialists.flatMap((s) => s.files.filter((f) => f.append).map((f) => f.content));
    assert.ok(
      appended.every((line) => /^[^\n]+\n$/.test(line)),
      'each append is one whole line',
    );
    assert.equal(new Set(appended).size, appended.length, 'no two appends are the same line');
    assert.deepEqual(overlappingTasks(generatedProject({ tasks: 40, sharedEvery: 0 })), []);
  });

  void test('dependency chains point at earlier tasks whose modules the dependents require', () => {
    const plan = generatedProject({ tasks: 40, seed: 3 });
    const index = new Map(plan.specialists.map((s, i) => [s.name, i]));
    const chained = plan.specialists.filter((s) => s.depends_on);
    assert.ok(chained.length >= 8, `${chained.length} dependent tasks`);
    for (const s of chained) {
      const [dep] = s.depends_on ?? [];
      assert.ok(index.get(dep!)! < index.get(s.name)!);
      assert.match(s.files[0]!.content, new RegExp(`require\\('\\./${dep}\\.js'\\)`));
    }
  });

  void test('its modules, tests and shared files work when the tasks land one after the other', async () => {
    const plan = generatedProject({ tasks: 12, seed: 5, sharedEvery: 3 });
    const dir = await mkdtemp(join(tmpdir(), 'tc-generated-'));
    try {
      // Plan order respects depends_on; appends add to what earlier tasks left, as in a specialist's worktree.
      for (const s of plan.specialists) {
        for (const f of s.files) {
          await mkdir(dirname(join(dir, f.path)), { recursive: true });
          if (f.append) await appendFile(join(dir, f.path), f.content);
          else await writeFile(join(dir, f.path), f.content);
        }
      }
      const tests = plan.specialists.map((s) => `test/${s.name}.test.js`);
      await runCommand([process.execPath, '--test', ...tests], { cwd: dir });
      const exported = await runCommand(
        [process.execPath, '-e', 'console.log(Object.keys(require("./src/index.js")).join(","))'],
        { cwd: dir },
      );
      assert.equal(exported.stdout.trim(), 'gen000,gen003,gen006,gen009');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void test('the append command adds exact bytes in a real shell, creating the file and its directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tc-append-cmd-'));
    try {
      const file = join(dir, 'deep', "it's.md");
      const line = '- don\'t break on "quotes", $HOME, `ticks` or %s\n';
      await runCommand(['bash', '-c', appendCommand(file, 'first\n')]);
      await runCommand(['bash', '-c', appendCommand(file, line)]);
      assert.equal(await readFile(file, 'utf8'), `first\n${line}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
