import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ROLES, TmuxClaudeError, type Envelope, type Role, type Task } from '../core/index.js';
import type { Caller, InstanceView, Orchestrator, SpawnResult } from './orchestrator.js';
import { TOOLS_BY_ROLE, buildMcpServer } from './tools.js';

interface RecordedCall {
  method: keyof Orchestrator;
  caller: Caller;
  args: unknown[];
}

interface RecordedAudit {
  caller: Caller;
  tool: string;
  ok: boolean;
  error: string | undefined;
}

const SPAWNED: SpawnResult = {
  id: 'spec-new',
  role: 'specialist',
  branch: 'specialist-spec-new-t1-x',
  worktree: '/tmp/wt',
  tmuxSession: 'tc-spec-new',
  host: 'h1',
};

const VIEW: InstanceView = {
  id: 'spec-1',
  runId: 'run-1',
  role: 'specialist',
  parentId: 'mgr-1',
  host: 'h1',
  name: 'x',
  state: 'idle',
  branch: null,
  agent: 'lite',
  tmuxSession: 'tc-spec-1',
  pid: null,
  taskId: null,
  error: null,
  pendingMessages: 0,
  progress: null,
};

const ENVELOPE: Envelope = {
  message: {
    id: 'msg-1',
    runId: 'run-1',
    from: 'mgr-1',
    to: 'children',
    subject: 'task',
    body: 'do it',
    requiresAck: true,
    replyTo: null,
    clientId: null,
    topic: null,
    topicSeq: null,
    createdAt: Date.UTC(2026, 0, 1),
  },
  delivery: {
    messageId: 'msg-1',
    recipient: 'spec-1',
    runId: 'run-1',
    seq: 1,
    state: 'delivered',
    attempts: 0,
    nextAttemptAt: 0,
    createdAt: 0,
    deliveredAt: 1,
    ackedAt: null,
    error: null,
  },
};

const TASK: Task = {
  id: 'tabc1234',
  runId: 'run-1',
  title: 'Add slugify',
  description: 'x'.repeat(400),
  dependsOn: [],
  files: ['src/slugify.js'],
  priority: 0,
  state: 'claimed',
  createdBy: 'mgr-1',
  assignee: 'spec-1',
  owner: 'spec-1',
  epoch: 2,
  leaseExpiresAt: Date.UTC(2026, 0, 1),
  attempts: 2,
  maxAttempts: 3,
  result: null,
  error: null,
  branch: null,
  mergedAt: null,
  createdAt: 0,
  updatedAt: 0,
  completedAt: null,
};

/** An Orchestrator that records every call and answers with canned values (or throws `failWith`). */
class RecordingOrchestrator implements Orchestrator {
  readonly calls: RecordedCall[] = [];
  readonly audits: RecordedAudit[] = [];
  failWith: unknown = undefined;

  private record<T>(method: keyof Orchestrator, caller: Caller, args: unknown[], value: T): Promise<T> {
    this.calls.push({ method, caller, args });
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve(value);
  }

