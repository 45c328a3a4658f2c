import { readFile, stat } from 'node:fs/promises';
import {
  TmuxClaudeError,
  isLive,
  type BudgetLimits,
  type BudgetResource,
  type Config,
  type EventInput,
  type Instance,
  type Logger,
  type Role,
} from '../core/index.js';
import type { Store } from '../store/index.js';

/**
 * Budgets per subtree: limits set at `run` (on the executive) and at `spawn` (on the child, carved out of what
 * its ancestors' budgets have left), checked when instances are spawned and tasks claimed, and counted from
 * the token usage agents report. At 80 % of tokens, time or cost the subtree's root is warned; at 100 % the
 * subtree is paused (no spawns, no claims, no pasted messages) and the root's parent is told, until the budget
 * is raised. Everything lives in the store's meta key/value space:
 * `budget:<root>` (the budget), `usage:<instance>` (what one instance reported) and `budgets` (the roots).
 */

const BUDGET_META = 'budget:';
const USAGE_META = 'usage:';
const INDEX_META = 'budgets';
const WARN_AT = 0.8;

/** The limits in the order they are shown, with their public (snake_case) names. */
export const LIMIT_FIELDS = [
  { key: 'maxInstances', name: 'max_instances', integer: true, what: 'live instances' },
  { key: 'maxDepth', name: 'max_depth', integer: true, what: 'levels below the root' },
  { key: 'maxMinutes', name: 'max_minutes', integer: false, what: 'minutes' },
  { key: 'maxTokens', name: 'max_tokens', integer: true, what: 'tokens' },
  { key: 'maxCost', name: 'max_cost', integer: false, what: 'USD' },
] as const satisfies ReadonlyArray<{ key: keyof BudgetLimits; name: string; integer: boolean; what: string }>;

const RESOURCE_LIMIT: Record<BudgetResource, 'maxTokens' | 'maxMinutes' | 'maxCost'> = {
  tokens: 'maxTokens',
  minutes: 'maxMinutes',
  cost: 'maxCost',
};

/**
 * Checks budget limits from any source (API body, MCP arguments, CLI flags), by camelCase or snake_case name:
 * each must be a positive number (an integer for instances, depth and tokens). Unknown names, zero, negative
 * and non-numeric values are refused with INVALID_ARGUMENT naming the field; an empty set too.
 */
export function parseLimits(input: unknown, what = 'budget'): BudgetLimits {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `${what}: expected an object of limits`, {
      hint: `limits: ${LIMIT_FIELDS.map((f) => f.name).join(', ')}`,
    });
  }
  const out: BudgetLimits = {};
  for (const [name, raw] of Object.entries(input as Record<string, unknown>)) {
    if (raw === undefined) continue;
    const field = LIMIT_FIELDS.find((f) => f.key === name || f.name === name);
    if (!field) {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `${what}: unknown limit ${JSON.stringify(name)}`, {
        hint: `limits: ${LIMIT_FIELDS.map((f) => f.name).join(', ')}`,
      });
    }
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || (field.integer && !Number.isInteger(n))) {
      throw new TmuxClaudeError(
        'INVALID_ARGUMENT',
        `${what}: ${field.name} must be a positive ${field.integer ? 'integer' : 'number'} (${field.what}), got ${JSON.stringify(raw)}`,
      );
    }
    out[field.key] = n;
  }
  if (Object.keys(out).length === 0) {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `${what}: give at least one limit`, {
      hint: `limits: ${LIMIT_FIELDS.map((f) => f.name).join(', ')}`,
    });
  }
  return out;
}

/** A subtree's budget as stored. */
export interface BudgetRecord {
  root: string;
  runId: string;
  limits: BudgetLimits;
  /** Wall-clock time counts from here. */
  startedAt: number;
  /** The resource that paused the subtree, or null while it may work. */
  pausedFor: BudgetResource | null;
  /** Resources whose 80 % warning was sent. */
  warned: BudgetResource[];
  updatedAt: number;
}

/** What one instance reported using. */
export interface UsageRecord {
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  cost: number;
  /** Where reading a Claude Code transcript left off: byte offset, and the last message counted. */
  transcript?: { path: string; offset: number; lastId: string | null; lastTokens: number; lastCost: number };
}

/** One model call's (or one turn's) usage as agents report it (the Messages API's `usage` names). */
export interface ReportedUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  model?: string;
}

/** A budget with its spend, for `tmux-claude budget`, GET /api/budgets and get_budget. */
export interface BudgetView {
  root: string;
  runId: string;
  role: Role | null;
  name: string | null;
  rootState: Instance['state'] | null;
  state: 'active' | 'paused';
  pausedFor: BudgetResource | null;
  limits: BudgetLimits;
  used: { instances: number; depth: number; minutes: number; tokens: number; cost: number };
  /** Tokens and cost set aside for budgets of live subtrees below this one. */
  reserved: { tokens: number; cost: number };
  startedAt: number;
}

