import { localhostHostValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import {
  AGENT_KINDS,
  TmuxClaudeError,
  type DeliveryState,
  type Envelope,
  type ErrorCode,
  type Logger,
} from '../core/index.js';
import { knowledgeView, mcpHandler, taskView, type Caller } from '../mcp/index.js';
import { parseLimits } from './budgets.js';
import { adminGate, dashboardApi, dashboardPage } from './dashboard.js';
import { parseBody, wrap } from './http-util.js';
import type { Organisation } from './organisation.js';
import type { ResourceSampler } from './resources.js';

const HTTP_STATUS: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  INVALID_ARGUMENT: 400,
  FORBIDDEN: 403,
  UNAUTHORIZED: 401,
  CONFLICT: 409,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
  DEPENDENCY_MISSING: 503,
  EXTERNAL_COMMAND_FAILED: 502,
  MERGE_CONFLICT: 409,
  UNMERGED_WORK: 409,
  STALE_LEASE: 409,
  INTERNAL: 500,
};

export interface AppOptions {
  org: Organisation;
  /** CPU and memory series for /api/resources. */
  resources: ResourceSampler;
  adminToken: string;
  log: Logger;
  /** Status facts for /api/status. */
  status: () => Promise<Record<string, unknown>>;
  /** Called by POST /api/shutdown after the response is sent. */
  shutdown: () => void;
}

function bearer(req: Request): string {
  const h = req.headers.authorization ?? '';
  return h.startsWith('Bearer ') ? h.slice(7) : '';
}

const RunBody = z.object({
  goal: z.string().min(1).max(200_000),
  repo: z.string().min(1),
  targetBranch: z.string().min(1).optional(),
  agent: z.enum(AGENT_KINDS as [string, ...string[]]).optional(),
  agentEnv: z.record(z.string(), z.string()).optional(),
  /** Limits by name (maxTokens or max_tokens, …); checked by the organisation (parseLimits). */
  budget: z.record(z.string(), z.unknown()).optional(),
});
const SendBody = z.object({
  text: z.string().min(1).max(1_000_000),
  timeoutS: z.number().positive().max(600).optional(),
});
const KillBody = z.object({ cascade: z.boolean().optional() });

/**
 * The supervisor's HTTP surface: /api (admin token), /hooks (instance tokens), /mcp (instance tokens).
 * Host-header validation blocks DNS rebinding; there are no CORS headers, so pages cannot read responses.
 */
/** One delivery as the CLI and dashboard show it: who, to whom, where it stands and how long it took. */
export interface MessageFlowRow {
  /** Delivery sequence number: a cursor for `?after=`. */
  seq: number;
  id: string;
  runId: string;
  from: string;
  /** The recipient of this delivery. */
  to: string;
  /** The address the sender used (`parent`, `topic:…`, an id). */
  address: string;
  subject: string | null;
  state: DeliveryState;
  requiresAck: boolean;
  attempts: number;
  bytes: number;
  sentAt: number;
  /** Milliseconds from send to delivery / to ack, when reached. */
  deliveredMs: number | null;
  ackedMs: number | null;
  error: string | null;
  body: string;
}

export function messageFlowRow({ message: m, delivery: d }: Envelope): MessageFlowRow {
  return {
    seq: d.seq,
    id: m.id,
    runId: m.runId,
    from: m.from,
    to: d.recipient,
    address: m.to,
    subject: m.subject,
    state: d.state,
    requiresAck: m.requiresAck,
    attempts: d.attempts,
    bytes: Buffer.byteLength(m.body),
    sentAt: m.createdAt,
    deliveredMs: d.deliveredAt === null ? null : d.deliveredAt - m.createdAt,
    ackedMs: d.ackedAt === null ? null : d.ackedAt - m.createdAt,
    error: d.error,
    body: m.body,
  };
}

