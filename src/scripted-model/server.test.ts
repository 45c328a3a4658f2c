import Anthropic from '@anthropic-ai/sdk';
import { strict as assert } from 'node:assert';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../core/index.js';
import { DEMO_PLAN } from './demo-plan.js';
import { formatMessages } from '../prompts/index.js';
import { createScriptedModelServer, type RequestLogEntry, type ScriptedModelServer } from './server.js';

const SYSTEM = 'You are part of tmux-claude.\nRole: executive\n';

void describe('scripted model server with the real Anthropic SDK', () => {
  let server: ScriptedModelServer;
  let client: Anthropic;

  before(async () => {
    server = await createScriptedModelServer({ delayMs: 5 });
    client = new Anthropic({ baseURL: server.url, apiKey: 'test-key', maxRetries: 0 });
  });
  after(async () => {
    await server.close();
  });

  void test('a non-streaming request returns tool_use blocks with parsed input and usage', async () => {
    const msg = await client.messages.create({
      model: 'scripted',
      max_tokens: 1024,
      system: SYSTEM,
      messages: [{ role: 'user', content: 'Build utilities' }],
    });
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.stop_reason, 'tool_use');
    const uses = msg.content.filter((b) => b.type === 'tool_use');
    assert.deepEqual(
      uses.map((u) => [u.name, (u.input as { name: string }).name]),
      [
        ['spawn', 'text-utils'],
        ['spawn', 'math-utils'],
      ],
    );
    assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
  });

  void test('a streamed conversation round-trips tool_use blocks through tool results to ALL DONE', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Build utilities' }];
    const turn = async (): Promise<Anthropic.Message> => {
      const stream = client.messages.stream({
        model: 'scripted',
        max_tokens: 1024,
        system: SYSTEM,
        messages,
      });
      const seen: string[] = [];
      for await (const event of stream) seen.push(event.type);
      assert.equal(seen[0], 'message_start');
      assert.equal(seen.at(-2), 'message_delta');
      assert.equal(seen.at(-1), 'message_stop');
      const msg = await stream.finalMessage();
      messages.push({ role: 'assistant', content: msg.content });
      return msg;
    };
    const reply = (msg: Anthropic.Message, result: (u: Anthropic.ToolUseBlock) => string): void => {
      messages.push({
        role: 'user',
        content: msg.content
          .filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')
          .map((u) => ({ type: 'tool_result' as const, tool_use_id: u.id, content: result(u) })),
      });
    };

    const spawn = await turn();
    const spawnInput = spawn.content.find((b) => b.type === 'tool_use')?.input as { prompt: string };
    assert.match(spawnInput.prompt, /```plan\n/);
    reply(spawn, (u) => {
      const name = (u.input as { name: string }).name;
      return JSON.stringify({
        id: `mgr-${name}`,
        role: 'manager',
        branch: `manager-${name}`,
        tmuxSession: name,
      });
    });
    const waiting = await turn();
    assert.equal(waiting.stop_reason, 'end_turn');

    messages.push({
      role: 'user',
      content: formatMessages([
        {
          messageId: 'msg-1',
          senderId: 'mgr-text-utils',
          senderRole: 'manager',
          body: 'DONE manager text-utils',
        },
        {
          messageId: 'msg-2',
          senderId: 'mgr-math-utils',
          senderRole: 'manager',
          body: 'DONE manager math-utils',
        },
      ]),
    });
    const merges = await turn();
    assert.deepEqual(
      merges.content.filter((b) => b.type === 'tool_use').map((u) => u.input),
      [{ instance_id: 'mgr-text-utils' }, { instance_id: 'mgr-math-utils' }],
    );
    reply(merges, () => '{"merged":true,"commit":"abc","into":"run","commits":2}');
    const terminates = await turn();
    reply(terminates, () => '{"terminated":true}');
    const query = await turn();
    assert.deepEqual(
      query.content.filter((b) => b.type === 'tool_use').map((u) => [u.name, u.input]),
      [['query_knowledge', { limit: 100 }]],
    );
    reply(query, () => '{"results":[]}');
    const end = await turn();
    assert.equal(end.stop_reason, 'end_turn');
    const text = end.content.find((b) => b.type === 'text')?.text ?? '';
    assert.match(text, /^ALL DONE: merged 2 managers .*; knowledge: 0 entries visible\.$/);
  });

  void test('a system prompt without a role gets a text reply, streamed', async () => {
    const msg = await client.messages
      .stream({ model: 'x', max_tokens: 10, system: 'hello', messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    assert.equal(msg.stop_reason, 'end_turn');
    assert.match(msg.content[0]?.type === 'text' ? msg.content[0].text : '', /unknown role/);
  });

  void test('a malformed request is a 400 invalid_request_error, and the server keeps serving', async () => {
    const res = await fetch(`${server.url}/v1/messages`, { method: 'POST', body: '{"messages": 3}' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
    const before = server.requests;
    await client.messages.create({
      model: 'scripted',
      max_tokens: 10,
      system: 'Role: specialist',
      messages: [{ role: 'user', content: 'no task' }],
    });
    assert.equal(server.requests, before + 1);
  });
});

void describe('demo plan', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tc-demo-plan-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void test("the demo specialists' modules pass their own tests", async () => {
    const files = DEMO_PLAN.managers.flatMap((m) => m.specialists.flatMap((s) => s.files));
    for (const f of files) {
      await mkdir(dirname(join(dir, f.path)), { recursive: true });
      await writeFile(join(dir, f.path), f.content);
    }
    const tests = files.filter((f) => f.path.startsWith('test/')).map((f) => f.path);
    assert.equal(tests.length, 4);
    // Without the parent's test-runner context the child reports in its own TAP output.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const res = await runCommand([process.execPath, '--test', '--test-reporter=tap', ...tests], {
      cwd: dir,
      env,
      timeoutMs: 60_000,
    });
    assert.match(res.stdout, /# pass 4/);
  });
});

/** Requests shaped like the ones real Claude Code 2.1.330 sends (recorded against this server). */
void describe('scripted model server with Claude Code request shapes', () => {
  let server: ScriptedModelServer;
  const log: RequestLogEntry[] = [];
  let onLog: (() => void) | undefined;
  const claudeSystem = [
    { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.330; cc_entrypoint=cli;' },
    {
      type: 'text',
      text: "You are Claude Code, Anthropic's official CLI for Claude.",
      cache_control: { type: 'ephemeral' },
    },
    {
      type: 'text',
      text: 'You are spec-1, part of a tmux-claude organisation.\nRole: specialist\nWorktree: /wt\n',
    },
  ];
  const envMessage = {
    role: 'system',
    content: '# Environment\n - Primary working directory: /wt\n - Is a git repository: true\n',
  };
  const tools = ['Agent', 'Bash', 'Edit', 'Read', 'Write', 'mcp__tmux-claude__send'].map((name) => ({
    name,
    description: name,
    input_schema: { type: 'object', properties: {} },
  }));

  const post = async (path: string, body: unknown): Promise<Response> =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-beta': 'x' },
      body: JSON.stringify(body),
    });

  /** The SSE events of a streamed reply, parsed. */
  const events = async (res: Response): Promise<{ event: string; data: Record<string, unknown> }[]> =>
    (await res.text())
      .split('\n\n')
      .filter((e) => e.trim() !== '')
      .map((e) => {
        const [ev, data] = e.split('\n') as [string, string];
        return {
          event: ev.slice('event: '.length),
          data: JSON.parse(data.slice('data: '.length)) as Record<string, unknown>,
        };
      });

  before(async () => {
    server = await createScriptedModelServer({
      onRequest: (e) => {
        log.push(e);
        onLog?.();
      },
    });
  });
  after(async () => {
    await server.close();
  });

  void test('rateLimitAfterClaim answers the request right after a successful claim with 429 and retry-after; a text after it ends the fault', async () => {
    const system = 'You are part of tmux-claude.\nRole: specialist\n';
    const prompt =
      'Task id: t1\n```task\n{"files":[{"path":"a","content":"a"}],"commit":"c"}\n```\n```scripted {"rateLimitAfterClaim": 7}```';
    const claim = { type: 'tool_use', id: 'c1', name: 'claim_task', input: { task_id: 't1' } };
    const result = { type: 'tool_result', tool_use_id: 'c1', content: '{"epoch":1}' };
    const base = [
      { role: 'user', content: prompt },
      { role: 'assistant', content: [claim] },
    ];
    const limited = await post('/v1/messages', {
      model: 'm',
      max_tokens: 100,
      system,
      messages: [...base, { role: 'user', content: [result] }],
    });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '7');
    assert.equal(limited.headers.get('x-should-retry'), 'false');
    assert.ok(Date.parse(limited.headers.get('anthropic-ratelimit-requests-reset') ?? '') > Date.now());
    assert.equal(((await limited.json()) as { error: { type: string } }).error.type, 'rate_limit_error');
    assert.equal(log.at(-1)?.kind, 'rate_limited');
    const resumed = await post('/v1/messages', {
      model: 'm',
      max_tokens: 100,
      system,
      messages: [...base, { role: 'user', content: [result, { type: 'text', text: 'continue' }] }],
    });
    assert.equal(resumed.status, 200);
    const failedClaim = await post('/v1/messages', {
      model: 'm',
      max_tokens: 100,
      system,
      messages: [...base, { role: 'user', content: [{ ...result, is_error: true }] }],
    });
    assert.equal(failedClaim.status, 200, 'a refused claim is not rate limited');
  });

  void test('a main-loop request with system-role messages, thinking and unknown blocks streams a scenario reply', async () => {
    const task = { files: [{ path: 'a.js', content: 'a' }], commit: 'feat: a' };
    const res = await post('/v1/messages?beta=true', {
      model: 'claude-opus-5-5',
      max_tokens: 128000,
      stream: true,
      system: claudeSystem,
      tools,
      thinking: { type: 'adaptive', display: 'updates' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      output_config: { effort: 'medium' },
      safeguards: [{ type: 'dangerous_tool_use', classifier_context: { v: 1 } }],
      metadata: { user_id: '{"session_id":"s"}' },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: '<system-reminder>\ngit status\n</system-reminder>' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'doc' } },
            { type: 'text', text: '```task\n' + JSON.stringify(task) + '\n```' },
          ],
        },
        envMessage,
        { role: 'system', content: [], output_config: { effort: 'medium' } },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'redacted_thinking', data: 'xyz' },
            { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'q' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
            { type: 'text', text: 'Looking around.' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_reference', tool_name: 'Write' },
            { type: 'text', text: 'go on', cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
    });
    assert.equal(res.status, 200);
    const evs = await events(res);
    assert.deepEqual(
      evs.slice(0, 2).map((e) => e.event),
      ['message_start', 'ping'],
    );
    const start = evs[0]!.data.message as { usage: Record<string, number> };
    for (const k of [
      'input_tokens',
      'output_tokens',
      'cache_creation_input_tokens',
      'cache_read_input_tokens',
    ]) {
      assert.equal(typeof start.usage[k], 'number', k);
    }
    const delta = evs.find((e) => e.event === 'message_delta')!.data as {
      delta: { stop_reason: string };
      usage: Record<string, number>;
    };
    assert.equal(delta.delta.stop_reason, 'tool_use');
    assert.ok(delta.usage.output_tokens! > 0 && delta.usage.input_tokens! > 0);
    const use = evs.find(
      (e) =>
        e.event === 'content_block_start' && (e.data.content_block as { type: string }).type === 'tool_use',
    );
    assert.deepEqual((use?.data.content_block as { name: string }).name, 'Write');
    assert.equal(log.at(-1)?.kind, 'scenario:specialist');
  });

  void test('count_tokens answers {input_tokens}, with the beta query too', async () => {
    const res = await post('/v1/messages/count_tokens?beta=true', {
      model: 'claude-opus-5-5',
      system: claudeSystem,
      tools,
      messages: [{ role: 'user', content: 'hello' }, envMessage],
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { input_tokens: number };
    assert.ok(Number.isInteger(body.input_tokens) && body.input_tokens > 0);
  });

  void test('malformed requests are refused with the field named', async () => {
    const cases: [unknown, RegExp][] = [
      [
        {
          messages: [
            { role: 'user', content: 'a' },
            { role: 3, content: 'b' },
          ],
        },
        /^messages\.1\.role:/,
      ],
      [{ messages: [{ role: 'user', content: [{ text: 'no type' }] }] }, /^messages\.0\.content\.0:/],
      [{ messages: [{ role: 'user', content: 7 }] }, /^messages\.0\.content:/],
      [{ messages: [], system: 5 }, /^system:/],
      [{ messages: [], tools: {} }, /^tools:/],
    ];
    for (const [body, re] of cases) {
      const res = await post('/v1/messages', body);
      assert.equal(res.status, 400);
      const err = ((await res.json()) as { error: { type: string; message: string } }).error;
      assert.equal(err.type, 'invalid_request_error');
      assert.match(err.message, re);
    }
    const bad = await fetch(`${server.url}/v1/messages`, { method: 'POST', body: '{not json' });
    assert.equal(bad.status, 400);
  });

  void test('side requests get valid, harmless answers and never reach a scenario', async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: 'k', maxRetries: 0 });
    const quota = await client.messages.create({
      model: 'claude-haiku',
      max_tokens: 1,
      messages: [{ role: 'user', content: 'quota' }],
    });
    assert.equal(quota.content[0]?.type, 'text');
    assert.equal(log.at(-1)?.kind, 'quota_check');

    const titleRes = await post('/v1/messages?beta=true', {
      model: 'claude-opus-5-5',
      max_tokens: 128000,
      stream: true,
      tools: [],
      system: [
        { type: 'text', text: 'You are naming a coding session so the user can pick it out of a long list.' },
      ],
      output_config: {
        effort: 'medium',
        format: {
          type: 'json_schema',
          schema: {
            type: 'object',
            properties: { title: { type: 'string' } },
            required: ['title'],
            additionalProperties: false,
          },
        },
      },
      messages: [
        { role: 'user', content: [{ type: 'text', text: '<session>\nRole: specialist\n</session>' }] },
      ],
    });
    const titleText = (await events(titleRes))
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => (e.data.delta as { text: string }).text)
      .join('');
    assert.equal(typeof (JSON.parse(titleText) as { title: unknown }).title, 'string');
    assert.equal(log.at(-1)?.kind, 'generate_session_title');

    const monitor = 'You are a security monitor for autonomous AI coding agents.\n\nRole: specialist';
    const stage1 = await client.messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 64,
      stop_sequences: ['</block>'],
      system: monitor,
      messages: [{ role: 'user', content: '<transcript>{"Bash":"git commit"}</transcript>' }],
    });
    assert.equal(stage1.stop_reason, 'stop_sequence');
    assert.equal(stage1.stop_sequence, '</block>');
    assert.equal(stage1.content[0]?.type === 'text' ? stage1.content[0].text : '', '<block>no');
    const stage2 = await client.messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 8192,
      system: monitor,
      messages: [{ role: 'user', content: '<transcript>{"Bash":"git commit"}</transcript>' }],
    });
    assert.match(stage2.content[0]?.type === 'text' ? stage2.content[0].text : '', /<block>no<\/block>/);
    assert.equal(log.at(-1)?.kind, 'auto_mode');

    for (const [text, kind] of [
      ['The user stepped away and is coming back. Recap in under 40 words.', 'away_summary'],
      [
        'You are now acting as the memory extraction subagent. Analyze the most recent ~4 messages.',
        'extract_memories',
      ],
    ] as const) {
      const msg = await client.messages.create({
        model: 'claude-opus-5-5',
        max_tokens: 1000,
        system: claudeSystem as Anthropic.TextBlockParam[],
        tools: tools as Anthropic.Tool[],
        messages: [
          { role: 'user', content: '```task\n{"files":[{"path":"a.js","content":"a"}],"commit":"c"}\n```' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: text },
        ],
      });
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(log.at(-1)?.kind, kind);
    }
  });

  void test('compaction carries the conversation, and the scenario resumes from the summary', async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: 'k', maxRetries: 0 });
    const sha = '0123456789abcdef0123456789abcdef01234567';
    const task = { files: [{ path: 'a.js', content: 'a' }], commit: 'feat: a' };
    const history: Anthropic.MessageParam[] = [
      { role: 'user', content: '```task\n' + JSON.stringify(task) + '\n```' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 't1', name: 'Write', input: { file_path: '/wt/a.js', content: 'a' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'ok' }] },
      {
        role: 'assistant',
        content: [
          {
            type: 'tool_use',
            id: 't2',
            name: 'Bash',
            input: { command: 'git add -A && git commit -q -m x && git rev-parse HEAD' },
          },
        ],
      },
    ];
    const summary = await client.messages.create({
      model: 'claude-opus-5-5',
      max_tokens: 20000,
      system: claudeSystem as Anthropic.TextBlockParam[],
      tools: tools as Anthropic.Tool[],
      messages: [
        ...history,
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't2', content: `${sha}\n` },
            {
              type: 'text',
              text: "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.\n\nYour task is to create a detailed summary of the conversation so far, paying close attention to the user's explicit requests.",
            },
          ],
        },
      ],
    });
    assert.equal(log.at(-1)?.kind, 'compact');
    const text = summary.content[0]?.type === 'text' ? summary.content[0].text : '';
    assert.match(text, /<summary>[\s\S]*```scripted-transcript\n/);
    // Claude Code starts over from the summary (without the <analysis> part) and goes on.
    const body = text.slice(text.indexOf('<summary>') + '<summary>'.length, text.indexOf('</summary>'));
    const next = await client.messages.create({
      model: 'claude-opus-5-5',
      max_tokens: 20000,
      system: claudeSystem as Anthropic.TextBlockParam[],
      tools: tools as Anthropic.Tool[],
      messages: [
        {
          role: 'user',
          content: `This session is being continued from a previous conversation that ran out of context.\n\nSummary:\n${body}`,
        },
        { role: 'user', content: 'Please continue the conversation from where we left off.' },
      ],
    });
    const use = next.content.find((b) => b.type === 'tool_use');
    assert.equal(use?.name, 'mcp__tmux-claude__send');
    assert.deepEqual(use?.input, { to: 'parent', text: `DONE ${sha}` });
  });

  void test('the delayMs knob slows only its own conversation', async () => {
    const slow = new AbortController();
    const order: string[] = [];
    const decided = new Promise<void>((resolve) => (onLog = resolve));
    const slowDone = fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      signal: slow.signal,
      body: JSON.stringify({
        model: 'm',
        max_tokens: 10,
        system: 'Role: manager',
        messages: [{ role: 'user', content: 'Work slowly.\n```scripted\n{"delayMs": 600000}\n```' }],
      }),
    }).then(
      () => order.push('slow answered'),
      () => order.push('slow aborted'),
    );
    // The slow request has been decided (and is now waiting) before the fast one is sent.
    await decided;
    onLog = undefined;
    const fast = await post('/v1/messages', {
      model: 'm',
      max_tokens: 10,
      system: 'Role: manager',
      messages: [{ role: 'user', content: 'hello' }],
    });
    assert.equal(fast.status, 200);
    order.push('fast answered');
    slow.abort();
    await slowDone;
    assert.deepEqual(order, ['fast answered', 'slow aborted']);
  });
});