export interface BudgetsDeps {
  store: Store;
  config: Config;
  log: Logger;
  emit: (e: EventInput) => Promise<void>;
  /** A message from the supervisor to a live instance. */
  tell: (to: string, body: string, subject: string) => Promise<void>;
  /** A paused subtree may work again: deliver its waiting messages, wake its schedulers. */
  resumed: (root: string, runId: string) => Promise<void>;
}

/** A node of a run's tree, including instances admitted but not yet in the store. */
interface Node {
  id: string;
  parentId: string | null;
  live: boolean;
  role: Role;
  name: string;
  state: Instance['state'] | null;
}

/** An admitted spawn: release it once the instance is in the store, or when the spawn failed. */
export interface Admission {
  release(opts?: { failed?: boolean }): Promise<void>;
}

function fmt(n: number, resource?: BudgetResource | 'instances' | 'depth'): string {
  if (resource === 'cost') return `$${n.toFixed(n < 1 ? 4 : 2)}`;
  if (resource === 'minutes') return `${n.toFixed(1)} min`;
  return Math.round(n).toLocaleString('en-US');
}

function budgetError(message: string, hint: string, details: Record<string, unknown> = {}): TmuxClaudeError {
  return new TmuxClaudeError('CONFLICT', message, { hint, details: { budget: true, ...details } });
}

export class Budgets {
  /** Admitted spawns not yet in the store (id → node and its carved budget). */
  private readonly pending = new Map<string, Node & { runId: string }>();
  private lock: Promise<void> = Promise.resolve();
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  private closed = false;

  constructor(private readonly deps: BudgetsDeps) {}

  private get store(): Store {
    return this.deps.store;
  }

  /** Runs `fn` alone: admissions and budget changes read and write as one step. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  // ---- records ----------------------------------------------------------------------------------

  async get(root: string): Promise<BudgetRecord | null> {
    const raw = await this.store.meta.get(BUDGET_META + root);
    return raw ? (JSON.parse(raw) as BudgetRecord) : null;
  }

  private async save(b: BudgetRecord): Promise<void> {
    await this.store.meta.set(BUDGET_META + b.root, JSON.stringify({ ...b, updatedAt: Date.now() }));
  }

  private async roots(): Promise<string[]> {
    const raw = await this.store.meta.get(INDEX_META);
    return raw ? (JSON.parse(raw) as string[]) : [];
  }

  private async addRoot(root: string): Promise<void> {
    const all = await this.roots();
    if (!all.includes(root)) await this.store.meta.set(INDEX_META, JSON.stringify([...all, root]));
  }

  private async removeRoot(root: string): Promise<void> {
    const all = await this.roots();
    if (all.includes(root)) {
      await this.store.meta.set(INDEX_META, JSON.stringify(all.filter((r) => r !== root)));
    }
  }

  async usageOf(id: string): Promise<UsageRecord> {
    const raw = await this.store.meta.get(USAGE_META + id);
    return {
      inputTokens: 0,
      outputTokens: 0,
      cacheCreationTokens: 0,
      cacheReadTokens: 0,
      cost: 0,
      ...(raw ? (JSON.parse(raw) as Partial<UsageRecord>) : {}),
    };
  }

  /** A run's budget, set on its executive before it starts (nothing is spawned under it yet). */
  async createForRun(executiveId: string, runId: string, limits: BudgetLimits): Promise<void> {
    await this.exclusive(async () => {
      const now = Date.now();
      await this.save({
        root: executiveId,
        runId,
        limits,
        startedAt: now,
        pausedFor: null,
        warned: [],
        updatedAt: now,
      });
      await this.addRoot(executiveId);
    });
    await this.deps.emit({
      kind: 'budget.set',
      actor: 'user',
      instanceId: executiveId,
      data: { root: executiveId, limits, previous: null, by: 'user' },
    });
    this.schedule(executiveId);
  }

  // ---- the tree ---------------------------------------------------------------------------------

  private async tree(runId: string): Promise<Map<string, Node>> {
    const nodes = new Map<string, Node>();
    for (const i of await this.store.instances.list({ runId })) {
      nodes.set(i.id, {
        id: i.id,
        parentId: i.parentId,
        live: isLive(i.state),
        role: i.role,
        name: i.name,
        state: i.state,
      });
    }
    for (const p of this.pending.values()) if (p.runId === runId && !nodes.has(p.id)) nodes.set(p.id, p);
    return nodes;
  }

  /** Ids from `id` up to the run's root, `id` first. */
  private chain(nodes: Map<string, Node>, id: string): string[] {
    const out: string[] = [];
    for (let n = nodes.get(id); n && out.length < 64; n = n.parentId ? nodes.get(n.parentId) : undefined) {
      out.push(n.id);
    }
    return out;
  }

