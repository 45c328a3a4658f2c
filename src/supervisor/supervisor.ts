import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tasksChanged } from '../coordinator/index.js';
import { LIVE_STATES, newToken, pathsFor, type Config, type Logger, type Paths } from '../core/index.js';
import { Git } from '../git/index.js';
import { openStore, type Store, type StoreChange } from '../store/index.js';
import { TmuxDriver } from '../tmux/index.js';
import { createApp } from './http-app.js';
import { Organisation } from './organisation.js';
import { ResourceSampler } from './resources.js';
import { acquireSupervisorLock, removeSupervisorInfo, writeSupervisorInfo } from './run-file.js';

/** Sweep interval: a safety net behind tmux's pane-died hook, which can be lost (see the tmux driver). */
const SWEEP_MS = 3_000;
const REAP_NUDGE_MS = 200;

/**
 * The signal keys that a change committed by another process sharing the store wakes here: the same keys
 * the bus, the coordinator and the organisation notify for their own changes. `all` after a resync.
 */
export function signalKeysFor(change: StoreChange): string[] | 'all' {
  switch (change.kind) {
    case 'mail':
      return [`inbox:${change.recipient}`];
    case 'delivery':
      return [`delivered:${change.messageId}`];
    case 'tasks':
      return [tasksChanged(change.runId)];
    case 'events':
      return ['events'];
    case 'instance':
      return [`state:${change.id}`];
    case 'resync':
      return 'all';
  }
}

export interface SupervisorOptions {
  config: Config;
  log: Logger;
  /** For tests: an already opened store (the supervisor then does not close it). */
  store?: Store;
}

/**
 * The per-host supervisor: owns the store connection, the private tmux server and the HTTP endpoint.
 * `start` reconciles the store with tmux before serving; `stop` leaves instances running (for a restart to
 * adopt) unless `stopInstances` is set, as `tmux-claude down` does.
 */