export function createApp(opts: AppOptions): express.Express {
  const { org, log } = opts;
  const app = express();
  app.disable('x-powered-by');
  app.use(localhostHostValidation());
  app.use(express.json({ limit: '8mb' }));

  const instanceCaller = async (req: Request): Promise<Caller> => {
    const token = bearer(req);
    const caller = token ? await org.authenticate(token) : null;
    if (!caller) throw new TmuxClaudeError('UNAUTHORIZED', 'missing or unknown instance token');
    return caller;
  };

  // tmux's pane-died hook: an unauthenticated wake-up; the sweep reads the truth from tmux itself.
  app.post(
    '/hooks/tmux/pane-died',
    wrap(async () => {
      await org.sweep('pane-died hook');
      return { ok: true };
    }),
  );
  app.post(
    '/hooks/:event',
    wrap(async (req) => {
      const caller = await instanceCaller(req);
      return org.onHook(caller, String(req.params.event), (req.body ?? {}) as Record<string, unknown>);
    }),
  );

  const mcp = mcpHandler(org, (t) => org.authenticate(t, 'mcp'), log);
  app.post('/mcp', (req, res) => void mcp(req, res));
  app.all('/mcp', (_req, res) => {
    res
      .status(405)
      .set('Allow', 'POST')
      .json({ error: { code: 'INVALID_ARGUMENT', message: 'use POST' } });
  });

  const api = express.Router();
  api.use(adminGate(org, opts.adminToken));
  api.get(
    '/health',
    wrap(async () => ({ ok: true, pid: process.pid })),
  );
  api.get(
    '/status',
    wrap(() => opts.status()),
  );
  api.get(
    '/instances',
    wrap(() => org.list(null)),
  );
  // The hosts sharing the store, with their live instances (several when the store is Redis).
  api.get(
    '/hosts',
    wrap(() => org.hostViews()),
  );
  api.post(
    '/runs',
    wrap(async (req) => {
      const body = parseBody(RunBody, req.body);
      return org.createRun({
        ...body,
        agent: body.agent as (typeof AGENT_KINDS)[number] | undefined,
        budget: body.budget === undefined ? undefined : parseLimits(body.budget, 'budget'),
      });
    }),
  );
  // Budgets with their spend (?run=ID for one run), and a change or raise of one subtree's budget.
  api.get(
    '/budgets',
    wrap(async (req) => {
      const run = typeof req.query.run === 'string' && req.query.run !== '' ? req.query.run : undefined;
      return org.budgetsOf(null, run);
    }),
  );
  api.post(
    '/instances/:id/budget',
    wrap((req) => org.setBudget(null, String(req.params.id), req.body ?? {})),
  );
  api.get(
    '/runs/:id',
    wrap((req) => org.runStatus(String(req.params.id))),
  );
  api.post(
    '/instances/:id/send',
    wrap(async (req) => {
      const body = parseBody(SendBody, req.body);
      return org.send(
        null,
        String(req.params.id),
        body.text,
        body.timeoutS === undefined ? undefined : body.timeoutS * 1000,
      );
    }),
  );
  api.get(
    '/instances/:id/read',
    wrap(async (req) => {
      const since = req.query.since === undefined ? undefined : Number(req.query.since);
      if (since !== undefined && (!Number.isInteger(since) || since < 0)) {
        throw new TmuxClaudeError('INVALID_ARGUMENT', 'since must be a cursor returned by an earlier read');
      }
      return org.read(null, String(req.params.id), since);
    }),
  );
  api.post(
    '/instances/:id/kill',
    wrap(async (req) =>
      org.terminate(null, String(req.params.id), parseBody(KillBody, req.body ?? {}).cascade ?? false),
    ),
  );
  api.post(
    '/instances/:id/restart',
    wrap((req) => org.restart(null, String(req.params.id))),
  );
  api.get(
    '/events/head',
    wrap(async () => ({ seq: await org.deps.store.events.lastSeq() })),
  );
  // The audit-trail check: the first edited, deleted or unlinked event, or the head (see EventLog.verify).
  api.get(
    '/events/verify',
    wrap(() => org.deps.store.events.verify()),
  );
  api.get(
    '/events',
    wrap(async (req) => {
      const after = Number(req.query.after ?? 0) || 0;
      const waitS = Math.min(Number(req.query.wait ?? 0) || 0, 60);
      const instanceId = typeof req.query.instance === 'string' ? req.query.instance : undefined;
      const sinceTs = req.query.since_ts === undefined ? undefined : Number(req.query.since_ts);
      if (sinceTs !== undefined && !(Number.isFinite(sinceTs) && sinceTs >= 0)) {
        throw new TmuxClaudeError('INVALID_ARGUMENT', 'since_ts: expected a time in epoch milliseconds');
      }
      const query = {
        afterSeq: after,
        limit: 1000,
        ...(instanceId ? { instanceId } : {}),
        ...(sinceTs !== undefined ? { sinceTs } : {}),
      };
      let events = await org.deps.store.events.list(query);
      if (events.length === 0 && waitS > 0) {
        await org.signals.wait('events', waitS * 1000);
        events = await org.deps.store.events.list(query);
      }
      return events;
    }),
  );
  api.get(
    '/messages',
    wrap(async (req) => {
      const q = req.query;
      const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
      const after = Number(q.after ?? 0);
      const limit = Math.min(Math.max(Number(q.limit ?? 200) || 200, 1), 100_000);
      const envelopes = await org.deps.store.messages.list(
        {
          runId: str(q.run),
          recipient: str(q.to),
          from: str(q.from),
          ...(q.dead === '1' ? { states: ['dead' as const] } : {}),
          ...(after > 0 ? { afterSeq: after } : {}),
        },
        limit,
      );
      return envelopes.map(messageFlowRow);
    }),
  );
  api.get(
    '/tasks',
    wrap(async (req) => {
      const run = typeof req.query.run === 'string' && req.query.run !== '' ? req.query.run : undefined;
      const tasks = await org.tasksOf(run);
      const reservations = await org.coordinator.listReservations(run ? { runId: run } : {});
      return { tasks: tasks.map((t) => taskView(t)), reservations };
    }),
  );
  api.get(
    '/knowledge',
    wrap(async (req) => {
      const q = req.query;
      const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
      const run = str(q.run) ?? (await latestRun(org));
      const limit = Math.min(Math.max(Number(q.limit ?? 20) || 20, 1), 100);
      const syntax = q.syntax === 'fts' ? 'fts' : 'words';
      const tags = str(q.tag)?.split(',');
      const results = await org.queryKnowledge({ runId: run }, { query: str(q.q), syntax, tags, limit });
      return { run, results: results.map(knowledgeView) };
    }),
  );
  api.get(
    '/knowledge/entries',
    wrap(async (req) => {
      const run = typeof req.query.run === 'string' && req.query.run !== '' ? req.query.run : undefined;
      const limit = Math.min(Math.max(Number(req.query.limit ?? 200) || 200, 1), 10_000);
      const entries = await org.deps.store.knowledge.list({ runId: run, all: req.query.all === '1', limit });
      return entries.map((entry) => knowledgeView({ entry }));
    }),
  );
  // Newest sample per live instance and of the host; ?instance=ID or ?host=1 for that series (oldest first).
  api.get(
    '/resources',
    wrap(async (req) => {
      const { resources } = opts;
      const id = typeof req.query.instance === 'string' ? req.query.instance : '';
      if (id) {
        const samples = resources.series(id);
        if (!samples && !(await org.deps.store.instances.get(id))) {
          throw new TmuxClaudeError('NOT_FOUND', `instance ${JSON.stringify(id)} not found`);
        }
        // A known instance without a series has ended, or has no agent process yet.
        return { instance: id, intervalMs: resources.intervalMs, samples: samples ?? [] };
      }
      if (req.query.host === '1')
        return { host: true, intervalMs: resources.intervalMs, samples: resources.host() };
      return resources.latest();
    }),
  );
  api.get(
    '/conflicts',
    wrap(async (req) => {
      const run = typeof req.query.run === 'string' ? req.query.run : '';
      if (!run) throw new TmuxClaudeError('INVALID_ARGUMENT', 'pass ?run=<run id>');
      return org.checkConflicts({ runId: run });
    }),
  );
  api.post(
    '/shutdown',
    wrap(async (_req, res) => {
      res.json({ ok: true });
      setImmediate(opts.shutdown);
    }),
  );
  api.use(dashboardApi({ org, resources: opts.resources, adminToken: opts.adminToken, log }));
  app.use('/api', api);
  app.use(dashboardPage(opts.adminToken));

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e =
      err instanceof TmuxClaudeError
        ? err
        : (err as { type?: string }).type === 'entity.parse.failed'
          ? new TmuxClaudeError('INVALID_ARGUMENT', 'request body is not valid JSON')
          : (err as { type?: string }).type === 'entity.too.large'
            ? new TmuxClaudeError('INVALID_ARGUMENT', 'request body is too large (limit 8 MB)')
            : new TmuxClaudeError('INTERNAL', err instanceof Error ? err.message : String(err), {
                cause: err,
              });
    if (e.code === 'INTERNAL') log.error({ err }, 'request failed');
    res.locals.errorMessage = e.message; // for the dashboard's audit of its actions
    res.status(HTTP_STATUS[e.code]).json({ error: e.toJSON() });
  });
  return app;
}

/** The newest run's id, for commands that default to it; NOT_FOUND when there is none. */
async function latestRun(org: Organisation): Promise<string> {
  const runs = await org.deps.store.runs.list();
  const newest = runs.reduce<(typeof runs)[number] | undefined>(
    (a, r) => (!a || r.createdAt > a.createdAt ? r : a),
    undefined,
  );
  if (!newest)
    throw new TmuxClaudeError('NOT_FOUND', 'there is no run yet', { hint: 'start one with tmux-claude run' });
  return newest.id;
}