  spawn: Orchestrator['spawn'] = (caller, req) => this.record('spawn', caller, [req], SPAWNED);
  send: Orchestrator['send'] = (caller, to, text, timeoutMs) =>
    this.record('send', caller, [to, text, timeoutMs], { messageId: 'msg-1', to, delivered: true });
  read: Orchestrator['read'] = (caller, id, since) =>
    this.record('read', caller, [id, since], { id, cursor: 7, text: 'screen' });
  list: Orchestrator['list'] = (caller) => this.record('list', caller, [], [VIEW]);
  terminate: Orchestrator['terminate'] = (caller, id, cascade) =>
    this.record('terminate', caller, [id, cascade], { terminated: [id], keptWorktrees: [] });
  restart: Orchestrator['restart'] = (caller, id) => this.record('restart', caller, [id], SPAWNED);
  setBudget: Orchestrator['setBudget'] = (caller, id, limits) =>
    this.record('setBudget', caller, [id, limits], { root: id });
  budgetsOf: Orchestrator['budgetsOf'] = (caller) => this.record('budgetsOf', caller, [], []);
  getProgress: Orchestrator['getProgress'] = (caller, id) =>
    this.record('getProgress', caller, [id], {
      root: id ?? caller.id,
      total: 1,
      percent: null,
      byState: {},
      tasks: { total: 0, merged: 0, byState: {} },
      instances: [],
    });
  mergeBranch: Orchestrator['mergeBranch'] = (caller, req) =>
    this.record('mergeBranch', caller, [req], {
      merged: true,
      source: 'a',
      into: 'b',
      commit: 'c0ffee',
      commits: 1,
      alreadyMerged: false,
    });
  sendMessage: Orchestrator['sendMessage'] = (caller, req) =>
    this.record('sendMessage', caller, [req], { messageId: 'msg-2', recipients: [req.to], duplicate: false });
  inbox: Orchestrator['inbox'] = (caller, opts) =>
    this.record('inbox', caller, [opts], { messages: [ENVELOPE], more: false });
  ack: Orchestrator['ack'] = (caller, ids) =>
    this.record('ack', caller, [ids], { acked: [...ids], alreadyAcked: [] });
  waitForMessages: Orchestrator['waitForMessages'] = (caller, opts) =>
    this.record('waitForMessages', caller, [opts], { messages: [], timedOut: true });
  publish: Orchestrator['publish'] = (caller, topic, body, subject) =>
    this.record('publish', caller, [topic, body, subject], {
      messageId: 'msg-3',
      recipients: [],
      duplicate: false,
      topic,
      topicSeq: 4,
    });
  subscribe: Orchestrator['subscribe'] = (caller, topic) =>
    this.record('subscribe', caller, [topic], { topic, headSeq: 4 });
  replay: Orchestrator['replay'] = (caller, topic, sinceSeq, limit) =>
    this.record('replay', caller, [topic, sinceSeq, limit], {
      topic,
      messages: [ENVELOPE.message],
      headSeq: 4,
    });
  createTask: Orchestrator['createTask'] = (caller, task) => this.record('createTask', caller, [task], TASK);
  listTasks: Orchestrator['listTasks'] = (caller, filter) =>
    this.record('listTasks', caller, [filter], { tasks: [TASK], more: false });
  claimTask: Orchestrator['claimTask'] = (caller, opts) =>
    this.record('claimTask', caller, [opts], { task: TASK, reservations: [] });
  heartbeat: Orchestrator['heartbeat'] = (caller) =>
    this.record('heartbeat', caller, [], { tasks: [TASK], reservations: 1, expiresAt: 0 });
  completeTask: Orchestrator['completeTask'] = (caller, taskId, epoch, result) =>
    this.record('completeTask', caller, [taskId, epoch, result], { task: TASK, unblocked: [] });
  failTask: Orchestrator['failTask'] = (caller, taskId, epoch, error, retry) =>
    this.record('failTask', caller, [taskId, epoch, error, retry], TASK);
  reserveFiles: Orchestrator['reserveFiles'] = (caller, patterns, mode, ttlMs) =>
    this.record('reserveFiles', caller, [patterns, mode, ttlMs], []);
  releaseFiles: Orchestrator['releaseFiles'] = (caller, patterns) =>
    this.record('releaseFiles', caller, [patterns], { released: [], notHeld: [] });
  checkConflicts: Orchestrator['checkConflicts'] = (caller) =>
    this.record('checkConflicts', caller, [], {
      reservationOverlaps: [],
      worktreeOverlaps: [],
      tasksWaitingOnFiles: [],
    });
  executeParallel: Orchestrator['executeParallel'] = (caller, req) =>
    this.record('executeParallel', caller, [req], {
      tasks: req.tasks.map((t, i) => ({
        name: t.name ?? t.title,
        taskId: `t${i}`,
        state: 'ready',
        dependsOn: [],
      })),
      maxActive: req.maxActive ?? 4,
      addedDependencies: 0,
    });
  recordDiscovery: Orchestrator['recordDiscovery'] = (caller, input) =>
    this.record('recordDiscovery', caller, [input], {
      id: 'kn-1',
      runId: 'run-1',
      key: input.key,
      value: input.value,
      tags: [...(input.tags ?? [])],
      paths: [...(input.paths ?? [])],
      recordedBy: caller.id,
      taskId: null,
      commit: 'c0ffee',
      branch: caller.branch,
      version: 1,
      createdAt: 0,
    });
  queryKnowledge: Orchestrator['queryKnowledge'] = (caller, q) =>
    this.record('queryKnowledge', caller, [q], []);
  reportProgress: Orchestrator['reportProgress'] = (caller, p) =>
    this.record('reportProgress', caller, [p], {
      percent: p.percent ?? null,
      note: p.note ?? null,
      updatedAt: 0,
    });
  recordToolCall: Orchestrator['recordToolCall'] = (caller, tool, ok, error) => {
    this.audits.push({ caller, tool, ok, error });
    return Promise.resolve();
  };
}