  private below(nodes: Map<string, Node>, root: string): Node[] {
    return [...nodes.values()].filter((n) => n.id !== root && this.chain(nodes, n.id).includes(root));
  }

  /** The budgets that constrain `id` (its own and its ancestors'), nearest first. */
  private async budgetsOver(nodes: Map<string, Node>, id: string): Promise<BudgetRecord[]> {
    const out: BudgetRecord[] = [];
    for (const a of this.chain(nodes, id)) {
      const b = await this.get(a);
      if (b) out.push(b);
    }
    return out;
  }

  /** Spend of a budget's subtree, and what is set aside for budgets of live subtrees below it. */
  private async spend(
    nodes: Map<string, Node>,
    b: BudgetRecord,
    now = Date.now(),
  ): Promise<{ used: BudgetView['used']; reserved: BudgetView['reserved'] }> {
    const below = this.below(nodes, b.root);
    let tokens = 0;
    let cost = 0;
    const usage = new Map<string, UsageRecord>();
    for (const n of [nodes.get(b.root), ...below]) {
      if (!n) continue;
      const u = await this.usageOf(n.id);
      usage.set(n.id, u);
      tokens += u.inputTokens + u.outputTokens + u.cacheCreationTokens + u.cacheReadTokens;
      cost += u.cost;
    }
    // Nearest budgets of live subtrees below: their unspent allocation is not the parent's to give again.
    const reserved = { tokens: 0, cost: 0 };
    for (const n of below.filter((x) => x.live)) {
      const nearest = this.chain(nodes, n.id).find(
        (a) => a !== b.root && this.chain(nodes, a).includes(b.root),
      );
      if (nearest !== n.id) continue;
      const child = await this.get(n.id);
      if (!child) continue;
      const childSpend = await this.spendTokensAndCost(nodes, n.id, usage);
      if (child.limits.maxTokens) reserved.tokens += Math.max(0, child.limits.maxTokens - childSpend.tokens);
      if (child.limits.maxCost) reserved.cost += Math.max(0, child.limits.maxCost - childSpend.cost);
    }
    const depth = Math.max(
      0,
      ...below.filter((n) => n.live).map((n) => this.chain(nodes, n.id).indexOf(b.root)),
    );
    return {
      used: {
        instances: below.filter((n) => n.live).length,
        depth,
        minutes: Math.max(0, now - b.startedAt) / 60_000,
        tokens,
        cost,
      },
      reserved,
    };
  }

  private async spendTokensAndCost(
    nodes: Map<string, Node>,
    root: string,
    cache: Map<string, UsageRecord>,
  ): Promise<{ tokens: number; cost: number }> {
    let tokens = 0;
    let cost = 0;
    for (const n of [nodes.get(root), ...this.below(nodes, root)]) {
      if (!n) continue;
      const u = cache.get(n.id) ?? (await this.usageOf(n.id));
      tokens += u.inputTokens + u.outputTokens + u.cacheCreationTokens + u.cacheReadTokens;
      cost += u.cost;
    }
    return { tokens, cost };
  }

  private describe(nodes: Map<string, Node>, b: BudgetRecord): string {
    const n = nodes.get(b.root);
    return `the budget of ${b.root}${n ? ` (${n.role} "${n.name}")` : ''}`;
  }

  // ---- enforcement ------------------------------------------------------------------------------

