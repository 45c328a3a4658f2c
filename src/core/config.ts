import { createHash } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { TmuxClaudeError } from './errors.js';
import type { Role } from './types.js';

/** What the supervisor does with a dead instance: restart it in place, or start a successor in its stead. */
export type DeathPolicy = 'restart' | 'replace';

/** One role's overrides of the global recovery settings (TMUX_CLAUDE_RECOVERY); absent fields use the globals. */
export const RoleRecoverySchema = z
  .object({
    restartLimit: z.number().int().min(0).optional(),
    restartBackoffMs: z.number().int().min(0).optional(),
    stuckAfterMs: z.number().int().min(0).optional(),
    onDeath: z.enum(['restart', 'replace']).optional(),
  })
  .strict();
export type RoleRecovery = z.infer<typeof RoleRecoverySchema>;

/** A role's recovery settings with the globals filled in. */
export interface RecoveryPolicy {
  /** Automatic restarts (or successors) after deaths before the instance is left to its parent (0: never). */
  restartLimit: number;
  /** Delay before the first automatic recovery; doubles with each further one. */
  restartBackoffMs: number;
  /** Silence (busy) or a dialog (blocked) this long starts the stuck ladder / releases the leases; 0: never. */
  stuckAfterMs: number;
  onDeath: DeathPolicy;
}

