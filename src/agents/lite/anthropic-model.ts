import Anthropic from '@anthropic-ai/sdk';
import type { AssistantMessage, ModelClient } from './turn-loop.js';

/** Options of {@link createAnthropicModel}. */
export interface AnthropicModelOptions {
  /** `ANTHROPIC_BASE_URL`; the SDK's default when absent. */
  baseURL?: string;
  apiKey: string;
  model: string;
  maxTokens?: number;
}

/** The model through the official SDK client, streaming each request (`messages.stream`). */
export function createAnthropicModel(opts: AnthropicModelOptions): ModelClient {
  const client = new Anthropic({
    apiKey: opts.apiKey,
    maxRetries: 2,
    ...(opts.baseURL ? { baseURL: opts.baseURL } : {}),
  });
  return {
    async createMessage(req, signal): Promise<AssistantMessage> {
      const stream = client.messages.stream(
        {
          model: opts.model,
          max_tokens: opts.maxTokens ?? 8192,
          system: req.system,
          messages: [...req.messages],
          ...(req.tools.length > 0 ? { tools: [...req.tools] } : {}),
        },
        { signal },
      );
      const msg = await stream.finalMessage();
      const content: AssistantMessage['content'] = [];
      for (const b of msg.content) {
        if (b.type === 'text') content.push({ type: 'text', text: b.text });
        else if (b.type === 'tool_use') {
          const input =
            b.input !== null && typeof b.input === 'object' ? (b.input as Record<string, unknown>) : {};
          content.push({ type: 'tool_use', id: b.id, name: b.name, input });
        }
      }
      return { content, stop_reason: msg.stop_reason };
    },
  };
}