  /**
   * Admits a spawn under `parent` (null: a run's executive) or refuses it with CONFLICT naming the budget,
   * the limit and the current use: the parent's subtree is paused, a budget over it has no live instance or
   * level left, or the child's own budget `childLimits` is more than what those budgets have left (it is then
   * carved out of them: the tokens and cost it may spend are set aside). Release the admission once the
   * instance is in the store, or with `failed` when its spawn failed.
   */
  async admit(
    parent: Instance | null,
    runId: string,
    child: { id: string; role: Role; name: string },
    childLimits: BudgetLimits | undefined,
    actor: string,
  ): Promise<Admission> {
    if (!parent) return { release: async () => undefined };
    await this.exclusive(async () => {
      const nodes = await this.tree(runId);
      const over = await this.budgetsOver(nodes, parent.id);
      const problems: string[] = [];
      for (const b of over) {
        const { used, reserved } = await this.spend(nodes, b);
        const whose = this.describe(nodes, b);
        if (b.pausedFor) {
          problems.push(`paused: budget exhausted (${whose}: ${this.usedText(b, used, b.pausedFor)})`);
          continue;
        }
        const depth = this.chain(nodes, parent.id).indexOf(b.root) + 1;
        const { maxInstances, maxDepth, maxMinutes, maxTokens, maxCost } = b.limits;
        if (
          maxInstances !== undefined &&
          used.instances + 1 + (childLimits?.maxInstances ?? 0) > maxInstances
        ) {
          problems.push(
            childLimits?.maxInstances
              ? `its max_instances ${childLimits.maxInstances} (plus itself) exceeds the ${maxInstances - used.instances} instance(s) ${whose} has left (max_instances ${maxInstances}, ${used.instances} live)`
              : `${whose} allows ${maxInstances} live instance(s) below ${b.root} and ${used.instances} are live`,
          );
        }
        if (maxDepth !== undefined && depth + (childLimits?.maxDepth ?? 0) > maxDepth) {
          problems.push(
            childLimits?.maxDepth
              ? `its max_depth ${childLimits.maxDepth} at level ${depth} goes below the max_depth ${maxDepth} of ${whose}`
              : `a ${child.role} would be ${depth} level(s) below ${b.root}; ${whose} allows max_depth ${maxDepth}`,
          );
        }
        const minutesLeft = maxMinutes === undefined ? Infinity : maxMinutes - used.minutes;
        if (childLimits?.maxMinutes !== undefined && childLimits.maxMinutes > minutesLeft) {
          problems.push(
            `its max_minutes ${childLimits.maxMinutes} exceeds the ${fmt(minutesLeft, 'minutes')} left of ${whose} (max_minutes ${maxMinutes})`,
          );
        }
        const tokensLeft = maxTokens === undefined ? Infinity : maxTokens - used.tokens - reserved.tokens;
        if (childLimits?.maxTokens !== undefined && childLimits.maxTokens > tokensLeft) {
          problems.push(
            `its max_tokens ${fmt(childLimits.maxTokens)} exceeds the ${fmt(Math.max(0, tokensLeft))} tokens ${whose} has left ` +
              `(max_tokens ${fmt(maxTokens!)}, ${fmt(used.tokens)} used, ${fmt(reserved.tokens)} set aside for other budgets)`,
          );
        }
        const costLeft = maxCost === undefined ? Infinity : maxCost - used.cost - reserved.cost;
        if (childLimits?.maxCost !== undefined && childLimits.maxCost > costLeft) {
          problems.push(
            `its max_cost ${fmt(childLimits.maxCost, 'cost')} exceeds the ${fmt(Math.max(0, costLeft), 'cost')} ${whose} has left (max_cost ${fmt(maxCost!, 'cost')})`,
          );
        }
      }
      if (problems.length > 0) {
        const reason = `cannot spawn ${child.role} "${child.name}": ${problems.join('; ')}`;
        await this.refused('spawn', actor, reason);
        throw budgetError(
          reason,
          over.some((b) => b.pausedFor)
            ? 'wait until your parent raises the budget (or winds the subtree down)'
            : 'terminate finished instances first, spawn without a budget (or a smaller one), or ask your parent to raise the budget',
        );
      }
      this.pending.set(child.id, {
        id: child.id,
        parentId: parent.id,
        live: true,
        role: child.role,
        name: child.name,
        state: 'starting',
        runId,
      });
      if (childLimits) {
        const now = Date.now();
        await this.save({
          root: child.id,
          runId,
          limits: childLimits,
          startedAt: now,
          pausedFor: null,
          warned: [],
          updatedAt: now,
        });
        await this.addRoot(child.id);
      }
    });
    if (childLimits) {
      await this.deps.emit({
        kind: 'budget.set',
        actor,
        instanceId: child.id,
        data: { root: child.id, limits: childLimits, previous: null, by: actor },
      });
      this.schedule(child.id);
    }
    return {
      release: async (opts = {}) => {
        this.pending.delete(child.id);
        if (opts.failed && childLimits) await this.exclusive(() => this.removeRoot(child.id));
      },
    };
  }

  /** How many more specialists `managerId` may start now (its batch's cap; 0 while paused). */
  async capacity(managerId: string, runId: string): Promise<number> {
    const nodes = await this.tree(runId);
    let room = Infinity;
    for (const b of await this.budgetsOver(nodes, managerId)) {
      if (b.pausedFor) return 0;
      const { used } = await this.spend(nodes, b);
      const depth = this.chain(nodes, managerId).indexOf(b.root) + 1;
      if (b.limits.maxDepth !== undefined && depth > b.limits.maxDepth) return 0;
      if (b.limits.maxInstances !== undefined) room = Math.min(room, b.limits.maxInstances - used.instances);
    }
    return Math.max(0, room);
  }

