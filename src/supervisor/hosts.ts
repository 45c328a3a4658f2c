import { randomUUID } from 'node:crypto';
import { LIVE_STATES, TmuxClaudeError, type Config, type Host, type Logger } from '../core/index.js';
import type { HostRequest, Store } from '../store/index.js';
import { isProcessAlive } from './run-file.js';

/** How often a supervisor heartbeats its host record and looks for silent hosts. */
export const HOST_BEAT_MS = 1_000;

export interface HostRegistryDeps {
  store: Store;
  config: Pick<Config, 'host' | 'hostTimeoutMs' | 'hostCapacity'>;
  log: Logger;
}

/** What the registry's owner does when the registry finds something (see {@link HostRegistry.start}). */
export interface HostEvents {
  /** This supervisor declared `host` lost (it alone: the store's compare-and-set picked it). */
  lost: (host: Host, silentMs: number) => Promise<void>;
  /** This supervisor was itself declared lost while it ran (e.g. it was paused): its instances were re-homed. */
  fenced: () => Promise<void>;
  /** Registered (at start, and again after being fenced). */
  registered: (host: Host) => Promise<void>;
}

/**
 * This supervisor's place among the hosts sharing the store: it registers and heartbeats the host record,
 * declares hosts that went silent lost, places new instances by capacity, and forwards what only another
 * host can do (its tmux server) over the store's host link.
 */
