import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { StoreChange } from '../types.js';
import type { RedisTarget } from './redis-common.js';

/** What a store module calls after a commit: the changes other processes may be waiting for. */
export type Changed = (...changes: StoreChange[]) => void;

/** A listener of {@link WakeChannel.listen}. */
export type ChangeListener = (changes: readonly StoreChange[]) => void;

/** One published hint: the publishing store's origin id and what changed. */
interface Hint {
  o: string;
  c: StoreChange[];
}

const KINDS = new Set<StoreChange['kind']>(['mail', 'delivery', 'tasks', 'events', 'instance', 'resync']);

function dedupeKey(c: StoreChange): string {
  switch (c.kind) {
    case 'mail':
      return `mail\0${c.recipient}`;
    case 'delivery':
      return `delivery\0${c.messageId}`;
    case 'tasks':
      return `tasks\0${c.runId}`;
    case 'instance':
      return `instance\0${c.id}`;
    default:
      return c.kind;
  }
}

function isChange(v: unknown): v is StoreChange {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  if (!KINDS.has(c.kind as StoreChange['kind'])) return false;
  const field = { mail: 'recipient', delivery: 'messageId', tasks: 'runId', instance: 'id' }[
    c.kind as string
  ];
  return field === undefined || typeof c[field] === 'string';
}

/**
 * Wake-up hints between the processes that share one Redis store (supervisors, CLI processes), on Pub/Sub
 * channel `<prefix>wake`. Pub/Sub is only ever a hint: the store is the truth, and every waiter looks at the
 * store again when woken.
 *
 * Publishing: the store's modules report what each commit changed; the changes of one event-loop tick are
 * deduplicated and published as one message `{"o": origin, "c": [changes…]}` after the commits (fire and
 * forget: a write call never waits for its hint). A publish that fails (the connection dropped right after
 * the commit) is kept and published again once the connection is back, so a committed change is not left
 * unannounced because of a blip.
 *
 * Listening: a second connection (a subscriber cannot issue other commands) subscribes on the first
 * listener. Hints from this store's own origin are dropped (its caller already woke its own waiters). Pub/Sub
 * drops messages while a subscriber is disconnected, so after every reconnection, once the subscription is
 * active again, listeners get `{kind: 'resync'}`: anything may have changed, look again.
 */
export class WakeChannel {
  /** Tells this store's hints from those of other processes. */
  readonly origin = randomBytes(8).toString('hex');
  readonly channel: string;
  private readonly pending = new Map<string, StoreChange>();
  private scheduled = false;
  private waitingForReady = false;
  private closed = false;
  private subscriber: Redis | undefined;
  private readonly listeners = new Set<ChangeListener>();

  constructor(
    private readonly publisher: Redis,
    private readonly target: RedisTarget,
  ) {
    this.channel = `${target.prefix}wake`;
  }

  /** Records changes this process committed; they are published together at the end of the tick. */
  readonly changed: Changed = (...changes) => {
    if (this.closed || changes.length === 0) return;
    for (const c of changes) this.pending.set(dedupeKey(c), c);
    if (this.scheduled || this.waitingForReady) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  };

  private flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const changes = [...this.pending.values()];
    this.pending.clear();
    const hint: Hint = { o: this.origin, c: changes };
    this.publisher.publish(this.channel, JSON.stringify(hint)).catch(() => {
      // Unreachable right after the commit: announce it once the connection is back (newer changes merge in).
      for (const c of changes) if (!this.pending.has(dedupeKey(c))) this.pending.set(dedupeKey(c), c);
      if (this.closed || this.waitingForReady) return;
      this.waitingForReady = true;
      this.publisher.once('ready', () => {
        this.waitingForReady = false;
        if (!this.closed) this.flush();
      });
    });
  }

  /** Calls `listener` with other processes' changes until the returned function is called. */
  listen(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    this.subscribe();
    return () => {
      this.listeners.delete(listener);
    };
  }

  private subscribe(): void {
    if (this.subscriber || this.closed) return;
    // Offline commands wait for the connection (no retry limit): the subscription must outlive any outage.
    const sub = new Redis(this.target.url, {
      connectTimeout: 3_000,
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
      connectionName: `tmux-claude-wake-${this.origin}`,
    });
    this.subscriber = sub;
    sub.on('error', () => {});
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let hint: Partial<Hint>;
      try {
        hint = JSON.parse(text) as Partial<Hint>;
      } catch {
        return;
      }
      if (hint.o === this.origin || !Array.isArray(hint.c)) return;
      const changes = hint.c.filter(isChange);
      if (changes.length > 0) this.emit(changes);
    });
    let connections = 0;
    sub.on('ready', () => {
      connections += 1;
      if (connections === 1) return;
      // ioredis re-subscribes on its own; this SUBSCRIBE's reply says the subscription is active again, so
      // that a change committed after the listeners looked again is not missed.
      sub
        .subscribe(this.channel)
        .then(() => this.emit([{ kind: 'resync' }]))
        .catch(() => {});
    });
    sub.subscribe(this.channel).catch(() => {});
  }

  private emit(changes: readonly StoreChange[]): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(changes);
      } catch {
        // A listener's failure is its own; the others still hear.
      }
    }
  }

  /** Publishes what is still pending and closes the subscriber connection. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.listeners.clear();
    this.subscriber?.disconnect();
  }
}
