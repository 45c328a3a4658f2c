import {
  api,
  isLive,
  type AuditEvent,
  type BudgetView,
  type ConflictReport,
  type HostSample,
  type InstanceSample,
  type InstanceView,
  type MessageFlowRow,
  type Reservation,
  type ResourceSnapshot,
  type RunView,
  type TaskView,
} from './api';

/** The parts of the live state a view can subscribe to. */
export type Slice =
  | 'connection'
  | 'runs'
  | 'instances'
  | 'messages'
  | 'dead'
  | 'tasks'
  | 'conflicts'
  | 'budgets'
  | 'resources'
  | 'events';

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Rows of the message flow kept in the page (the store can hold far more). */
export const MAX_MESSAGES = 500;
/** Audit events kept in the page. */
export const MAX_EVENTS = 1000;
/** Samples kept per resource series (30 minutes at the default 2 s interval). */
export const MAX_SAMPLES = 900;
/** At most one fetch per panel in this interval, however many events arrive. */
const THROTTLE_MS = 100;

/** Columns of one host series, as uPlot takes them (time in seconds). */
export interface HostSeries {
  ts: number[];
  cpu: (number | null)[];
  memUsed: (number | null)[];
  memTotal: (number | null)[];
  supervisorCpu: (number | null)[];
  supervisorRss: (number | null)[];
  tmuxCpu: (number | null)[];
}

export interface InstanceSeries {
  ts: number[];
  cpu: (number | null)[];
  rss: (number | null)[];
}

function emptyHost(): HostSeries {
  return { ts: [], cpu: [], memUsed: [], memTotal: [], supervisorCpu: [], supervisorRss: [], tmuxCpu: [] };
}

function trim<T extends Record<string, unknown[]>>(series: T, max: number): void {
  const ts = series.ts;
  if (!ts || ts.length <= max) return;
  const cut = ts.length - max;
  for (const col of Object.values(series)) col.splice(0, cut);
}

