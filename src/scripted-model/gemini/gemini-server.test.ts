import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { createScriptedGeminiServer, toConversation, type ScriptedGeminiServer } from './index.js';

const SYSTEM = { parts: [{ text: 'base prompt' }, { text: 'Role: executive' }] };
const TOOLS = [{ functionDeclarations: [{ name: 'read_file' }, { name: 'mcp_tmux-claude_spawn' }] }];

void describe('Gemini conversation mapping', () => {
  test('MCP names become Claude-style, calls without ids pair with responses by name, wrappers are removed', () => {
    const conv = toConversation({
      systemInstruction: SYSTEM,
      tools: TOOLS,
      contents: [
        { role: 'user', parts: [{ text: '<session_context>\nctx\n</session_context>' }] },
        { role: 'user', parts: [{ text: 'mail a\\@b.c' }] },
        {
          role: 'model',
          parts: [
            { text: 'thinking', thought: true },
            { functionCall: { name: 'mcp_tmux-claude_spawn', args: { name: 'a' } } },
          ],
        },
        {
          role: 'user',
          parts: [
            {
              functionResponse: {
                name: 'mcp_tmux-claude_spawn',
                response: { output: '<untrusted_context>\n{"id":"mgr-a"}\n</untrusted_context>' },
              },
            },
          ],
        },
      ],
    });
    assert.equal(conv.system, 'base prompt\n\nRole: executive\n\n<session_context>\nctx\n</session_context>');
    assert.deepEqual(conv.messages, [
      { role: 'user', content: [{ type: 'text', text: 'mail a@b.c' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'gemini-call-0', name: 'mcp__tmux-claude__spawn', input: { name: 'a' } },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'gemini-call-0', content: '{"id":"mgr-a"}' }],
      },
    ]);
  });
});

void describe('scripted Gemini server over HTTP', () => {
  let server: ScriptedGeminiServer;
  before(async () => {
    server = await createScriptedGeminiServer();
  });
  after(async () => {
    await server.close();
  });

  const post = (path: string, body: unknown) =>
    fetch(`${server.url}/v1beta/models/gemini-test:${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  test('a streamed executive turn calls spawn by the function name Gemini offered', async () => {
    const res = await post('streamGenerateContent?alt=sse', {
      systemInstruction: SYSTEM,
      tools: TOOLS,
      contents: [{ role: 'user', parts: [{ text: 'Build it' }] }],
    });
    const chunks = (await res.text())
      .split('\n\n')
      .filter((c) => c.startsWith('data: '))
      .map(
        (c) => JSON.parse(c.slice(6)) as { candidates: { content: { parts: Record<string, unknown>[] } }[] },
      );
    const parts = chunks.flatMap((c) => c.candidates[0]?.content.parts ?? []);
    const calls = parts
      .filter((p) => p.functionCall)
      .map((p) => p.functionCall as { name: string; args: { name: string } });
    assert.deepEqual(
      calls.map((c) => [c.name, c.args.name]),
      [
        ['mcp_tmux-claude_spawn', 'text-utils'],
        ['mcp_tmux-claude_spawn', 'math-utils'],
      ],
    );
  });

  test("a JSON side request (Gemini's next-speaker check) hands the turn back to the user", async () => {
    const res = await post('generateContent', {
      contents: [{ role: 'user', parts: [{ text: 'who speaks next?' }] }],
      generationConfig: {
        responseMimeType: 'application/json',
        responseJsonSchema: {
          type: 'object',
          properties: {
            reasoning: { type: 'string' },
            next_speaker: { type: 'string', enum: ['model', 'user'] },
          },
        },
      },
    });
    const body = (await res.json()) as { candidates: { content: { parts: { text: string }[] } }[] };
    assert.equal(
      (JSON.parse(body.candidates[0]?.content.parts[0]?.text ?? '') as { next_speaker: string }).next_speaker,
      'user',
    );
  });

  test('unknown routes get a Gemini-style error', async () => {
    const res = await fetch(`${server.url}/v1beta/models/x:embedContent`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { status: string } }).error.status, 'NOT_FOUND');
  });
});
