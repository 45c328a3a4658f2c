import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { asError } from '../../core/index.js';
import type { RuntimeUi } from './terminal-ui.js';
import type { ToolCall, ToolOutcome } from './tool-types.js';

/** What {@link PermissionDialog} needs: the screen, and a way to tell the supervisor (the Notification hook). */
export interface PermissionDialogDeps {
  ui: Pick<RuntimeUi, 'notice'>;
  /** Posts Claude Code's Notification hook with `notification_type: "permission_prompt"`. */
  notify(message: string): Promise<void>;
  /** After an answered dialog let the call run (Claude Code's PostToolUse): the agent is busy again. */
  toolUsed(call: ToolCall): Promise<void>;
}

/**
 * The light runtime's permission dialog, shaped like Claude Code's: a specialist's write_file outside its
 * worktree is not refused outright but asks the user in the pane ("Allow? (y/n)"), and the agent waits —
 * blocked — until someone answers (a submitted `y`/`yes` allows it; anything else, or an interrupt, denies).
 */
export class PermissionDialog {
  private pending: ((allowed: boolean) => void) | undefined;

  constructor(private readonly deps: PermissionDialogDeps) {}

  get open(): boolean {
    return this.pending !== undefined;
  }

  /** A line submitted while the dialog is open answers it (true); otherwise it is a prompt (false). */
  answer(text: string): boolean {
    const settle = this.pending;
    if (!settle) return false;
    this.pending = undefined;
    settle(/^\s*y(es)?\s*$/i.test(text));
    return true;
  }

  /**
   * Runs a local tool's outcome past the dialog: a write_file refused for leaving the working directory asks
   * the user, and when allowed writes the file where the model asked. Any other outcome passes unchanged.
   */
  async review(call: ToolCall, outcome: ToolOutcome, cwd: string, signal: AbortSignal): Promise<ToolOutcome> {
    if (
      call.name !== 'write_file' ||
      !outcome.isError ||
      !/outside the working directory/.test(outcome.content)
    ) {
      return outcome;
    }
    const path = resolve(cwd, String(call.input.path));
    const question = `write_file wants to write ${path}, outside the working directory`;
    if (!(await this.ask(question, signal))) {
      return { content: `${outcome.content}; the user denied the permission`, isError: true };
    }
    try {
      const content = typeof call.input.content === 'string' ? call.input.content : '';
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content, 'utf8');
      return { content: JSON.stringify({ path, bytes: Buffer.byteLength(content) }), isError: false };
    } catch (err) {
      return { content: asError(err).message, isError: true };
    } finally {
      await this.deps.toolUsed(call);
    }
  }

  private async ask(question: string, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    const answered = new Promise<boolean>((resolvePromise) => {
      this.pending = resolvePromise;
      signal.addEventListener('abort', () => this.answer('n'), { once: true });
    });
    this.deps.ui.notice(`Permission required: ${question}.`);
    this.deps.ui.notice('Allow? (y/n)');
    await this.deps.notify(`Permission required: ${question}`);
    return answered;
  }
}