  /**
   * Refuses an execute_parallel batch that cannot run: the caller's subtree is paused, or a budget over it
   * leaves no level or no instance for even one specialist (counting only the instances that must stay: the
   * caller and its ancestors below the budget's root). Returns the most specialists a budget allows at once.
   */
  async checkBatch(caller: Instance): Promise<number> {
    const nodes = await this.tree(caller.runId);
    let most = Infinity;
    for (const b of await this.budgetsOver(nodes, caller.id)) {
      const whose = this.describe(nodes, b);
      let reason: string | null = null;
      const depth = this.chain(nodes, caller.id).indexOf(b.root) + 1;
      if (b.pausedFor) {
        const { used } = await this.spend(nodes, b);
        reason = `paused: budget exhausted (${whose}: ${this.usedText(b, used, b.pausedFor)})`;
      } else if (b.limits.maxDepth !== undefined && depth > b.limits.maxDepth) {
        reason = `specialists would be ${depth} level(s) below ${b.root}; ${whose} allows max_depth ${b.limits.maxDepth}`;
      } else if (b.limits.maxInstances !== undefined) {
        const staying = depth - 1; // the caller and its ancestors strictly below the budget's root
        const room = b.limits.maxInstances - staying;
        if (room < 1) {
          reason = `${whose} allows ${b.limits.maxInstances} live instance(s) below ${b.root}, all needed by ${caller.id} and its ancestors`;
        }
        most = Math.min(most, room);
      }
      if (reason) {
        const message = `execute_parallel can never run: ${reason}`;
        await this.refused('execute_parallel', caller.id, message);
        throw budgetError(message, 'ask your parent to raise the budget, or wind the work down');
      }
    }
    return most;
  }

  /** The paused budget over `id`, if any (its subtree takes no work and gets no pasted messages). */
  async pausedOver(id: string): Promise<BudgetRecord | null> {
    const roots = await this.roots();
    if (roots.length === 0) return null;
    let inst = await this.store.instances.get(id);
    for (let hops = 0; inst && hops < 64; hops++) {
      if (roots.includes(inst.id)) {
        const b = await this.get(inst.id);
        if (b?.pausedFor) return b;
      }
      inst = inst.parentId ? await this.store.instances.get(inst.parentId) : null;
    }
    return null;
  }

  /** Throws CONFLICT "paused: budget exhausted" when `id`'s subtree is paused. */
  async assertNotPaused(id: string, action: string): Promise<void> {
    const b = await this.pausedOver(id);
    if (!b) return;
    const nodes = await this.tree(b.runId);
    const { used } = await this.spend(nodes, b);
    const reason = `paused: budget exhausted (${this.describe(nodes, b)}: ${this.usedText(b, used, b.pausedFor!)}); ${action} is refused until it is raised`;
    await this.refused(action, id, reason);
    throw budgetError(
      reason,
      'finish your turn and wait: the parent of the subtree decides to raise the budget or wind it down',
    );
  }

  private usedText(b: BudgetRecord, used: BudgetView['used'], r: BudgetResource): string {
    const limit = b.limits[RESOURCE_LIMIT[r]] ?? 0;
    const value = r === 'tokens' ? used.tokens : r === 'cost' ? used.cost : used.minutes;
    return `${r} ${fmt(value, r)} used of ${fmt(limit, r)}`;
  }

  private async refused(action: string, actor: string, reason: string): Promise<void> {
    await this.deps
      .emit({
        kind: 'budget.refused',
        actor,
        instanceId: actor === 'user' ? null : actor,
        data: { action, reason },
      })
      .catch(() => undefined);
  }

  // ---- usage ------------------------------------------------------------------------------------

  /** Adds what an agent reported (a turn's usage) and checks the budgets over it. */
  async recordUsage(id: string, reported: ReportedUsage): Promise<void> {
    const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
    const add = {
      inputTokens: n(reported.input_tokens),
      outputTokens: n(reported.output_tokens),
      cacheCreationTokens: n(reported.cache_creation_input_tokens),
      cacheReadTokens: n(reported.cache_read_input_tokens),
    };
    const cost = this.costOf(reported.model, add);
    const u = await this.usageOf(id);
    await this.store.meta.set(
      USAGE_META + id,
      JSON.stringify({
        ...u,
        inputTokens: u.inputTokens + add.inputTokens,
        outputTokens: u.outputTokens + add.outputTokens,
        cacheCreationTokens: u.cacheCreationTokens + add.cacheCreationTokens,
        cacheReadTokens: u.cacheReadTokens + add.cacheReadTokens,
        cost: u.cost + cost,
      }),
    );
    await this.evaluateOver(id);
  }

