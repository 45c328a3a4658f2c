import { asError } from '../../core/index.js';
import { stopHookContinuation, type HookEvent, type HookPoster } from './hooks.js';
import type { RuntimeUi } from './terminal-ui.js';
import type { ToolDefinition, ToolExecutor } from './tool-types.js';
import type { Transcript } from './transcript.js';
import {
  appendUserText,
  ModelLimitError,
  runTurn,
  type ConversationMessage,
  type ModelClient,
  type ModelUsage,
  type TurnResult,
} from './turn-loop.js';

/** Everything the runtime talks to; main.ts wires the real ones, tests inject fakes. */
export interface LiteRuntimeOptions {
  instanceId: string;
  role: string;
  cwd: string;
  system: string;
  model: ModelClient;
  tools: ToolExecutor;
  toolDefinitions: readonly ToolDefinition[];
  hooks: HookPoster;
  transcript: Transcript;
  ui: RuntimeUi;
  /** Reported in hook payloads as `transcript_path`, like Claude Code does. */
  transcriptPath?: string;
  /** Model calls per turn (default 50). */
  maxModelCalls?: number;
  /** Stop-hook continuations in a row before the runtime stops honouring `block` (default 20). */
  maxStopContinuations?: number;
  /**
   * The conversation of the session this one resumes (rebuilt from its transcript): the runtime continues
   * it, and SessionStart reports source `resume`.
   */
  resumed?: readonly ConversationMessage[];
}

/**
 * The agent loop of one pane. Prompts run one at a time in submission order (a prompt submitted while busy
 * is queued); each runs the model/tool loop, then posts the Stop hook and continues with its `block` reason,
 * if any. A model failure posts StopFailure and leaves the runtime ready for the next prompt. Keeps the whole
 * conversation in memory, starting from `resumed` when it continues an earlier session.
 */
export class LiteRuntime {
  /** The conversation so far, as sent to the model. */
  readonly messages: ConversationMessage[] = [];
  private readonly queue: string[] = [];
  private current: AbortController | undefined;
  private draining: Promise<void> | undefined;
  /** Token counts of the model calls since the last Stop/StopFailure hook, which reports and resets them. */
  private usage: ModelUsage | undefined;

  constructor(private readonly opts: LiteRuntimeOptions) {
    // A copy: the runtime appends to its last message in place.
    if (opts.resumed) this.messages.push(...structuredClone(opts.resumed));
  }

  get busy(): boolean {
    return this.draining !== undefined;
  }

  /** Posts SessionStart: the supervisor's signal that the instance is ready for prompts. */
  async announce(): Promise<void> {
    const source = this.opts.resumed ? 'resume' : 'startup';
    if (this.opts.resumed) this.opts.ui.notice(`resumed ${this.messages.length} messages`);
    this.opts.transcript.append({
      type: 'session_start',
      instance: this.opts.instanceId,
      role: this.opts.role,
      pid: process.pid,
      source,
    });
    await this.hook('SessionStart', { source, pid: process.pid });
  }

  /** Queues a prompt (exact text); it runs after the prompts before it. */
  submit(text: string): void {
    this.queue.push(text);
    if (this.draining) this.opts.ui.notice(`queued (${this.queue.length} waiting)`);
    else this.kick();
  }

  /** Aborts the running turn; false when there was none. */
  interrupt(): boolean {
    if (!this.current || this.current.signal.aborted) return false;
    this.current.abort();
    return true;
  }

