import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { createScriptedResponsesServer, toConversation, type ScriptedResponsesServer } from './index.js';

const DEVELOPER = {
  type: 'message',
  role: 'developer',
  content: [{ type: 'input_text', text: 'Role: executive' }],
};
const TOOLS = [
  { type: 'function', name: 'exec_command', parameters: {} },
  { type: 'namespace', name: 'mcp__tmux_claude', tools: [{ type: 'function', name: 'spawn' }] },
];

void describe('OpenAI Responses conversation mapping', () => {
  test('harness context is system text; calls and outputs pair up; Codex result wrappers are removed', () => {
    const conv = toConversation({
      instructions: 'base',
      tools: TOOLS,
      input: [
        DEVELOPER,
        {
          type: 'message',
          role: 'user',
          content: [{ type: 'input_text', text: '<environment_context>x</environment_context>' }],
        },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Build it' }] },
        { type: 'reasoning', summary: [] },
        {
          type: 'function_call',
          call_id: 'c1',
          name: 'spawn',
          namespace: 'mcp__tmux_claude',
          arguments: '{"name":"a"}',
        },
        {
          type: 'function_call_output',
          call_id: 'c1',
          output: [{ type: 'input_text', text: 'Wall time: 0.01 seconds\nOutput:\nError FORBIDDEN: no' }],
        },
      ],
    });
    assert.equal(conv.system, 'base\n\nRole: executive\n\n<environment_context>x</environment_context>');
    assert.deepEqual(conv.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Build it' }] },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'c1', name: 'mcp__tmux_claude__spawn', input: { name: 'a' } }],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'c1', content: 'Error FORBIDDEN: no', is_error: true }],
      },
    ]);
    // Codex's shell also stands in for Claude's Bash and Write, which the scenarios call.
    assert.deepEqual([...conv.tools.keys()], ['exec_command', 'mcp__tmux_claude__spawn', 'Bash', 'Write']);
  });
});

void describe('scripted OpenAI Responses server over HTTP', () => {
  let server: ScriptedResponsesServer;
  before(async () => {
    server = await createScriptedResponsesServer();
  });
  after(async () => {
    await server.close();
  });

  const post = (body: unknown) =>
    fetch(`${server.url}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  test('a streamed executive turn calls spawn under the namespace it was offered in', async () => {
    const res = await post({
      model: 'scripted',
      stream: true,
      tools: TOOLS,
      input: [
        DEVELOPER,
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Build it' }] },
      ],
    });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const events = (await res.text())
      .split('\n\n')
      .filter((e) => e.includes('data: '))
      .map(
        (e) =>
          JSON.parse(e.slice(e.indexOf('data: ') + 6)) as { type: string; item?: Record<string, unknown> },
      );
    assert.equal(events[0]?.type, 'response.created');
    assert.equal(events.at(-1)?.type, 'response.completed');
    const calls = events.filter(
      (e) => e.type === 'response.output_item.done' && e.item?.type === 'function_call',
    );
    assert.deepEqual(
      calls.map((c) => [
        c.item?.namespace,
        c.item?.name,
        (JSON.parse(String(c.item?.arguments)) as { name: string }).name,
      ]),
      [
        ['mcp__tmux_claude', 'spawn', 'text-utils'],
        ['mcp__tmux_claude', 'spawn', 'math-utils'],
      ],
    );
    assert.equal(server.requests, 1);
  });

  test('a structured-output side request (a title) gets JSON that fits its schema', async () => {
    const res = await post({
      input: 'Generate a title',
      text: {
        format: {
          type: 'json_schema',
          schema: {
            type: 'object',
            properties: { title: { type: 'string', maxLength: 8 } },
            required: ['title'],
          },
        },
      },
    });
    const body = (await res.json()) as { output: { content: { text: string }[] }[] };
    assert.deepEqual(JSON.parse(body.output[0]?.content[0]?.text ?? ''), { title: 'Scripted' });
  });
});