/** The one configuration schema: environment variables and flags both land here. */
export const ConfigSchema = z.object({
  home: z.string().min(1),
  /** `sqlite` (the embedded store at <home>/store.db) or a `redis://` URL. */
  store: z.union([
    z.literal('sqlite'),
    z.string().regex(/^rediss?:\/\//, 'must be "sqlite" or a redis:// URL'),
  ]),
  /** This supervisor's host id in a shared store (TMUX_CLAUDE_HOST, default the machine's hostname). */
  host: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, ".", "_" and "-" (at most 63)'),
  /** A host silent for this long is declared lost and its instances re-homed (TMUX_CLAUDE_HOST_TIMEOUT_S). */
  hostTimeoutMs: z.number().int().min(1_000).default(10_000),
  /** Live instances this host takes before placement prefers other hosts (TMUX_CLAUDE_HOST_CAPACITY). */
  hostCapacity: z.number().int().min(1).default(50),
  /** Fixed supervisor port; undefined picks a free one (and prefers the previous one on restart). */
  port: z.number().int().min(1).max(65535).optional(),
  /** How long `spawn` waits for an instance to report ready. */
  spawnTimeoutMs: z.number().int().positive().default(30_000),
  /** How long `send` waits for a delivery to be confirmed before answering "queued". */
  sendTimeoutMs: z.number().int().positive().default(60_000),
  /** Task leases and file reservations last this long unless renewed (heartbeat, or the agent's activity). */
  leaseTtlMs: z.number().int().min(100).default(120_000),
  /** Claims of one task before it is failed for good. */
  taskMaxAttempts: z.number().int().min(1).default(3),
  /** Specialists execute_parallel runs at once unless the caller says otherwise. */
  maxActiveDefault: z.number().int().min(1).default(4),
  /** Automatic in-place restarts of a dead instance before it is left to its parent (0: never). */
  restartLimit: z.number().int().min(0).default(3),
  /** Delay before the first automatic restart; doubles with each further one. */
  restartBackoffMs: z.number().int().min(0).default(1_000),
  /** A busy instance with no output, hook or tool call for this long is stuck (nudged, interrupted, restarted); 0: never. */
  stuckAfterMs: z.number().int().min(0).default(300_000),
  /** Per-role overrides of the recovery settings above (TMUX_CLAUDE_RECOVERY). */
  recovery: z
    .object({
      executive: RoleRecoverySchema.optional(),
      manager: RoleRecoverySchema.optional(),
      // Managers and executives own children, branches and batches a successor could not take over.
      specialist: RoleRecoverySchema.optional(),
    })
    .strict()
    .default({})
    .refine((r) => r.executive?.onDeath !== 'replace' && r.manager?.onDeath !== 'replace', {
      message: 'onDeath=replace is for specialists only (executives and managers are restarted in place)',
    }),
  /** Per-call timeout for tmux and git. */
  commandTimeoutMs: z.number().int().positive().default(15_000),
  /** How long a rate-limited agent waits before it is resumed when the API gave no reset time. */
  rateLimitWaitMs: z.number().int().min(0).default(60_000),
  /**
   * Prices in USD per million tokens by model (TMUX_CLAUDE_PRICES, JSON): a key matches a model name exactly
   * or as its prefix (the longest wins), `*` any other. Without a table, budgets count no cost.
   */
  prices: z
    .record(
      z.string().min(1),
      z
        .object({
          input: z.number().min(0),
          output: z.number().min(0),
          cacheWrite: z.number().min(0).optional(),
          cacheRead: z.number().min(0).optional(),
        })
        .strict(),
    )
    .optional(),
});
export type Config = z.infer<typeof ConfigSchema>;

/** Reads TMUX_CLAUDE_HOME, TMUX_CLAUDE_STORE and TMUX_CLAUDE_PORT; throws INVALID_ARGUMENT with the reason. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const raw = {
    home: resolve(env.TMUX_CLAUDE_HOME || join(homedir(), '.tmux-claude')),
    store: env.TMUX_CLAUDE_STORE || 'sqlite',
    port: env.TMUX_CLAUDE_PORT ? Number(env.TMUX_CLAUDE_PORT) : undefined,
    host:
      env.TMUX_CLAUDE_HOST ||
      hostname()
        .replace(/[^A-Za-z0-9._-]/g, '-')
        .slice(0, 63) ||
      'localhost',
    ...(env.TMUX_CLAUDE_HOST_TIMEOUT_S
      ? { hostTimeoutMs: Number(env.TMUX_CLAUDE_HOST_TIMEOUT_S) * 1000 }
      : {}),
    ...(env.TMUX_CLAUDE_HOST_CAPACITY ? { hostCapacity: Number(env.TMUX_CLAUDE_HOST_CAPACITY) } : {}),
    ...(env.TMUX_CLAUDE_LEASE_TTL_S ? { leaseTtlMs: Number(env.TMUX_CLAUDE_LEASE_TTL_S) * 1000 } : {}),
    ...(env.TMUX_CLAUDE_RESTART_LIMIT ? { restartLimit: Number(env.TMUX_CLAUDE_RESTART_LIMIT) } : {}),
    ...(env.TMUX_CLAUDE_STUCK_AFTER_S ? { stuckAfterMs: Number(env.TMUX_CLAUDE_STUCK_AFTER_S) * 1000 } : {}),
    ...(env.TMUX_CLAUDE_RECOVERY ? { recovery: parseRecoveryEnv(env.TMUX_CLAUDE_RECOVERY) } : {}),
    ...(env.TMUX_CLAUDE_RATE_LIMIT_WAIT_S
      ? { rateLimitWaitMs: Number(env.TMUX_CLAUDE_RATE_LIMIT_WAIT_S) * 1000 }
      : {}),
    ...(env.TMUX_CLAUDE_PRICES ? { prices: parsePricesEnv(env.TMUX_CLAUDE_PRICES) } : {}),
    ...overrides,
  };
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? 'config';
    const envName =
      {
        home: 'TMUX_CLAUDE_HOME',
        store: 'TMUX_CLAUDE_STORE',
        port: 'TMUX_CLAUDE_PORT',
        host: 'TMUX_CLAUDE_HOST',
        hostTimeoutMs: 'TMUX_CLAUDE_HOST_TIMEOUT_S',
        hostCapacity: 'TMUX_CLAUDE_HOST_CAPACITY',
        leaseTtlMs: 'TMUX_CLAUDE_LEASE_TTL_S',
        restartLimit: 'TMUX_CLAUDE_RESTART_LIMIT',
        stuckAfterMs: 'TMUX_CLAUDE_STUCK_AFTER_S',
        rateLimitWaitMs: 'TMUX_CLAUDE_RATE_LIMIT_WAIT_S',
      }[field] ??
      (field.startsWith('prices') ? 'TMUX_CLAUDE_PRICES' : undefined) ??
      (field.startsWith('recovery') ? 'TMUX_CLAUDE_RECOVERY' : undefined);
    throw new TmuxClaudeError(
      'INVALID_ARGUMENT',
      `invalid ${envName ?? field}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/** TMUX_CLAUDE_PRICES: a JSON object (checked by the schema); text that is not JSON throws INVALID_ARGUMENT. */
function parsePricesEnv(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new TmuxClaudeError('INVALID_ARGUMENT', 'invalid TMUX_CLAUDE_PRICES: not JSON', {
      hint: 'e.g. TMUX_CLAUDE_PRICES=\'{"claude-sonnet": {"input": 3, "output": 15}, "*": {"input": 3, "output": 15}}\' (USD per million tokens)',
    });
  }
}