export class HostRegistry {
  private incarnation = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Instances placed by this supervisor that are not in the store yet (concurrent spawns spread out). */
  private readonly placing = new Map<string, number>();
  /** The last placement decision: decisions run one at a time so each sees the ones before it counted. */
  private deciding: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: HostRegistryDeps) {}

  /** This supervisor's host id. */
  get id(): string {
    return this.deps.config.host;
  }

  /** Whether other hosts may share the store (it has a link between supervisors). */
  get shared(): boolean {
    return this.deps.store.link !== undefined;
  }

  /** Registers the host (CONFLICT if another live supervisor holds the id), then heartbeats and watches. */
  async start(url: string, events: HostEvents): Promise<void> {
    const register = async (): Promise<void> => {
      this.incarnation = randomUUID();
      // A previous supervisor of this host that died (kill -9) left the record up: its pid is gone here.
      const previous = await this.deps.store.hosts.get(this.id);
      const staleMs =
        previous && (previous.pid === process.pid || !isProcessAlive(previous.pid))
          ? 0
          : this.deps.config.hostTimeoutMs;
      const host = await this.deps.store.hosts.register(
        {
          id: this.id,
          incarnation: this.incarnation,
          pid: process.pid,
          url,
          capacity: this.deps.config.hostCapacity,
          startedAt: Date.now(),
        },
        Date.now(),
        staleMs,
      );
      await events.registered(host);
    };
    await register();
    const tick = async (): Promise<void> => {
      const now = Date.now();
      if (!(await this.deps.store.hosts.heartbeat(this.id, this.incarnation, now))) {
        this.deps.log.warn({ host: this.id }, 'this host was declared lost while it ran; re-registering');
        await events.fenced();
        await register();
      }
      if (!this.shared) return;
      const silentSince = now - this.deps.config.hostTimeoutMs;
      for (const h of await this.deps.store.hosts.list()) {
        if (h.id === this.id || h.state !== 'up' || h.lastSeen >= silentSince) continue;
        if (await this.deps.store.hosts.markLost(h.id, silentSince, this.id, now)) {
          await events.lost(h, now - h.lastSeen);
        }
      }
    };
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = true;
      tick()
        .catch((err: unknown) => this.deps.log.warn({ err }, 'host heartbeat failed'))
        .finally(() => (this.ticking = false));
    }, HOST_BEAT_MS);
    this.timer.unref();
  }

  /** Stops heartbeating; with `down`, records a clean stop (others then leave the host alone). */
  async stop(down: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (down) await this.deps.store.hosts.markDown(this.id, this.incarnation, Date.now());
  }

  /** Hosts that heartbeat within the host timeout. */
  async live(): Promise<Host[]> {
    const since = Date.now() - this.deps.config.hostTimeoutMs;
    return (await this.deps.store.hosts.list()).filter((h) => h.state === 'up' && h.lastSeen >= since);
  }

  /** Whether a host was declared lost (its instances are re-homed; nothing can be asked of it). */
  async isLost(id: string): Promise<boolean> {
    if (id === this.id || id === '') return false;
    return (await this.deps.store.hosts.get(id))?.state === 'lost';
  }

  /**
   * Runs `start` with the host a new instance goes to (see {@link place}), counting it there until `start`
   * settles, so that spawns placed at the same moment do not all pick the same host.
   */
  async placed<T>(wanted: string | undefined, start: (host: string) => Promise<T>): Promise<T> {
    const decision = this.deciding.then(async () => {
      const chosen = await this.place(wanted);
      this.placing.set(chosen, (this.placing.get(chosen) ?? 0) + 1);
      return chosen;
    });
    this.deciding = decision.catch(() => undefined);
    const host = await decision;
    try {
      return await start(host);
    } finally {
      const left = (this.placing.get(host) ?? 1) - 1;
      if (left > 0) this.placing.set(host, left);
      else this.placing.delete(host);
    }
  }

  /**
   * Where a new instance goes: the named host (NOT_FOUND if unknown, CONFLICT if not up), else the live host
   * with the lowest share of its capacity in use — this one on a tie or when every host is full.
   */
  async place(wanted?: string): Promise<string> {
    if (wanted !== undefined && wanted !== this.id) {
      const host = await this.deps.store.hosts.get(wanted);
      if (!host) {
        throw new TmuxClaudeError('NOT_FOUND', `host ${JSON.stringify(wanted)} not found`, {
          hint: 'see `tmux-claude hosts` for the hosts sharing this store',
        });
      }
      if (!(await this.live()).some((h) => h.id === wanted)) {
        throw new TmuxClaudeError(
          'CONFLICT',
          `host ${wanted} is ${host.state === 'up' ? 'silent' : host.state}`,
          {
            hint: 'spawn without a host to let placement choose a live one',
          },
        );
      }
      return wanted;
    }
    if (wanted === this.id || !this.shared) return this.id;
    const hosts = await this.live();
    if (hosts.length <= 1) return this.id;
    const load = new Map(this.placing);
    for (const i of await this.deps.store.instances.list({ states: LIVE_STATES })) {
      load.set(i.host, (load.get(i.host) ?? 0) + 1);
    }
    const share = (h: Host): number => (load.get(h.id) ?? 0) / h.capacity;
    const open = hosts.filter((h) => share(h) < 1);
    if (open.length === 0) return this.id;
    open.sort((a, b) => share(a) - share(b) || Number(b.id === this.id) - Number(a.id === this.id));
    return open[0]!.id;
  }

  /**
   * Asks the supervisor of `host` to do something only it can. CONFLICT when the host is lost or down (what
   * it ran is re-homed or stopped), UNAVAILABLE when it does not answer in time.
   */
  async request<T>(
    host: string,
    kind: string,
    args: Record<string, unknown>,
    timeoutMs = 30_000,
  ): Promise<T> {
    const link = this.deps.store.link;
    const record = await this.deps.store.hosts.get(host);
    if (!link || !record) {
      throw new TmuxClaudeError('NOT_FOUND', `host ${JSON.stringify(host)} is not known to this store`);
    }
    if (record.state !== 'up') {
      throw new TmuxClaudeError('CONFLICT', `host ${host} is ${record.state}`, {
        hint: 'its instances are re-homed when a host is lost; see `tmux-claude hosts`',
      });
    }
    return (await link.request(host, kind, args, timeoutMs)) as T;
  }

  /** Serves requests addressed to this host. Returns the stop function (a no-op without a link). */
  serve(handler: (req: HostRequest) => Promise<unknown>): () => void {
    return this.deps.store.link?.serve(this.id, handler) ?? (() => undefined);
  }
}