  /**
   * Claude Code's usage: the assistant lines of its transcript (JSONL; `message.usage`, one line per content
   * block, the same message id repeated) read from where the last Stop left off. Best effort: an unreadable
   * transcript counts nothing.
   */
  async recordTranscript(id: string, path: string): Promise<void> {
    const u = await this.usageOf(id);
    let t =
      u.transcript?.path === path
        ? u.transcript
        : { path, offset: 0, lastId: null, lastTokens: 0, lastCost: 0 };
    let text: string;
    try {
      const size = (await stat(path)).size;
      if (size < t.offset) t = { path, offset: 0, lastId: null, lastTokens: 0, lastCost: 0 };
      text = (await readFile(path)).subarray(t.offset).toString('utf8');
    } catch {
      return;
    }
    const end = text.lastIndexOf('\n');
    if (end < 0) return;
    const add = { inputTokens: 0, outputTokens: 0, cacheCreationTokens: 0, cacheReadTokens: 0, cost: 0 };
    let { lastId, lastTokens, lastCost } = t;
    let lastParts = { i: 0, o: 0, cw: 0, cr: 0 };
    for (const line of text.slice(0, end).split('\n')) {
      let row: { type?: string; message?: { id?: string; model?: string; usage?: ReportedUsage } };
      try {
        row = JSON.parse(line) as typeof row;
      } catch {
        continue;
      }
      const usage = row.message?.usage;
      if (row.type !== 'assistant' || !usage) continue;
      const parts = {
        i: usage.input_tokens ?? 0,
        o: usage.output_tokens ?? 0,
        cw: usage.cache_creation_input_tokens ?? 0,
        cr: usage.cache_read_input_tokens ?? 0,
      };
      const tokens = parts.i + parts.o + parts.cw + parts.cr;
      const cost = this.costOf(row.message?.model, {
        inputTokens: parts.i,
        outputTokens: parts.o,
        cacheCreationTokens: parts.cw,
        cacheReadTokens: parts.cr,
      });
      const id_ = row.message?.id ?? null;
      if (id_ !== null && id_ === lastId) {
        // The same message again (another content block): count only what grew.
        add.outputTokens += Math.max(0, parts.o - lastParts.o);
        add.cost += Math.max(0, cost - lastCost);
        if (tokens > lastTokens) lastTokens = tokens;
        lastCost = Math.max(lastCost, cost);
        lastParts = parts;
        continue;
      }
      add.inputTokens += parts.i;
      add.outputTokens += parts.o;
      add.cacheCreationTokens += parts.cw;
      add.cacheReadTokens += parts.cr;
      add.cost += cost;
      lastId = id_;
      lastTokens = tokens;
      lastCost = cost;
      lastParts = parts;
    }
    const offset = t.offset + Buffer.byteLength(text.slice(0, end + 1), 'utf8');
    await this.store.meta.set(
      USAGE_META + id,
      JSON.stringify({
        ...u,
        inputTokens: u.inputTokens + add.inputTokens,
        outputTokens: u.outputTokens + add.outputTokens,
        cacheCreationTokens: u.cacheCreationTokens + add.cacheCreationTokens,
        cacheReadTokens: u.cacheReadTokens + add.cacheReadTokens,
        cost: u.cost + add.cost,
        transcript: { path, offset, lastId, lastTokens, lastCost },
      }),
    );
    await this.evaluateOver(id);
  }

  /** USD for token counts by the price table (0 without one, or without a price for the model). */
  private costOf(
    model: string | undefined,
    t: { inputTokens: number; outputTokens: number; cacheCreationTokens: number; cacheReadTokens: number },
  ): number {
    const prices = this.deps.config.prices;
    if (!prices) return 0;
    const key =
      (model && prices[model] ? model : undefined) ??
      Object.keys(prices)
        .filter((k) => k !== '*' && model?.startsWith(k))
        .sort((a, b) => b.length - a.length)[0] ??
      '*';
    const p = prices[key];
    if (!p) return 0;
    return (
      (t.inputTokens * p.input +
        t.outputTokens * p.output +
        t.cacheCreationTokens * (p.cacheWrite ?? p.input) +
        t.cacheReadTokens * (p.cacheRead ?? p.input)) /
      1_000_000
    );
  }

  /** Checks every budget over `id` (after it reported usage). */
  private async evaluateOver(id: string): Promise<void> {
    const roots = await this.roots();
    if (roots.length === 0) return;
    const inst = await this.store.instances.get(id);
    if (!inst) return;
    const nodes = await this.tree(inst.runId);
    for (const a of this.chain(nodes, id)) if (roots.includes(a)) await this.evaluate(a);
  }

