import { asError } from '../../core/index.js';
import type { ToolCall, ToolDefinition, ToolExecutor, ToolOutcome } from './tool-types.js';

export interface TextBlock {
  type: 'text';
  text: string;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string;
  is_error?: boolean;
}

export type ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock;

/** One entry of the conversation sent to the model (Anthropic `messages`). */
export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: string | ContentBlock[];
}

/** Token counts of one model call, as the Messages API reports them (`usage`), and the model that answered. */
export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  model?: string;
}

/** The model's reply, reduced to the blocks the loop acts on. */
export interface AssistantMessage {
  content: (TextBlock | ToolUseBlock)[];
  stop_reason: string | null;
  /** What the call cost, when the API said. */
  usage?: ModelUsage;
}

/**
 * A model call refused for a limit: `rate_limit` (HTTP 429) or `overloaded` (529). `resetAt` (epoch ms) when
 * the API said when to retry (retry-after, retry-after-ms, or an anthropic-ratelimit-*-reset time).
 */
export class ModelLimitError extends Error {
  constructor(
    readonly kind: 'rate_limit' | 'overloaded',
    message: string,
    readonly resetAt: number | null,
  ) {
    super(message);
    this.name = 'ModelLimitError';
  }
}

export interface ModelRequest {
  system: string;
  messages: readonly ConversationMessage[];
  tools: readonly ToolDefinition[];
}

/** The language model, as the loop needs it. Rejects on API errors; honours `signal` to abort. */
export interface ModelClient {
  createMessage(request: ModelRequest, signal: AbortSignal): Promise<AssistantMessage>;
}

/** Callbacks for showing and recording a turn as it happens. */
export interface TurnObserver {
  assistant?(message: AssistantMessage): void;
  toolCall?(call: ToolCall): void;
  toolResult?(call: ToolCall, outcome: ToolOutcome): void;
}

export interface TurnOptions {
  model: ModelClient;
  tools: ToolExecutor;
  toolDefinitions: readonly ToolDefinition[];
  system: string;
  /** The conversation, ending with the user's prompt. The loop appends to it in place. */
  messages: ConversationMessage[];
  signal?: AbortSignal;
  /** Upper bound on model calls in this turn (default 50). */
  maxModelCalls?: number;
  observer?: TurnObserver;
}

/** How a turn ended: the model's stop reason, or `interrupted` / `max_model_calls`. */
export interface TurnResult {
  stopReason: string;
  /** Text of the last assistant message that had any (the Stop hook's `last_assistant_message`). */
  finalText: string;
  modelCalls: number;
}

function textOf(msg: AssistantMessage): string {
  return msg.content
    .filter((b): b is TextBlock => b.type === 'text')
    .map((b) => b.text)
    .join('\n')
    .trim();
}

/**
 * Runs one agent turn: calls the model, and while it stops for `tool_use`, runs every tool_use block of the
 * message concurrently and sends the results back (a failed tool becomes an `is_error` result). Rejects
 * only when the model call fails (not when it was aborted through `signal`).
 */
export async function runTurn(opts: TurnOptions): Promise<TurnResult> {
  const signal = opts.signal ?? new AbortController().signal;
  const max = opts.maxModelCalls ?? 50;
  let modelCalls = 0;
  let finalText = '';
  for (;;) {
    if (signal.aborted) return { stopReason: 'interrupted', finalText, modelCalls };
    if (modelCalls >= max) return { stopReason: 'max_model_calls', finalText, modelCalls };
    modelCalls += 1;
    let msg: AssistantMessage;
    try {
      msg = await opts.model.createMessage(
        { system: opts.system, messages: opts.messages, tools: opts.toolDefinitions },
        signal,
      );
    } catch (err) {
      if (signal.aborted) return { stopReason: 'interrupted', finalText, modelCalls };
      throw err;
    }
    // The API refuses an empty assistant message in the history.
    if (msg.content.length > 0) opts.messages.push({ role: 'assistant', content: msg.content });
    opts.observer?.assistant?.(msg);
    const text = textOf(msg);
    if (text) finalText = text;

    const uses = msg.content.filter((b): b is ToolUseBlock => b.type === 'tool_use');
    if (msg.stop_reason !== 'tool_use' || uses.length === 0) {
      return { stopReason: msg.stop_reason ?? 'end_turn', finalText, modelCalls };
    }
    const results = await Promise.all(
      uses.map(async (use): Promise<ToolResultBlock> => {
        const call: ToolCall = { id: use.id, name: use.name, input: use.input };
        opts.observer?.toolCall?.(call);
        let outcome: ToolOutcome;
        try {
          outcome = await opts.tools.execute(call, signal);
        } catch (err) {
          outcome = {
            content: signal.aborted ? 'interrupted by the user' : asError(err).message,
            isError: true,
          };
        }
        opts.observer?.toolResult?.(call, outcome);
        return {
          type: 'tool_result',
          tool_use_id: use.id,
          content: outcome.content,
          ...(outcome.isError ? { is_error: true } : {}),
        };
      }),
    );
    opts.messages.push({ role: 'user', content: results });
  }
}

/**
 * Adds a prompt to the conversation. When the conversation already ends with a user message (a turn that
 * failed or was interrupted before the model answered), the text joins that message, so user and assistant
 * keep alternating as the API requires.
 */
export function appendUserText(messages: ConversationMessage[], text: string): void {
  const last = messages.at(-1);
  if (last?.role !== 'user') {
    messages.push({ role: 'user', content: text });
    return;
  }
  const blocks: ContentBlock[] =
    typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : last.content;
  last.content = [...blocks, { type: 'text', text }];
}
