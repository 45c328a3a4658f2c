import Anthropic from '@anthropic-ai/sdk';
import { strict as assert } from 'node:assert';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../core/index.js';
import { DEMO_PLAN } from './demo-plan.js';
import { formatMessages } from '../prompts/index.js';
import { createScriptedModelServer, type ScriptedModelServer } from './server.js';

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
    const end = await turn();
    assert.equal(end.stop_reason, 'end_turn');
    const text = end.content.find((b) => b.type === 'text')?.text ?? '';
    assert.match(text, /^ALL DONE: merged 2 managers/);
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