  /** Warns at 80 % and pauses at 100 % of tokens, time or cost (each once, until raised). */
  async evaluate(root: string): Promise<void> {
    const notices: Array<() => Promise<void>> = [];
    await this.exclusive(async () => {
      const b = await this.get(root);
      if (!b || b.pausedFor) return;
      const nodes = await this.tree(b.runId);
      const rootNode = nodes.get(root);
      if (!rootNode?.live) return;
      const { used } = await this.spend(nodes, b);
      const values: Record<BudgetResource, number> = {
        tokens: used.tokens,
        minutes: used.minutes,
        cost: used.cost,
      };
      const whose = `your subtree's budget (${root})`;
      for (const r of ['tokens', 'minutes', 'cost'] as const) {
        const limit = b.limits[RESOURCE_LIMIT[r]];
        if (limit === undefined) continue;
        const value = values[r];
        if (value >= limit) {
          b.pausedFor = r;
          if (!b.warned.includes(r)) b.warned.push(r);
          await this.save(b);
          const parent = rootNode.parentId;
          notices.push(async () => {
            await this.deps.emit({
              kind: 'budget.paused',
              actor: 'supervisor',
              instanceId: root,
              data: { root, resource: r, used: value, limit },
            });
            const text = `${this.usedText(b, used, r)}`;
            if (parent) {
              await this.deps.tell(
                parent,
                `Budget exhausted: the subtree of ${root} (${rootNode.role} "${rootNode.name}") used ${text}. It is paused: ` +
                  `its agents finish their turn and take no new work; its messages wait. Decide: raise it with ` +
                  `set_budget {"id": "${root}", "${LIMIT_FIELDS.find((f) => f.key === RESOURCE_LIMIT[r])!.name}": <new limit>} ` +
                  `(it resumes at once), or wind it down with terminate {"id": "${root}", "cascade": true}.`,
                'budget.paused',
              );
            }
          });
          return;
        }
        if (value >= limit * WARN_AT && !b.warned.includes(r)) {
          b.warned.push(r);
          await this.save(b);
          notices.push(async () => {
            await this.deps.emit({
              kind: 'budget.warning',
              actor: 'supervisor',
              instanceId: root,
              data: { root, resource: r, used: value, limit },
            });
            await this.deps.tell(
              root,
              `Budget warning: ${whose} has used ${this.usedText(b, used, r)} (${Math.round((value / limit) * 100)} %). ` +
                'At 100 % your subtree is paused until your parent raises it: wrap up, or ask your parent for more.',
              'budget.warning',
            );
          });
        }
      }
    });
    for (const n of notices)
      await n().catch((err: unknown) => this.deps.log.warn({ err, root }, 'budget notice failed'));
  }

  // ---- changes ----------------------------------------------------------------------------------

  /**
   * Sets (or raises) the budget of `rootId`'s subtree: `caller` null is the user (any limits); an instance may
   * set the budget of an instance below it, carved out of what the budgets over the caller have left. Limits
   * not given keep their value. A paused subtree whose use is now below its limits resumes.
   */
  async set(caller: Instance | null, target: Instance, changes: BudgetLimits): Promise<BudgetView> {
    const actor = caller?.id ?? 'user';
    const previous = await this.exclusive(async () => {
      const old = await this.get(target.id);
      const limits: BudgetLimits = { ...(old?.limits ?? {}), ...changes };
      if (caller) {
        const nodes = await this.tree(target.runId);
        const problems: string[] = [];
        for (const b of await this.budgetsOver(nodes, caller.id)) {
          const { used, reserved } = await this.spend(nodes, b);
          const mine = await this.spendTokensAndCost(nodes, target.id, new Map());
          // The target's own current allocation goes back first.
          const held = {
            tokens: old?.limits.maxTokens ? Math.max(0, old.limits.maxTokens - mine.tokens) : 0,
            cost: old?.limits.maxCost ? Math.max(0, old.limits.maxCost - mine.cost) : 0,
          };
          const whose = this.describe(nodes, b);
          const tokensLeft =
            b.limits.maxTokens === undefined
              ? Infinity
              : b.limits.maxTokens - used.tokens - reserved.tokens + held.tokens;
          if (changes.maxTokens !== undefined && changes.maxTokens - mine.tokens > tokensLeft) {
            problems.push(
              `max_tokens ${fmt(changes.maxTokens)} needs ${fmt(changes.maxTokens - mine.tokens)} more than ${target.id} used, and ${whose} has ${fmt(Math.max(0, tokensLeft))} left`,
            );
          }
          const costLeft =
            b.limits.maxCost === undefined
              ? Infinity
              : b.limits.maxCost - used.cost - reserved.cost + held.cost;
          if (changes.maxCost !== undefined && changes.maxCost - mine.cost > costLeft) {
            problems.push(
              `max_cost ${fmt(changes.maxCost, 'cost')} exceeds what ${whose} has left (${fmt(Math.max(0, costLeft), 'cost')})`,
            );
          }
          const minutesLeft =
            b.limits.maxMinutes === undefined ? Infinity : b.limits.maxMinutes - used.minutes;
          const targetElapsed = old ? (Date.now() - old.startedAt) / 60_000 : 0;
          if (changes.maxMinutes !== undefined && changes.maxMinutes - targetElapsed > minutesLeft) {
            problems.push(
              `max_minutes ${changes.maxMinutes} runs past the ${fmt(minutesLeft, 'minutes')} left of ${whose}`,
            );
          }
          const depth = this.chain(nodes, target.id).indexOf(b.root);
          if (
            changes.maxDepth !== undefined &&
            b.limits.maxDepth !== undefined &&
            depth + changes.maxDepth > b.limits.maxDepth
          ) {
            problems.push(
              `max_depth ${changes.maxDepth} at level ${depth} goes below the max_depth ${b.limits.maxDepth} of ${whose}`,
            );
          }
          if (changes.maxInstances !== undefined && b.limits.maxInstances !== undefined) {
            const theirs = this.below(nodes, target.id).filter((n) => n.live).length;
            const left = b.limits.maxInstances - used.instances + theirs;
            if (changes.maxInstances > left) {
              problems.push(
                `max_instances ${changes.maxInstances} exceeds the ${left} ${whose} has left for it`,
              );
            }
          }
        }
        if (problems.length > 0) {
          const reason = `cannot set the budget of ${target.id}: ${problems.join('; ')}`;
          await this.refused('set_budget', actor, reason);
          throw budgetError(reason, 'ask your own parent for more first, or give less');
        }
      }
      const now = Date.now();
      const rec: BudgetRecord = old
        ? { ...old, limits }
        : {
            root: target.id,
            runId: target.runId,
            limits,
            startedAt: now,
            pausedFor: null,
            warned: [],
            updatedAt: now,
          };
      // A warning is sent again once the raised limit is 80 % used.
      rec.warned = rec.warned.filter((r) => changes[RESOURCE_LIMIT[r]] === undefined);
      await this.save(rec);
      await this.addRoot(target.id);
      return old;
    });
    await this.deps.emit({
      kind: 'budget.set',
      actor,
      instanceId: target.id,
      data: {
        root: target.id,
        limits: { ...(previous?.limits ?? {}), ...changes },
        previous: previous?.limits ?? null,
        by: actor,
      },
    });
    this.schedule(target.id);
    await this.reconsider(target.id, actor);
    return (await this.view(target.id))!;
  }

