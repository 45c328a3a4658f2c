/**
 * In-process wake-ups: waiters for "instance became ready", "message delivered", "new events", "new mail".
 * The store is the truth; these only tell a waiter when to look again.
 */
export class Signals {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly versions = new Map<string, number>();

  /** Resolves when `key` is notified or after timeoutMs (resolves false then). */
  wait(key: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const set = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, set);
      const done = (value: boolean): void => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0) this.waiters.delete(key);
        resolve(value);
      };
      const wake = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      set.add(wake);
    });
  }

  /**
   * How often `key` has been notified (for keys read with {@link waitSince}). Read it before looking at the
   * store, then wait since it: a notification that lands between the look and the wait is not missed.
   */
  version(key: string): number {
    const v = this.versions.get(key);
    if (v !== undefined) return v;
    // Counted from the first read on; keys nobody versions (e.g. per-message ones) cost nothing.
    this.versions.set(key, 0);
    return 0;
  }

  /** Resolves true at once if `key` was notified after `version` was read, else like {@link wait}. */
  async waitSince(key: string, version: number, timeoutMs: number): Promise<boolean> {
    if (this.version(key) !== version) return true;
    return this.wait(key, timeoutMs);
  }

  /**
   * Wakes every waiter and counts a notification on every versioned key: for when anything may have changed
   * (e.g. wake-up hints from other processes may have been lost). Waiters look at the store again.
   */
  notifyAll(): void {
    for (const key of this.versions.keys()) this.versions.set(key, this.versions.get(key)! + 1);
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
  }

  notify(key: string): void {
    const v = this.versions.get(key);
    if (v !== undefined) this.versions.set(key, v + 1);
    const set = this.waiters.get(key);
    if (!set) return;
    for (const wake of [...set]) wake();
  }
}