/** Runs `fn` at most once per `ms`, never two at a time; calls during a run schedule one more. */
function throttle(fn: () => Promise<void>, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  let last = 0;
  const run = async (): Promise<void> => {
    timer = undefined;
    running = true;
    last = Date.now();
    try {
      await fn();
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = (): void => {
    if (running) {
      again = true;
      return;
    }
    if (timer !== undefined) return;
    timer = setTimeout(() => void run(), Math.max(0, last + ms - Date.now()));
  };
  return schedule;
}

/**
 * Everything the dashboard shows, kept current by the server's event stream: every audit event re-fetches
 * the panels it affects (throttled), resource snapshots extend the charts' series.
 */
export class Live {
  connection: Connection = 'connecting';
  runs: RunView[] = [];
  /** The run on screen; follows the newest run until the user picks one. */
  runId: string | null = null;
  private runPinned = false;
  instances: InstanceView[] = [];
  messages: MessageFlowRow[] = [];
  deadLetters: MessageFlowRow[] = [];
  private wantDead = false;
  tasks: TaskView[] = [];
  reservations: Reservation[] = [];
  conflicts: ConflictReport | null = null;
  budgets: BudgetView[] = [];
  events: AuditEvent[] = [];
  lastSeq = 0;
  resourceIntervalMs = 2000;
  latestResources: ResourceSnapshot | null = null;
  host: HostSeries = emptyHost();
  instanceSeries = new Map<string, InstanceSeries>();
  /** The last failure per panel, cleared by the next success. */
  errors: Partial<Record<Slice, string>> = {};
  /** Whether the first load of each panel has finished. */
  loaded = new Set<Slice>();

  private listeners = new Map<Slice, Set<() => void>>();
  private source: EventSource | null = null;
  private retryMs = 1000;
  private hadError = false;
  private seriesRequested = new Set<string>();
  private started = false;

  subscribe(slices: readonly Slice[], fn: () => void): () => void {
    for (const s of slices) {
      let set = this.listeners.get(s);
      if (!set) this.listeners.set(s, (set = new Set()));
      set.add(fn);
    }
    return () => {
      for (const s of slices) this.listeners.get(s)?.delete(fn);
    };
  }

  private notify(slice: Slice): void {
    for (const fn of [...(this.listeners.get(slice) ?? [])]) fn();
  }

  private async guard(slice: Slice, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      if (this.errors[slice]) delete this.errors[slice];
    } catch (err) {
      this.errors[slice] = err instanceof Error ? err.message : String(err);
    }
    this.loaded.add(slice);
    this.notify(slice);
  }

  // ---- the run on screen ----

  get run(): RunView | null {
    return this.runs.find((r) => r.id === this.runId) ?? null;
  }

  runInstances(): InstanceView[] {
    return this.runId === null ? this.instances : this.instances.filter((i) => i.runId === this.runId);
  }

  selectRun(id: string): void {
    this.runPinned = true;
    if (id === this.runId) return;
    this.runId = id;
    this.onRunChanged();
  }

  private onRunChanged(): void {
    this.messages = [];
    this.deadLetters = [];
    this.tasks = [];
    this.reservations = [];
    this.conflicts = null;
    this.budgets = [];
    for (const s of ['messages', 'dead', 'tasks', 'conflicts', 'budgets'] as const) this.loaded.delete(s);
    this.notify('runs');
    this.notify('instances');
    this.refreshMessages(true);
    if (this.wantDead) this.refreshDead();
    this.refreshTasks();
    this.refreshConflicts();
    this.refreshBudgets();
    this.loadInstanceSeries();
  }

  // ---- loading ----

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.boot();
  }

  /** The first load: the audit tail (then the live stream), the organisation (then the run's panels), charts. */
  private async boot(): Promise<void> {
    const events = this.guard('events', async () => {
      const { seq } = await api.eventsHead();
      this.lastSeq = seq;
      const recent = await api.events({ after: Math.max(0, seq - 300) });
      this.events = recent.slice(-MAX_EVENTS);
      const last = this.events.at(-1);
      if (last) this.lastSeq = Math.max(this.lastSeq, last.seq);
    }).then(() => this.connect());
    const org = Promise.all([this.loadRuns(), this.loadInstances()]).then(() => this.pickRun());
    await Promise.all([events, org, this.loadHostSeries()]);
  }

  private runsFallback = false;
  private async loadRuns(): Promise<void> {
    await this.guard('runs', async () => {
      try {
        this.runs = await api.runs();
        this.runsFallback = false;
      } catch {
        this.runsFallback = true;
      }
    });
  }

  /** Follows the newest run unless the user chose one (or the chosen one is gone). */
  private pickRun(): void {
    if (this.runsFallback) {
      // A supervisor without /api/runs: the runs its instances belong to, newest first.
      const seen = new Map<string, RunView>();
      for (const i of [...this.instances].reverse()) {
        if (!seen.has(i.runId))
          seen.set(i.runId, { id: i.runId, goal: '', repo: '', targetBranch: '', createdAt: 0 });
      }
      this.runs = [...seen.values()];
    }
    const newest = this.runs[0]?.id ?? null;
    const keep = this.runPinned && this.runs.some((r) => r.id === this.runId);
    const next = keep ? this.runId : newest;
    if (next !== this.runId) {
      this.runId = next;
      this.onRunChanged();
      return;
    }
    if (next === null) {
      // No run yet: the run's panels are empty, not loading.
      for (const s of ['messages', 'tasks', 'conflicts', 'budgets'] as const) {
        this.loaded.add(s);
        this.notify(s);
      }
    }
    this.notify('runs');
  }

  private async loadInstances(): Promise<void> {
    await this.guard('instances', async () => {
      this.instances = await api.instances();
    });
  }

  private async loadHostSeries(): Promise<void> {
    await this.guard('resources', async () => {
      const [series, latest] = await Promise.all([api.hostSeries(), api.resources()]);
      this.resourceIntervalMs = series.intervalMs || this.resourceIntervalMs;
      const fresh = emptyHost();
      for (const s of series.samples) pushHost(fresh, s);
      // Samples that arrived on the stream meanwhile stay.
      const first = fresh.ts.at(-1) ?? 0;
      for (let i = 0; i < this.host.ts.length; i++) {
        if (this.host.ts[i]! > first) {
          for (const k of Object.keys(fresh) as (keyof HostSeries)[]) {
            (fresh[k] as unknown[]).push(this.host[k][i]);
          }
        }
      }
      this.host = fresh;
      this.latestResources ??= latest;
      this.addSnapshotInstances(latest);
    });
  }

  /** The recorded series (last minutes) of the run's live instances, once per instance. */
  private loadInstanceSeries(): void {
    for (const inst of this.runInstances()) if (isLive(inst.state)) this.ensureInstanceSeries(inst.id);
  }

  /** Fetches one live instance's recorded series once (older samples than the stream brought). */
  ensureInstanceSeries(id: string): void {
    if (this.seriesRequested.has(id)) return;
    const inst = this.instances.find((i) => i.id === id);
    if (!inst || !isLive(inst.state)) return;
    this.seriesRequested.add(id);
    void api
      .instanceSeries(id)
      .then(({ samples }) => {
        const have = this.instanceSeries.get(id);
        const firstTs = have?.ts[0] ?? Infinity;
        const older: InstanceSeries = { ts: [], cpu: [], rss: [] };
        for (const s of samples) if (s.ts / 1000 < firstTs) pushInstance(older, s);
        if (have) {
          older.ts.push(...have.ts);
          older.cpu.push(...have.cpu);
          older.rss.push(...have.rss);
        }
        trim(older as unknown as Record<string, unknown[]>, MAX_SAMPLES);
        this.instanceSeries.set(id, older);
        this.notify('resources');
      })
      .catch(() => undefined);
  }

  readonly refreshRuns = throttle(async () => {
    await this.loadRuns();
    this.pickRun();
  }, THROTTLE_MS);

  readonly refreshInstances = throttle(async () => {
    await this.loadInstances();
    if (this.runsFallback || this.runId === null) this.pickRun();
    this.loadInstanceSeries();
  }, THROTTLE_MS);

  private messagesReset = false;
  /** New message rows (`after=` the newest one in the page); `reset` reloads the newest page. */
  refreshMessages(reset = false): void {
    if (reset) this.messagesReset = true;
    this.fetchMessages();
  }
  private readonly fetchMessages = throttle(async () => {
    const run = this.runId;
    if (run === null) {
      this.loaded.add('messages');
      this.notify('messages');
      return;
    }
    const reset = this.messagesReset;
    this.messagesReset = false;
    const after = reset ? 0 : (this.messages.at(-1)?.seq ?? 0);
    await this.guard('messages', async () => {
      const rows = await api.messages({ run, limit: MAX_MESSAGES, ...(after > 0 ? { after } : {}) });
      if (run !== this.runId) return;
      const merged = reset ? rows : mergeBySeq(this.messages, rows);
      this.messages = merged.slice(-MAX_MESSAGES);
    });
  }, THROTTLE_MS);

  /** Dead letters of the run (the messages panel's "dead only" view), fetched while it is shown. */
  showDead(on: boolean): void {
    this.wantDead = on;
    if (on) this.refreshDead();
  }
  readonly refreshDead = throttle(async () => {
    const run = this.runId;
    if (run === null || !this.wantDead) return;
    await this.guard('dead', async () => {
      const rows = await api.messages({ run, dead: true, limit: MAX_MESSAGES });
      if (run === this.runId) this.deadLetters = rows;
    });
  }, THROTTLE_MS);

  /**
   * A throttled refresh of one panel of the run on screen: `fetch` for the run, `keep` its answer unless the
   * run changed meanwhile; without a run the panel is empty (and loaded).
   */
  private runPanel<T>(slice: Slice, fetch: (run: string) => Promise<T>, keep: (v: T) => void, ms: number) {
    return throttle(async () => {
      const run = this.runId;
      if (run === null) {
        this.loaded.add(slice);
        this.notify(slice);
        return;
      }
      await this.guard(slice, async () => {
        const v = await fetch(run);
        if (run === this.runId) keep(v);
      });
    }, ms);
  }

  readonly refreshTasks = this.runPanel(
    'tasks',
    api.tasks,
    (r) => {
      this.tasks = r.tasks;
      this.reservations = r.reservations;
    },
    THROTTLE_MS,
  );

  /** Conflicts ask git about every live worktree: at most once a second. */
  readonly refreshConflicts = this.runPanel('conflicts', api.conflicts, (r) => (this.conflicts = r), 1000);

  /** Spend moves with every turn (instance.state) and spawn: at most once a second. */
  readonly refreshBudgets = this.runPanel('budgets', api.budgets, (rows) => (this.budgets = rows), 1000);

  private refreshAll(): void {
    this.refreshRuns();
    this.refreshInstances();
    this.refreshMessages(true);
    if (this.wantDead) this.refreshDead();
    this.refreshTasks();
    this.refreshConflicts();
    this.refreshBudgets();
  }

  // ---- the live stream ----

  private setConnection(c: Connection): void {
    if (this.connection === c) return;
    this.connection = c;
    this.notify('connection');
  }

  private connect(): void {
    this.source?.close();
    const es = new EventSource(api.streamUrl(this.lastSeq));
    this.source = es;
    es.addEventListener('open', () => {
      this.retryMs = 1000;
      this.setConnection('open');
      if (this.hadError) {
        this.hadError = false;
        this.refreshAll();
      }
    });
    es.addEventListener('audit', (e) => {
      try {
        this.onAudit(JSON.parse((e as MessageEvent<string>).data) as AuditEvent);
      } catch {
        // a malformed event: ignore it, the next refresh shows the truth
      }
    });
    es.addEventListener('resources', (e) => {
      try {
        this.onResources(JSON.parse((e as MessageEvent<string>).data) as ResourceSnapshot);
      } catch {
        // ignore
      }
    });
    es.addEventListener('error', () => {
      this.hadError = true;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the server answered with an error): try again, slower each time.
        this.setConnection('closed');
        const wait = this.retryMs;
        this.retryMs = Math.min(this.retryMs * 2, 15_000);
        setTimeout(() => {
          if (this.source === es) this.connect();
        }, wait);
      } else this.setConnection('reconnecting');
    });
  }

  private onAudit(e: AuditEvent): void {
    if (e.seq <= this.lastSeq) return;
    this.lastSeq = Math.max(this.lastSeq, e.seq);
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.notify('events');

    const kind = e.kind;
    const group = kind.split('.')[0];
    switch (group) {
      case 'instance':
        this.refreshInstances();
        if (kind === 'instance.terminated' || kind === 'instance.state') this.refreshConflicts();
        this.refreshBudgets();
        break;
      case 'budget':
        this.refreshBudgets();
        break;
      case 'message':
        this.onMessageEvent(e);
        this.refreshInstances();
        break;
      case 'task':
      case 'files':
      case 'git':
        this.refreshTasks();
        this.refreshConflicts();
        break;
      case 'run':
        this.refreshRuns();
        break;
      case 'supervisor':
        if (kind === 'supervisor.started') this.refreshAll();
        break;
      case 'dashboard':
        if (kind === 'dashboard.action') {
          this.refreshInstances();
          this.refreshTasks();
        }
        break;
      default:
        break;
    }
  }

  /** Delivery changes are applied to the rows in the page directly; new messages are fetched with after=. */
  private onMessageEvent(e: AuditEvent): void {
    const d = e.data;
    const id = typeof d.messageId === 'string' ? d.messageId : null;
    const recipient = e.instanceId;
    const latency = typeof d.latencyMs === 'number' ? d.latencyMs : null;
    const patch = (fn: (r: MessageFlowRow) => MessageFlowRow, ids: readonly string[]): void => {
      let changed = false;
      this.messages = this.messages.map((r) => {
        if (ids.includes(r.id) && (recipient === null || r.to === recipient)) {
          changed = true;
          return fn(r);
        }
        return r;
      });
      if (changed) this.notify('messages');
    };
    switch (e.kind) {
      case 'message.sent':
        this.refreshMessages();
        break;
      case 'message.delivered':
        if (id)
          patch(
            (r) => ({ ...r, state: r.state === 'pending' ? 'delivered' : r.state, deliveredMs: latency }),
            [id],
          );
        break;
      case 'message.acked':
        if (id) patch((r) => ({ ...r, state: 'acked', ackedMs: latency }), [id]);
        break;
      case 'message.dead':
        if (id)
          patch(
            (r) => ({
              ...r,
              state: 'dead',
              error: typeof d.error === 'string' ? d.error : r.error,
              attempts: typeof d.attempts === 'number' ? d.attempts : r.attempts,
            }),
            [id],
          );
        if (this.wantDead) this.refreshDead();
        break;
      case 'message.requeued': {
        const ids = Array.isArray(d.messageIds) ? d.messageIds.filter((x) => typeof x === 'string') : [];
        patch((r) => ({ ...r, state: 'pending', deliveredMs: null }), ids);
        break;
      }
      default:
        break;
    }
  }

  private onResources(s: ResourceSnapshot): void {
    this.latestResources = s;
    this.resourceIntervalMs = s.intervalMs || this.resourceIntervalMs;
    if (s.host && s.host.ts / 1000 > (this.host.ts.at(-1) ?? 0)) {
      pushHost(this.host, s.host);
      trim(this.host as unknown as Record<string, unknown[]>, MAX_SAMPLES);
    }
    this.addSnapshotInstances(s);
    this.notify('resources');
  }

  private addSnapshotInstances(s: ResourceSnapshot): void {
    for (const [id, sample] of Object.entries(s.instances)) {
      let series = this.instanceSeries.get(id);
      if (!series) this.instanceSeries.set(id, (series = { ts: [], cpu: [], rss: [] }));
      if (sample.ts / 1000 <= (series.ts.at(-1) ?? 0)) continue;
      pushInstance(series, sample);
      trim(series as unknown as Record<string, unknown[]>, MAX_SAMPLES);
    }
  }
}

function pushHost(h: HostSeries, s: HostSample): void {
  h.ts.push(s.ts / 1000);
  h.cpu.push(s.cpuPercent);
  h.memTotal.push(s.memTotalBytes);
  h.memUsed.push(s.memTotalBytes - s.memFreeBytes);
  h.supervisorCpu.push(s.supervisor?.cpuPercent ?? null);
  h.supervisorRss.push(s.supervisor?.rssBytes ?? null);
  h.tmuxCpu.push(s.tmux?.cpuPercent ?? null);
}

function pushInstance(series: InstanceSeries, s: InstanceSample): void {
  series.ts.push(s.ts / 1000);
  series.cpu.push(s.cpuPercent);
  series.rss.push(s.rssBytes);
}

function mergeBySeq(have: MessageFlowRow[], rows: MessageFlowRow[]): MessageFlowRow[] {
  if (rows.length === 0) return have;
  const bySeq = new Map(have.map((r) => [r.seq, r]));
  for (const r of rows) bySeq.set(r.seq, r);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

export const live = new Live();
