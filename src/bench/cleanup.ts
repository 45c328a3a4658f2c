/**
 * Teardown steps registered as resources are created, run last-in first-out exactly once: at the end of the
 * run, after a failure, or on SIGINT/SIGTERM. A failing step is reported and the others still run.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<void> | void }> = [];
  private running: Promise<void> | undefined;

  constructor(private readonly report: (line: string) => void) {}

  /** Registers a teardown step; returns a function that runs it now (once) and unregisters it. */
  add(what: string, run: () => Promise<void> | void): () => Promise<void> {
    const step = { what, run };
    this.steps.push(step);
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await this.runStep(step);
    };
  }

  /** Runs every registered step, newest first. Idempotent; concurrent callers share one teardown. */
  runAll(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) await this.runStep(this.steps.pop()!);
    })();
    return this.running;
  }

  private async runStep(step: { what: string; run: () => Promise<void> | void }): Promise<void> {
    try {
      await step.run();
    } catch (err) {
      this.report(`cleanup: ${step.what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