  /** A paused budget whose use is below every limit again resumes; then the 80 %/100 % checks run. */
  private async reconsider(root: string, actor: string): Promise<void> {
    const resumed = await this.exclusive(async () => {
      const b = await this.get(root);
      if (!b?.pausedFor) return null;
      const nodes = await this.tree(b.runId);
      const { used } = await this.spend(nodes, b);
      const values: Record<BudgetResource, number> = {
        tokens: used.tokens,
        minutes: used.minutes,
        cost: used.cost,
      };
      const still = (['tokens', 'minutes', 'cost'] as const).some((r) => {
        const limit = b.limits[RESOURCE_LIMIT[r]];
        return limit !== undefined && values[r] >= limit;
      });
      if (still) return null;
      b.pausedFor = null;
      await this.save(b);
      return b;
    });
    if (resumed) {
      await this.deps.emit({
        kind: 'budget.resumed',
        actor,
        instanceId: root,
        data: { root, by: actor },
      });
      await this.deps.resumed(root, resumed.runId);
    }
    await this.evaluate(root);
  }

  // ---- time -------------------------------------------------------------------------------------

  /** Timers at 80 % and 100 % of a budget's minutes (event-driven, no polling). */
  private schedule(root: string): void {
    if (this.closed) return;
    for (const t of this.timers.get(root) ?? []) clearTimeout(t);
    this.timers.delete(root);
    void this.get(root).then((b) => {
      if (!b?.limits.maxMinutes || this.closed) return;
      const limitMs = b.limits.maxMinutes * 60_000;
      const timers = [WARN_AT, 1].map((share) => {
        const t = setTimeout(
          () =>
            void this.evaluate(root).catch((err: unknown) =>
              this.deps.log.warn({ err, root }, 'budget check failed'),
            ),
          Math.max(0, b.startedAt + limitMs * share - Date.now()) + 50,
        );
        t.unref();
        return t;
      });
      this.timers.set(root, timers);
    });
  }

  /** After a supervisor start: time checks for every budget, and a check of what was spent meanwhile. */
  async start(): Promise<void> {
    for (const root of await this.roots()) {
      this.schedule(root);
      await this.evaluate(root);
    }
  }

  close(): void {
    this.closed = true;
    for (const ts of this.timers.values()) for (const t of ts) clearTimeout(t);
    this.timers.clear();
  }

  // ---- views ------------------------------------------------------------------------------------

  async view(root: string): Promise<BudgetView | null> {
    const b = await this.get(root);
    if (!b) return null;
    const nodes = await this.tree(b.runId);
    const n = nodes.get(root);
    if (!n) return null;
    const { used, reserved } = await this.spend(nodes, b);
    return {
      root,
      runId: b.runId,
      role: n.role,
      name: n.name,
      rootState: n.state,
      state: b.pausedFor ? 'paused' : 'active',
      pausedFor: b.pausedFor,
      limits: b.limits,
      used: {
        ...used,
        minutes: Math.round(used.minutes * 10) / 10,
        cost: Math.round(used.cost * 10_000) / 10_000,
      },
      reserved: { tokens: reserved.tokens, cost: Math.round(reserved.cost * 10_000) / 10_000 },
      startedAt: b.startedAt,
    };
  }

  /** Every budget (of one run), parents before children. */
  async list(runId?: string): Promise<BudgetView[]> {
    const out: BudgetView[] = [];
    for (const root of await this.roots()) {
      const v = await this.view(root);
      if (v && (!runId || v.runId === runId)) out.push(v);
    }
    return out;
  }
}