const CALLERS: Record<Role, Caller> = {
  executive: { id: 'exec-1', role: 'executive', runId: 'run-1', parentId: null, branch: 'tmux-claude/run-1' },
  manager: { id: 'mgr-1', role: 'manager', runId: 'run-1', parentId: 'exec-1', branch: 'manager-mgr-1-x' },
  specialist: { id: 'spec-1', role: 'specialist', runId: 'run-1', parentId: 'mgr-1', branch: 'spec-branch' },
};

/** A real SDK client connected in memory to the server built for `role`. */
async function connect(
  role: Role,
  orchestrator = new RecordingOrchestrator(),
): Promise<{ client: Client; orchestrator: RecordingOrchestrator; close: () => Promise<void> }> {
  const server = buildMcpServer(CALLERS[role], orchestrator);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'tools-test', version: '0.0.0' });
  await server.connect(serverTransport);
  await client.connect(clientTransport);
  return {
    client,
    orchestrator,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

void describe('MCP tool layer', () => {
  void test('each role is offered exactly the tools of TOOLS_BY_ROLE', async () => {
    const messaging = ['send_message', 'inbox', 'ack', 'wait_for_messages', 'publish', 'subscribe', 'replay'];
    const work = [
      'list_tasks',
      'check_conflicts',
      'claim_task',
      'heartbeat',
      'complete_task',
      'fail_task',
      'reserve_files',
      'release_files',
    ];
    const knowledge = ['record_discovery', 'query_knowledge', 'report_progress'];
    assert.equal(TOOLS_BY_ROLE.executive.length, 30);
    assert.deepEqual([...TOOLS_BY_ROLE.manager].sort(), [...TOOLS_BY_ROLE.executive].sort());
    assert.deepEqual(
      [...TOOLS_BY_ROLE.specialist].sort(),
      ['send', ...messaging, ...work, ...knowledge].sort(),
    );
    for (const role of ROLES)
      assert.ok(
        messaging.every((t) => TOOLS_BY_ROLE[role].includes(t)),
        role,
      );
    for (const role of ROLES) {
      const { client, close } = await connect(role);
      try {
        const names = (await client.listTools()).tools.map((t) => t.name).sort();
        assert.deepEqual(names, [...TOOLS_BY_ROLE[role]].sort(), role);
      } finally {
        await close();
      }
    }
  });

  void test("a manager's spawn schema offers only the specialist role; an executive's offers manager and specialist", async () => {
    const roleEnum = async (role: Role): Promise<unknown> => {
      const { client, close } = await connect(role);
      try {
        const spawn = (await client.listTools()).tools.find((t) => t.name === 'spawn');
        assert.ok(spawn);
        const props = spawn.inputSchema.properties as Record<string, { enum?: unknown }>;
        assert.deepEqual(spawn.inputSchema.required?.slice().sort(), ['name', 'role']);
        return props.role?.enum;
      } finally {
        await close();
      }
    };
    assert.deepEqual(await roleEnum('manager'), ['specialist']);
    assert.deepEqual(await roleEnum('executive'), ['manager', 'specialist']);
  });

  void test('a manager asking to spawn a manager is refused before the orchestrator', async () => {
    const { client, orchestrator, close } = await connect('manager');
    try {
      const res = await call(client, 'spawn', { role: 'manager', name: 'sneaky' });
      assert.equal(res.isError, true);
      assert.match(textOf(res), /role/);
      assert.deepEqual(orchestrator.calls, []);
    } finally {
      await close();
    }
  });

  void test('a tool outside the role set is an isError result and never reaches the orchestrator', async () => {
    const { client, orchestrator, close } = await connect('specialist');
    try {
      for (const name of [
        'spawn',
        'terminate',
        'merge_branch',
        'list',
        'create_task',
        'execute_parallel',
        'no_such_tool',
      ]) {
        const res = await call(client, name, { role: 'specialist', name: 'x', id: 'mgr-1' });
        assert.equal(res.isError, true, name);
        assert.match(textOf(res), new RegExp(`Tool ${name} not found`));
      }
      assert.deepEqual(orchestrator.calls, []);
      assert.deepEqual(orchestrator.audits, [], 'refused calls are not audited as tool calls');
    } finally {
      await close();
    }
  });

  void test('malformed arguments are rejected with a message naming the field and never reach the orchestrator', async () => {
    const { client, orchestrator, close } = await connect('executive');
    try {
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['send', { to: 'spec-1' }, 'text'],
        ['send', { to: 'spec-1', text: 42 }, 'text'],
        ['send', { to: '', text: 'hi' }, 'to'],
        ['send', { to: 'spec-1', text: 'hi', timeout_s: 'soon' }, 'timeout_s'],
        ['send', { to: 'spec-1', text: 'hi', timeout_s: -1 }, 'timeout_s'],
        ['spawn', { name: 'x' }, 'role'],
        ['spawn', { role: 'executive', name: 'x' }, 'role'],
        ['spawn', { role: 'specialist', name: 'x', agent: 'vim' }, 'agent'],
        ['spawn', { role: 'specialist' }, 'name'],
        ['read', { id: 'spec-1', since: -3 }, 'since'],
        ['read', { id: 'spec-1', since: 1.5 }, 'since'],
        ['terminate', { id: 'spec-1', cascade: 'yes' }, 'cascade'],
        ['restart', {}, 'id'],
        ['complete_task', { task_id: 't1' }, 'epoch'],
        ['complete_task', { task_id: 't1', epoch: 0 }, 'epoch'],
        ['complete_task', { task_id: 't1', epoch: 1.5 }, 'epoch'],
        ['fail_task', { task_id: 't1', epoch: 1 }, 'error'],
        ['claim_task', { wait_s: 301 }, 'wait_s'],
        ['reserve_files', { patterns: [] }, 'patterns'],
        ['reserve_files', { patterns: ['a'], mode: 'mine' }, 'mode'],
        ['create_task', { title: '' }, 'title'],
        ['create_task', { title: 'x', depends_on: 'ta' }, 'depends_on'],
        ['execute_parallel', { tasks: [] }, 'tasks'],
        ['execute_parallel', { tasks: [{ title: 'no name' }] }, 'tasks'],
        ['execute_parallel', { tasks: [{ name: 'a' }], max_active: 0 }, 'max_active'],
        ['record_discovery', { value: 'v' }, 'key'],
        ['record_discovery', { key: 'k', value: 'v', tags: 'x' }, 'tags'],
        ['query_knowledge', { syntax: 'regex' }, 'syntax'],
        ['query_knowledge', { limit: 0 }, 'limit'],
        ['report_progress', { percent: 101 }, 'percent'],
      ];
      for (const [name, args, field] of cases) {
        const res = await call(client, name, args);
        const text = textOf(res);
        assert.equal(res.isError, true, `${name} ${JSON.stringify(args)}`);
        assert.match(text, /Input validation error/, text);
        assert.match(
          text,
          new RegExp(`\\bat ${field}\\b`),
          `${name} ${JSON.stringify(args)} should name ${field}`,
        );
      }
      assert.deepEqual(orchestrator.calls, []);
    } finally {
      await close();
    }
  });

  void test('the orchestrator gets the token’s caller even when arguments claim another role or identity', async () => {
    const { client, orchestrator, close } = await connect('specialist');
    try {
      const res = await call(client, 'send', {
        to: 'parent',
        text: 'DONE abc123',
        role: 'executive',
        caller: { id: 'exec-1', role: 'executive' },
        as: 'exec-1',
        from: 'exec-1',
      });
      assert.equal(res.isError, undefined, textOf(res));
      assert.deepEqual(orchestrator.calls, [
        { method: 'send', caller: CALLERS.specialist, args: ['parent', 'DONE abc123', undefined] },
      ]);
    } finally {
      await close();
    }
  });

  void test('arguments are passed through to the orchestrator, converted to its units and names', async () => {
    const { client, orchestrator, close } = await connect('manager');
    try {
      await call(client, 'spawn', {
        role: 'specialist',
        name: 'auth-api',
        prompt: 'do it',
        agent: 'claude',
        caller: 'exec-1',
      });
      await call(client, 'send', { to: 'spec-1', text: 'hi', timeout_s: 2.5 });
      await call(client, 'read', { id: 'spec-1', since: 7 });
      await call(client, 'terminate', { id: 'spec-1' });
      await call(client, 'merge_branch', { instance_id: 'spec-1', into: 'main' });
      await call(client, 'get_progress', {});
      await call(client, 'list', {});
      await call(client, 'restart', { id: 'spec-1' });
      assert.deepEqual(
        orchestrator.calls.map((c) => [c.method, c.args]),
        [
          ['spawn', [{ role: 'specialist', name: 'auth-api', prompt: 'do it', agent: 'claude' }]],
          ['send', ['spec-1', 'hi', 2500]],
          ['read', ['spec-1', 7]],
          ['terminate', ['spec-1', false]],
          ['mergeBranch', [{ instanceId: 'spec-1', branch: undefined, into: 'main' }]],
          ['getProgress', [undefined]],
          ['list', []],
          ['restart', ['spec-1']],
        ],
      );
      assert.ok(orchestrator.calls.every((c) => c.caller === CALLERS.manager));
    } finally {
      await close();
    }
  });

  void test('messaging tools pass arguments through and answer in snake_case', async () => {
    const { client, orchestrator, close } = await connect('specialist');
    try {
      const sent = await call(client, 'send_message', {
        to: 'parent',
        body: 'b',
        subject: 's',
        requires_ack: true,
        reply_to: 'msg-0',
        client_id: 'c1',
      });
      assert.deepEqual(JSON.parse(textOf(sent)), {
        message_id: 'msg-2',
        recipients: ['parent'],
        duplicate: false,
      });
      const inbox = JSON.parse(textOf(await call(client, 'inbox', {}))) as { messages: unknown[] };
      assert.deepEqual(inbox.messages[0], {
        id: 'msg-1',
        from: 'mgr-1',
        to: 'children',
        subject: 'task',
        body: 'do it',
        requires_ack: true,
        reply_to: null,
        topic: null,
        topic_seq: null,
        sent_at: '2026-01-01T00:00:00.000Z',
        state: 'delivered',
        attempts: 0,
      });
      assert.deepEqual(JSON.parse(textOf(await call(client, 'ack', { ids: ['msg-1'] }))), {
        acked: ['msg-1'],
        already_acked: [],
      });
      assert.deepEqual(
        JSON.parse(textOf(await call(client, 'wait_for_messages', { timeout_s: 1.5, from: 'parent' }))),
        {
          messages: [],
          timed_out: true,
        },
      );
      const published = JSON.parse(textOf(await call(client, 'publish', { topic: 'api', body: 'v2' })));
      assert.deepEqual(published, {
        message_id: 'msg-3',
        recipients: [],
        duplicate: false,
        topic: 'api',
        seq: 4,
      });
      await call(client, 'subscribe', { topic: 'system.merged' });
      await call(client, 'replay', { topic: 'api', since_seq: 2 });
      assert.deepEqual(
        orchestrator.calls.map((c) => [c.method, c.args]),
        [
          [
            'sendMessage',
            [{ to: 'parent', body: 'b', subject: 's', requiresAck: true, replyTo: 'msg-0', clientId: 'c1' }],
          ],
          ['inbox', [{ unreadOnly: true, limit: 50 }]],
          ['ack', [['msg-1']]],
          ['waitForMessages', [{ timeoutMs: 1500, from: 'parent', subject: undefined }]],
          ['publish', ['api', 'v2', undefined]],
          ['subscribe', ['system.merged']],
          ['replay', ['api', 2, 100]],
        ],
      );
      const refused = await call(client, 'wait_for_messages', { timeout_s: 301 });
      assert.equal(refused.isError, true);
      assert.match(textOf(refused), /timeout_s/);
    } finally {
      await close();
    }
  });

  void test('a successful call returns the orchestrator’s value as JSON text', async () => {
    const { client, close } = await connect('executive');
    try {
      const res = await call(client, 'list', {});
      assert.equal(res.isError, undefined);
      assert.deepEqual(JSON.parse(textOf(res)), { instances: [VIEW] });
    } finally {
      await close();
    }
  });

  void test('an orchestrator error becomes an isError result with its code, message and hint', async () => {
    const orchestrator = new RecordingOrchestrator();
    orchestrator.failWith = new TmuxClaudeError('NOT_FOUND', 'instance "spec-9" not found', {
      hint: 'call list to see the agents in your subtree',
    });
    const { client, close } = await connect('executive', orchestrator);
    try {
      const res = await call(client, 'terminate', { id: 'spec-9' });
      assert.equal(res.isError, true);
      const text = textOf(res);
      assert.match(text, /NOT_FOUND/);
      assert.ok(text.includes('instance "spec-9" not found'), text);
      assert.ok(text.includes('call list to see the agents in your subtree'), text);
    } finally {
      await close();
    }
  });

  void test('an unexpected orchestrator error becomes an INTERNAL isError result', async () => {
    const orchestrator = new RecordingOrchestrator();
    orchestrator.failWith = new Error('disk on fire');
    const { client, close } = await connect('executive', orchestrator);
    try {
      const res = await call(client, 'list', {});
      assert.equal(res.isError, true);
      assert.match(textOf(res), /INTERNAL.*disk on fire/);
    } finally {
      await close();
    }
  });

  void test('every call that reaches the orchestrator is audited with ok true or false', async () => {
    const orchestrator = new RecordingOrchestrator();
    const { client, close } = await connect('manager', orchestrator);
    try {
      await call(client, 'list', {});
      orchestrator.failWith = new TmuxClaudeError('FORBIDDEN', 'spec-x is not in your subtree');
      await call(client, 'terminate', { id: 'spec-x' });
      assert.deepEqual(orchestrator.audits, [
        { caller: CALLERS.manager, tool: 'list', ok: true, error: undefined },
        { caller: CALLERS.manager, tool: 'terminate', ok: false, error: 'spec-x is not in your subtree' },
      ]);
    } finally {
      await close();
    }
  });

  void test('a failing audit does not turn a call that succeeded into an error', async () => {
    const orchestrator = new RecordingOrchestrator();
    orchestrator.recordToolCall = () => Promise.reject(new Error('store unavailable'));
    const { client, close } = await connect('executive', orchestrator);
    try {
      const res = await call(client, 'spawn', { role: 'manager', name: 'area' });
      assert.equal(res.isError, undefined, textOf(res));
      assert.deepEqual(JSON.parse(textOf(res)), SPAWNED);
      assert.equal(orchestrator.calls.length, 1);
    } finally {
      await close();
    }
  });

  void test('coordinator tools map snake_case arguments and answer with task views', async () => {
    const { client, orchestrator, close } = await connect('specialist');
    try {
      const claimed = JSON.parse(
        textOf(await call(client, 'claim_task', { task_id: 'tabc1234', wait_s: 2 })),
      );
      assert.equal(claimed.epoch, 2);
      assert.equal(claimed.task.lease_expires_at, '2026-01-01T00:00:00.000Z');
      assert.equal(claimed.task.description.length, 400, 'a claimed task carries its whole description');
      await call(client, 'complete_task', { task_id: 'tabc1234', epoch: 2, result: 'c0ffee' });
      await call(client, 'fail_task', { task_id: 'tabc1234', epoch: 2, error: 'tests fail' });
      await call(client, 'reserve_files', { patterns: ['src/**'], ttl_s: 5 });
      const listed = JSON.parse(textOf(await call(client, 'list_tasks', { owner: 'me' })));
      assert.ok(listed.tasks[0].description.length < 400, 'listings shorten descriptions');
      assert.deepEqual(
        orchestrator.calls.map((c) => [c.method, c.args]),
        [
          ['claimTask', [{ taskId: 'tabc1234', waitMs: 2000 }]],
          ['completeTask', ['tabc1234', 2, 'c0ffee']],
          ['failTask', ['tabc1234', 2, 'tests fail', true]],
          ['reserveFiles', [['src/**'], 'exclusive', 5000]],
          ['listTasks', [{ states: undefined, owner: 'spec-1', limit: 200 }]],
        ],
      );
    } finally {
      await close();
    }
  });

  void test('execute_parallel passes names, dependencies and max_active through', async () => {
    const { client, orchestrator, close } = await connect('manager');
    try {
      const res = await call(client, 'execute_parallel', {
        tasks: [
          { name: 'a', files: ['src/a.js'] },
          { name: 'b', title: 'B', depends_on: ['a'], description: 'do b' },
        ],
        max_active: 2,
        serialize_overlaps: true,
      });
      assert.deepEqual(JSON.parse(textOf(res)).max_active, 2);
      assert.deepEqual(orchestrator.calls[0]?.args, [
        {
          tasks: [
            {
              name: 'a',
              title: 'a',
              description: undefined,
              dependsOn: undefined,
              files: ['src/a.js'],
              priority: undefined,
            },
            {
              name: 'b',
              title: 'B',
              description: 'do b',
              dependsOn: ['a'],
              files: undefined,
              priority: undefined,
            },
          ],
          maxActive: 2,
          serializeOverlaps: true,
        },
      ]);
    } finally {
      await close();
    }
  });
});
