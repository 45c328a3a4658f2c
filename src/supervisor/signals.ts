/**
 * In-process wake-ups: waiters for "instance became ready", "message delivered" and "new events".
 * The store is the truth; these only tell a waiter when to look again.
 */
export class Signals {
  private readonly waiters = new Map<string, Set<() => void>>();

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

  notify(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    for (const wake of [...set]) wake();
  }
}
