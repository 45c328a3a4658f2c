/** A tool as offered to the model (Anthropic `tools` entry). */
export interface ToolDefinition {
  name: string;
  description: string;
  input_schema: {
    type: 'object';
    properties?: Record<string, unknown>;
    required?: string[];
    [key: string]: unknown;
  };
}

/** A tool call the model made. */
export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** What a tool call produced; `isError` becomes the tool_result's `is_error`. */
export interface ToolOutcome {
  content: string;
  isError: boolean;
}

/**
 * Runs the model's tool calls. Implementations turn failures into `{ isError: true }` outcomes where they
 * can; a rejection is also reported to the model as an error result.
 */
export interface ToolExecutor {
  execute(call: ToolCall, signal: AbortSignal): Promise<ToolOutcome>;
}