  /** Resolves when every queued prompt has run. */
  async whenIdle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private kick(): void {
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.queue.length > 0) this.kick();
      else this.opts.ui.setBusy(false);
    });
  }

  private async drain(): Promise<void> {
    this.opts.ui.setBusy(true);
    for (let text = this.queue.shift(); text !== undefined; text = this.queue.shift()) {
      await this.runPrompt(text);
    }
  }

  private async runPrompt(prompt: string): Promise<void> {
    this.opts.transcript.append({ type: 'prompt', text: prompt, source: 'user' });
    await this.hook('UserPromptSubmit', { prompt });
    let text = prompt;
    let stopHookActive = false;
    for (let continuations = 0; ; continuations++) {
      appendUserText(this.messages, text);
      const result = await this.turn();
      if (!result) return;
      const response = await this.hook('Stop', {
        stop_hook_active: stopHookActive,
        last_assistant_message: result.finalText,
      });
      const next = stopHookContinuation(response);
      if (next === undefined) return;
      if (continuations >= (this.opts.maxStopContinuations ?? 20)) {
        this.opts.ui.error('the Stop hook keeps blocking; ignoring it');
        return;
      }
      this.opts.transcript.append({ type: 'prompt', text: next, source: 'stop_hook' });
      this.opts.ui.prompt(next);
      text = next;
      stopHookActive = true;
    }
  }

  /** One model/tool loop; undefined when the model failed (StopFailure already posted). */
  private async turn(): Promise<TurnResult | undefined> {
    const controller = new AbortController();
    this.current = controller;
    const { transcript, ui } = this.opts;
    try {
      const result = await runTurn({
        model: this.opts.model,
        tools: this.opts.tools,
        toolDefinitions: this.opts.toolDefinitions,
        system: this.opts.system,
        messages: this.messages,
        signal: controller.signal,
        ...(this.opts.maxModelCalls === undefined ? {} : { maxModelCalls: this.opts.maxModelCalls }),
        observer: {
          assistant: (msg) => {
            this.addUsage(msg.usage);
            transcript.append({ type: 'assistant', content: msg.content, stop_reason: msg.stop_reason });
            for (const b of msg.content) if (b.type === 'text' && b.text.trim()) ui.assistantText(b.text);
          },
          toolCall: (call) => {
            transcript.append({ type: 'tool_call', id: call.id, name: call.name, input: call.input });
            ui.toolCall(call);
          },
          toolResult: (call, outcome) => {
            transcript.append({
              type: 'tool_result',
              id: call.id,
              name: call.name,
              content: outcome.content,
              is_error: outcome.isError,
            });
            ui.toolResult(call, outcome);
          },
        },
      });
      transcript.append({ type: 'turn_end', stop_reason: result.stopReason, final_text: result.finalText });
      if (result.stopReason === 'interrupted') ui.notice('⎿ interrupted');
      if (result.stopReason === 'max_model_calls') ui.error('turn stopped: too many model calls');
      return result;
    } catch (err) {
      const message = asError(err).message;
      transcript.append({ type: 'error', message });
      ui.error(`model error: ${message}`);
      // Claude Code's StopFailure fields: `error` is the error type, `error_details` the text; the light
      // runtime adds the reset time when the API gave one, so the supervisor can resume it then.
      if (err instanceof ModelLimitError) {
        if (err.resetAt !== null) ui.notice(`${err.kind}: retry at ${new Date(err.resetAt).toISOString()}`);
        await this.hook('StopFailure', {
          error: err.kind,
          error_details: message,
          ...(err.resetAt !== null ? { reset_at: new Date(err.resetAt).toISOString() } : {}),
        });
      } else {
        await this.hook('StopFailure', { error: message });
      }
      return undefined;
    } finally {
      this.current = undefined;
    }
  }

  private addUsage(u: ModelUsage | undefined): void {
    if (!u) return;
    const sum = this.usage ?? {
      input_tokens: 0,
      output_tokens: 0,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    };
    this.usage = {
      input_tokens: sum.input_tokens + u.input_tokens,
      output_tokens: sum.output_tokens + u.output_tokens,
      cache_creation_input_tokens: sum.cache_creation_input_tokens + u.cache_creation_input_tokens,
      cache_read_input_tokens: sum.cache_read_input_tokens + u.cache_read_input_tokens,
      ...(u.model ? { model: u.model } : sum.model ? { model: sum.model } : {}),
    };
  }

  /**
   * Posts a hook with Claude Code's common fields; a failure is shown, never thrown. Stop and StopFailure also
   * carry `usage`: the token counts of the model calls since the previous one (the supervisor's budgets).
   */
  private async hook(event: HookEvent, fields: Record<string, unknown>): Promise<unknown> {
    const usage = event === 'Stop' || event === 'StopFailure' ? this.usage : undefined;
    if (usage) this.usage = undefined;
    try {
      return await this.opts.hooks.post(event, {
        hook_event_name: event,
        session_id: this.opts.instanceId,
        cwd: this.opts.cwd,
        ...(this.opts.transcriptPath ? { transcript_path: this.opts.transcriptPath } : {}),
        ...(usage ? { usage } : {}),
        ...fields,
      });
    } catch (err) {
      this.opts.ui.error(`hook ${event}: ${asError(err).message}`);
      return undefined;
    }
  }
}