export class Supervisor {
  readonly paths: Paths;
  readonly adminToken = newToken();
  org: Organisation | undefined;
  private server: Server | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private resources: ResourceSampler | undefined;
  private stopReaping: (() => void) | undefined;
  private stopListening: (() => void) | undefined;
  private stopServing: (() => void) | undefined;
  private releaseLock: (() => void) | undefined;
  private store: Store | undefined;
  private port = 0;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: SupervisorOptions) {
    this.paths = pathsFor(opts.config.home);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(onShutdownRequest: () => void): Promise<void> {
    const { config, log } = this.opts;
    this.releaseLock = acquireSupervisorLock(this.paths);
    const store = this.opts.store ?? openStore(config);
    this.store = store;
    await store.ping();
    // One persistent control-mode client carries the hot path (pastes, captures) instead of a tmux process
    // per call (see the tmux driver); TMUX_CLAUDE_TMUX_CONTROL=0 turns it off.
    const tmux = new TmuxDriver({
      socketName: this.paths.tmuxSocket,
      timeoutMs: config.commandTimeoutMs,
      controlMode: true,
    });
    await tmux.version();
    await tmux.ensureServer();
    const git = new Git();
    await git.version();

    // Listen before the app exists (agents' URLs need the port); until then answer 503 so hooks retry.
    const router: { handle: RequestListener } = { handle: (_req, res) => void res.writeHead(503).end() };
    this.server = createServer((req, res) => router.handle(req, res));
    this.port = await this.listen(config.port ?? Number((await store.meta.get('port')) ?? 0));
    await store.meta.set('port', String(this.port));

    const org = new Organisation({
      config,
      paths: this.paths,
      store,
      tmux,
      git,
      log,
      supervisorUrl: this.url,
    });
    this.org = org;
    this.stopListening = this.listenForOtherProcesses(store, org);
    // CPU and RSS per instance and of the host for the dashboard and `top`; no tmux call per tick.
    const resources = new ResourceSampler({
      targets: async () =>
        (await store.instances.list({ states: LIVE_STATES }))
          .filter((i) => org.owns(i))
          .map((i) => ({ id: i.id, pid: i.pid })),
      tmuxPid: () => tmux.knownServerPid,
      onError: (err) => log.warn({ err }, 'resource sampling failed'),
      onSample: () => org.signals.notify('resources'),
    });
    this.resources = resources;
    const startedAt = Date.now();
    router.handle = createApp({
      org,
      resources,
      adminToken: this.adminToken,
      log,
      shutdown: onShutdownRequest,
      status: async () => ({
        pid: process.pid,
        url: this.url,
        home: config.home,
        store: store.backend,
        host: config.host,
        uptimeS: Math.round((Date.now() - startedAt) / 1000),
        tmux: await tmux.version(),
        tmuxSocket: this.paths.tmuxSocket,
        instances: (await store.instances.list()).reduce<Record<string, number>>((acc, i) => {
          acc[i.state] = (acc[i.state] ?? 0) + 1;
          return acc;
        }, {}),
        memoryRssBytes: process.memoryUsage().rss,
        lastEventSeq: await store.events.lastSeq(),
      }),
    });

    const nodeQuoted = `'${process.execPath.replace(/'/g, `'\\''`)}'`;
    await tmux.setPaneDiedHook(
      `${nodeQuoted} -e 'fetch(process.argv[1],{method:"POST"}).catch(()=>{})' '${this.url}/hooks/tmux/pane-died'`,
    );
    // Registered before reconciling: a host id another live supervisor holds stops this start here.
    await org.hosts.start(this.url, {
      registered: (host) =>
        org.emit({
          kind: 'host.up',
          actor: 'supervisor',
          instanceId: null,
          data: { host: host.id, incarnation: host.incarnation, url: host.url, capacity: host.capacity },
        }),
      lost: (host, silentMs) => org.hostLost(host.id, silentMs),
      fenced: () => org.fenced(),
    });
    this.stopServing = org.hosts.serve((req) => org.handleHostRequest(req));
    const { adopted, lost } = await org.reconcile();
    // Leases that lapsed while no supervisor ran go back to the pool; unfinished batches resume.
    await org.coordinator.start();
    await org.scheduler.resume();
    await org.emit({
      kind: 'supervisor.started',
      actor: 'supervisor',
      instanceId: null,
      data: { pid: process.pid, port: this.port, adopted, lost },
    });
    this.sweepTimer = setInterval(() => {
      org
        .sweep('periodic sweep')
        .then(() => org.retryDeliveries())
        .catch((err: unknown) => log.warn({ err }, 'sweep failed'));
    }, SWEEP_MS);
    this.sweepTimer.unref();
    resources.start();
    // A killed agent's pane is often reaped late by tmux (see TmuxDriver.keepReaping): detection in < 1 s.
    this.stopReaping = tmux.keepReaping(REAP_NUDGE_MS);
    writeSupervisorInfo(this.paths, {
      pid: process.pid,
      port: this.port,
      url: this.url,
      token: this.adminToken,
      home: config.home,
      store: config.store,
      startedAt,
    });
    log.info({ url: this.url, adopted, lost }, 'supervisor started');
  }

  /** Stops serving. With stopInstances, terminates every live instance and the tmux server first. */
  stop(opts: { stopInstances: boolean }): Promise<void> {
    this.stopping ??= this.doStop(opts);
    return this.stopping;
  }

  /**
   * On a shared store (Redis), other processes' commits wake this process's waiters (wait_for_messages,
   * claim_task with a wait, the scheduler, event followers), and mail for an idle instance is pushed at once
   * rather than at the next sweep. Hints only: every waiter looks at the store again.
   */
  private listenForOtherProcesses(store: Store, org: Organisation): (() => void) | undefined {
    let pushing = false;
    let again = false;
    const push = (): void => {
      if (pushing) {
        again = true;
        return;
      }
      pushing = true;
      org
        .retryDeliveries()
        .catch((err: unknown) => this.opts.log.warn({ err }, 'delivering mail from another process failed'))
        .finally(() => {
          pushing = false;
          if (again) {
            again = false;
            push();
          }
        });
    };
    return store.onExternalChange?.((changes) => {
      let mail = false;
      for (const change of changes) {
        const keys = signalKeysFor(change);
        if (keys === 'all') org.signals.notifyAll();
        else for (const key of keys) org.signals.notify(key);
        if (change.kind === 'mail' || change.kind === 'resync') mail = true;
      }
      if (mail) push();
      // Back after a lost connection (e.g. Redis restarted): lease expiry may have failed meanwhile; re-arm it.
      if (changes.some((c) => c.kind === 'resync')) {
        org.coordinator.start().catch((err: unknown) => this.opts.log.warn({ err }, 'lease expiry failed'));
      }
    });
  }

  private async doStop(opts: { stopInstances: boolean }): Promise<void> {
    this.stopListening?.();
    this.stopServing?.();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.resources?.stop();
    this.stopReaping?.();
    const org = this.org;
    org?.close();
    org?.scheduler.stop();
    org?.coordinator.close();
    if (org && opts.stopInstances) {
      await org.stopAll('supervisor stopped (tmux-claude down)');
      await org.deps.tmux.killServer();
    }
    await org?.deps.tmux.close();
    if (org) {
      // Only after `down` is the host gone for good; a plain stop (a restart) keeps it up for adoption.
      await org.hosts.stop(opts.stopInstances).catch(() => undefined);
      await org.emit({
        kind: 'supervisor.stopped',
        actor: 'supervisor',
        instanceId: null,
        data: { pid: process.pid },
      });
    }
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    removeSupervisorInfo(this.paths, process.pid);
    if (!this.opts.store) await this.store?.close();
    this.releaseLock?.();
  }

  /** Binds 127.0.0.1; a preferred port that is taken falls back to a free one. */
  private async listen(preferred: number): Promise<number> {
    const server = this.server!;
    const attempt = (port: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', onError);
          resolve((server.address() as AddressInfo).port);
        });
      });
    if (preferred > 0) {
      try {
        return await attempt(preferred);
      } catch (err) {
        if (this.opts.config.port) throw err;
        this.opts.log.warn({ port: preferred }, 'previous port is taken; picking a free one');
      }
    }
    return attempt(0);
  }
}
