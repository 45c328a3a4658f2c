/**
 * The subset of the Anthropic Messages wire format the scripted model reads and writes. Kept independent of
 * the SDK's types: requests come from any client (Claude Code, the lite runtime, tests) and unknown block
 * types must pass through without breaking the parser.
 */

export interface WireTextBlock {
  type: 'text';
  text: string;
}

export interface WireToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface WireToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | WireBlock[];
  is_error?: boolean;
}

/** Any other block type (images, thinking, …); the scenarios ignore it. */
export interface WireOtherBlock {
  type: string;
  [key: string]: unknown;
}

export type WireBlock = WireTextBlock | WireToolUseBlock | WireToolResultBlock | WireOtherBlock;

/** One entry of a request's `messages` array. */
export interface WireMessage {
  role: 'user' | 'assistant';
  content: string | WireBlock[];
}

/** A block the scripted model emits in its reply. */
export type ReplyBlock = WireTextBlock | WireToolUseBlock;

export type StopReason = 'end_turn' | 'tool_use' | 'stop_sequence' | 'max_tokens';

/** One scripted assistant reply, before ids and usage are attached. */
export interface ScriptedTurn {
  content: ReplyBlock[];
  stop_reason: StopReason;
  /** The stop sequence that ended the reply, with stop_reason "stop_sequence". */
  stop_sequence?: string;
}

export function isTextBlock(b: WireBlock): b is WireTextBlock {
  return b.type === 'text' && typeof (b as { text?: unknown }).text === 'string';
}

export function isToolUseBlock(b: WireBlock): b is WireToolUseBlock {
  return b.type === 'tool_use' && typeof (b as { name?: unknown }).name === 'string';
}

export function isToolResultBlock(b: WireBlock): b is WireToolResultBlock {
  return b.type === 'tool_result' && typeof (b as { tool_use_id?: unknown }).tool_use_id === 'string';
}

/** The blocks of a message; a string content is one text block. */
export function blocksOf(msg: WireMessage): WireBlock[] {
  if (typeof msg.content === 'string') return [{ type: 'text', text: msg.content }];
  return Array.isArray(msg.content) ? msg.content : [];
}

/** The text of a tool result, whichever of the two content shapes it uses. */
export function toolResultText(b: WireToolResultBlock): string {
  if (typeof b.content === 'string') return b.content;
  if (!Array.isArray(b.content)) return '';
  return b.content
    .filter(isTextBlock)
    .map((x) => x.text)
    .join('\n');
}