/** TMUX_CLAUDE_RECOVERY's numeric keys: the field each sets and its unit (seconds are stored as ms). */
const RECOVERY_KEYS: Record<string, { field: keyof RoleRecovery; scale: number }> = {
  restartLimit: { field: 'restartLimit', scale: 1 },
  backoffS: { field: 'restartBackoffMs', scale: 1000 },
  stuckAfterS: { field: 'stuckAfterMs', scale: 1000 },
};
const RECOVERY_ROLES: readonly Role[] = ['executive', 'manager', 'specialist'];

/**
 * Parses TMUX_CLAUDE_RECOVERY: comma-separated `ROLE.KEY=VALUE` pairs, e.g.
 * `specialist.restartLimit=1,specialist.onDeath=replace,manager.stuckAfterS=600`. Keys: `restartLimit`,
 * `backoffS`, `stuckAfterS` (numbers) and `onDeath` (`restart` | `replace`). The values' ranges are checked
 * by the schema; a malformed pair throws INVALID_ARGUMENT naming it.
 */
export function parseRecoveryEnv(text: string): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const bad = (pair: string, why: string) =>
    new TmuxClaudeError('INVALID_ARGUMENT', `invalid TMUX_CLAUDE_RECOVERY: ${JSON.stringify(pair)} ${why}`, {
      hint: 'e.g. TMUX_CLAUDE_RECOVERY="specialist.restartLimit=1,specialist.onDeath=replace,manager.stuckAfterS=600"',
    });
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([a-z]+)\.([A-Za-z]+)=(.*)$/.exec(pair);
    if (!m) throw bad(pair, 'is not ROLE.KEY=VALUE');
    const [, role, key, value] = m as unknown as [string, string, string, string];
    if (!(RECOVERY_ROLES as readonly string[]).includes(role)) {
      throw bad(pair, `names no role (${RECOVERY_ROLES.join(', ')})`);
    }
    const entry = (out[role] ??= {});
    if (key === 'onDeath') {
      if (value !== 'restart' && value !== 'replace')
        throw bad(pair, 'must be onDeath=restart or onDeath=replace');
      entry.onDeath = value;
      continue;
    }
    const known = RECOVERY_KEYS[key];
    if (!known)
      throw bad(pair, `has an unknown key (${[...Object.keys(RECOVERY_KEYS), 'onDeath'].join(', ')})`);
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n) || n < 0) throw bad(pair, 'needs a number ≥ 0');
    entry[known.field] = known.scale === 1 ? n : Math.round(n * known.scale);
  }
  return out;
}

/** A role's recovery settings: its TMUX_CLAUDE_RECOVERY overrides over the global ones. */
export function recoveryPolicy(config: Config, role: Role): RecoveryPolicy {
  const own = config.recovery[role] ?? {};
  return {
    restartLimit: own.restartLimit ?? config.restartLimit,
    restartBackoffMs: own.restartBackoffMs ?? config.restartBackoffMs,
    stuckAfterMs: own.stuckAfterMs ?? config.stuckAfterMs,
    onDeath: own.onDeath ?? 'restart',
  };
}

/** Every path under the home dir, computed in one place. */
export interface Paths {
  home: string;
  runDir: string;
  /** Written by the running supervisor: port, pid, admin token (mode 0600). */
  supervisorFile: string;
  supervisorLock: string;
  supervisorLog: string;
  storeFile: string;
  worktrees: string;
  instances: string;
  logs: string;
  /** Private tmux socket name, unique per home dir so test homes never share a server. */
  tmuxSocket: string;
}

export function pathsFor(home: string): Paths {
  const runDir = join(home, 'run');
  const digest = createHash('sha256').update(home).digest('hex').slice(0, 10);
  return {
    home,
    runDir,
    supervisorFile: join(runDir, 'supervisor.json'),
    supervisorLock: join(runDir, 'supervisor.lock'),
    supervisorLog: join(home, 'logs', 'supervisor.log'),
    storeFile: join(home, 'store.db'),
    worktrees: join(home, 'worktrees'),
    instances: join(home, 'instances'),
    logs: join(home, 'logs'),
    tmuxSocket: `tmux-claude-${digest}`,
  };
}

export function instanceDir(paths: Paths, instanceId: string): string {
  return join(paths.instances, instanceId);
}
