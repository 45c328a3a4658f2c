import Anthropic from '@anthropic-ai/sdk';
import { ModelLimitError, type AssistantMessage, type ModelClient } from './turn-loop.js';

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
      let msg;
      try {
        msg = await stream.finalMessage();
      } catch (err) {
        throw limitError(err) ?? err;
      }
      const content: AssistantMessage['content'] = [];
      for (const b of msg.content) {
        if (b.type === 'text') content.push({ type: 'text', text: b.text });
        else if (b.type === 'tool_use') {
          const input =
            b.input !== null && typeof b.input === 'object' ? (b.input as Record<string, unknown>) : {};
          content.push({ type: 'tool_use', id: b.id, name: b.name, input });
        }
      }
      const u = msg.usage;
      return {
        content,
        stop_reason: msg.stop_reason,
        usage: {
          input_tokens: u.input_tokens,
          output_tokens: u.output_tokens,
          cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
          cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
          model: msg.model,
        },
      };
    },
  };
}

/** A 429 (rate limit) or 529 (overloaded) from the API as a {@link ModelLimitError} with its reset time. */
export function limitError(err: unknown, now = Date.now()): ModelLimitError | undefined {
  if (!(err instanceof Anthropic.APIError)) return undefined;
  const kind = err.status === 429 ? 'rate_limit' : err.status === 529 ? 'overloaded' : undefined;
  if (!kind) return undefined;
  return new ModelLimitError(kind, err.message, resetFromHeaders(err.headers, now));
}

/** When to retry, from retry-after-ms, retry-after (seconds or an HTTP date) or anthropic-ratelimit-*-reset. */
export function resetFromHeaders(headers: Headers | undefined, now = Date.now()): number | null {
  if (!headers) return null;
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return now + ms;
  const after = headers.get('retry-after');
  if (after !== null && after.trim() !== '') {
    const s = Number(after);
    if (Number.isFinite(s) && s >= 0) return now + s * 1000;
    const date = Date.parse(after);
    if (Number.isFinite(date)) return date;
  }
  const resets = ['requests', 'tokens', 'input-tokens', 'output-tokens']
    .map((k) => Date.parse(headers.get(`anthropic-ratelimit-${k}-reset`) ?? ''))
    .filter((t) => Number.isFinite(t));
  return resets.length > 0 ? Math.max(...resets) : null;
}
