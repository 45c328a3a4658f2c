import express, { type NextFunction, type Request, type Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { TmuxClaudeError, isLive, type Logger } from '../core/index.js';
import { taskView } from '../mcp/index.js';
import { dashboardAssetsDir } from '../web/index.js';
import { parseBody, wrap } from './http-util.js';
import type { Organisation } from './organisation.js';
import type { ResourceSampler } from './resources.js';

/** How often an open terminal view looks at its pane (only while someone watches it). */
const TERMINAL_POLL_MS = 250;
/** SSE comment lines keep idle connections open through proxies and let the browser notice a dead server. */
const KEEPALIVE_MS = 15_000;

/** How a request proved it is the admin: the bearer token (the CLI) or the dashboard's cookie (a browser). */
export type AdminVia = 'bearer' | 'cookie';

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Cookies are per host, not per port: the port in the name keeps two supervisors' logins apart. */
function cookieName(req: Request): string {
  return `tmux_claude_${req.socket.localPort ?? 0}`;
}

function cookieValue(req: Request, name: string): string {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return '';
}

/** Which admin credential the request carries, if any. */
export function adminVia(req: Request, adminToken: string): AdminVia | null {
  const h = req.headers.authorization ?? '';
  if (h.startsWith('Bearer ') && sameToken(h.slice(7), adminToken)) return 'bearer';
  const cookie = cookieValue(req, cookieName(req));
  return cookie && sameToken(cookie, adminToken) ? 'cookie' : null;
}

/**
 * The /api gate: the admin token as bearer or cookie. A browser's request that changes something must be
 * JSON (a cross-site form cannot send that without a CORS preflight, which is never granted), and every such
 * request is audited as `dashboard.action` once answered.
 */
export function adminGate(org: Organisation, adminToken: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const via = adminVia(req, adminToken);
    if (!via) {
      next(
        new TmuxClaudeError('UNAUTHORIZED', 'missing or wrong admin token', {
          hint: 'use the tmux-claude CLI',
        }),
      );
      return;
    }
    if (via === 'cookie' && req.method !== 'GET') {
      if (!req.is('application/json')) {
        next(
          new TmuxClaudeError(
            'FORBIDDEN',
            'dashboard requests that change something must be application/json',
          ),
        );
        return;
      }
      const [, collection = '', target = '', verb] = req.path.split('/');
      if (!(collection === 'instances' && verb === 'input')) {
        res.on('finish', () => {
          const error = res.locals.errorMessage as string | undefined;
          void org
            .emit({
              kind: 'dashboard.action',
              actor: 'dashboard',
              instanceId: collection === 'instances' ? target : null,
              data: {
                action: verb ? `${collection}.${verb}` : collection,
                target,
                ok: res.statusCode < 400,
                ...(error ? { error } : {}),
              },
            })
            .catch(() => undefined);
        });
      }
    }
    res.locals.adminVia = via;
    next();
  };
}

/** A server-sent-events response: one `event:`/`data:` block per send, ended when the client goes away. */
function openEventStream(
  req: Request,
  res: Response,
): { send: (event: string, data: unknown, id?: number) => void; closed: () => boolean } {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write('retry: 1000\n\n');
  let closed = false;
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  req.on('close', () => {
    closed = true;
    clearInterval(keepalive);
  });
  return {
    send: (event, data, id) => {
      if (closed) return;
      res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    closed: () => closed,
  };
}

const InputBody = z.object({ data: z.string().min(1).max(65_536) });
const ReassignBody = z.object({ to: z.string().min(1).max(200).nullable().optional() });

export interface DashboardOptions {
  org: Organisation;
  resources: ResourceSampler;
  adminToken: string;
  log: Logger;
}

/**
 * The dashboard's own API (mounted under /api behind {@link adminGate}): the live stream of audit events and
 * resource samples, runs, a pane's styled screen as a stream, typing into a pane, and task reassignment.
 */
export function dashboardApi(opts: DashboardOptions): express.Router {
  const { org } = opts;
  const api = express.Router();

  api.get(
    '/runs',
    wrap(async () =>
      (await org.deps.store.runs.list())
        .sort((a, b) => b.createdAt - a.createdAt)
        // agentEnv can hold credentials; the dashboard has no use for it.
        .map(({ agentEnv: _env, ...run }) => run),
    ),
  );

  // Every audit event after `after` (or the browser's Last-Event-ID on a reconnect), then new ones as they
  // are appended; and the newest resource snapshot after every sampling tick.
  api.get('/stream', (req, res) => {
    const lastId = Number(req.headers['last-event-id'] ?? req.query.after ?? 0);
    let after = Number.isInteger(lastId) && lastId > 0 ? lastId : 0;
    const stream = openEventStream(req, res);
    const { signals } = org;
    const events = async (): Promise<void> => {
      while (!stream.closed()) {
        const version = signals.version('events');
        const batch = await org.deps.store.events.list({ afterSeq: after, limit: 500 });
        for (const e of batch) stream.send('audit', e, e.seq);
        if (batch.length > 0) after = batch.at(-1)!.seq;
        if (batch.length < 500) await signals.waitSince('events', version, KEEPALIVE_MS);
      }
    };
    const resources = async (): Promise<void> => {
      stream.send('resources', opts.resources.latest());
      while (!stream.closed()) {
        if (await signals.wait('resources', KEEPALIVE_MS)) stream.send('resources', opts.resources.latest());
      }
    };
    for (const loop of [events, resources]) {
      loop().catch((err: unknown) => {
        opts.log.warn({ err }, 'dashboard stream ended');
        res.end();
      });
    }
  });

  // The pane's screen with colours, sent whenever it changes, until the pane is gone or the viewer leaves.
  api.get(
    '/instances/:id/terminal',
    wrap(async (req, res) => {
      const inst = await org.deps.store.instances.get(String(req.params.id));
      if (!inst)
        throw new TmuxClaudeError('NOT_FOUND', `instance ${JSON.stringify(req.params.id)} not found`);
      let screen = await org.screen(inst);
      if (!screen) throw new TmuxClaudeError('CONFLICT', `${inst.id} is ${inst.state}; its terminal is gone`);
      const stream = openEventStream(req, res);
      let last = '';
      while (!stream.closed()) {
        screen ??= await org.screen(inst).catch(() => null);
        if (!screen) {
          stream.send('end', { reason: `the terminal of ${inst.id} is gone` });
          break;
        }
        const key = JSON.stringify(screen);
        if (key !== last) stream.send('screen', screen);
        last = key;
        screen = null;
        await new Promise((r) => setTimeout(r, TERMINAL_POLL_MS));
      }
      res.end();
    }),
  );

  // Typing from the dashboard's terminal (its interactive switch): raw keystrokes, recorded in the audit trail.
  api.post(
    '/instances/:id/input',
    wrap(async (req) => {
      const { data } = parseBody(InputBody, req.body);
      const inst = await org.deps.store.instances.get(String(req.params.id));
      if (!inst)
        throw new TmuxClaudeError('NOT_FOUND', `instance ${JSON.stringify(req.params.id)} not found`);
      if (!isLive(inst.state))
        throw new TmuxClaudeError('CONFLICT', `${inst.id} is ${inst.state}; it takes no input`);
      await org.typeInto(inst, data);
      await org.emit({
        kind: 'dashboard.input',
        actor: 'dashboard',
        instanceId: inst.id,
        data: { bytes: Buffer.byteLength(data), text: data.slice(0, 1000) },
      });
      return { ok: true, bytes: Buffer.byteLength(data) };
    }),
  );

  api.post(
    '/tasks/:id/reassign',
    wrap(async (req) => {
      const { to } = parseBody(ReassignBody, req.body ?? {});
      return taskView(await org.reassignTask(String(req.params.id), to ?? null, 'user'));
    }),
  );

  return api;
}

/**
 * The dashboard page: `/?token=ADMIN` (the link `tmux-claude dash` prints) sets the login cookie and
 * redirects to `/`; the page and its assets are served only with that cookie.
 */
export function dashboardPage(adminToken: string): express.Router {
  const page = express.Router();
  const dir = dashboardAssetsDir();
  page.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy':
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    next();
  });
  page.get('/', (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (token) {
      if (!sameToken(token, adminToken)) {
        res
          .status(401)
          .type('text/plain')
          .send('Wrong or outdated token. Run `tmux-claude dash` for a fresh link.\n');
        return;
      }
      res.cookie(cookieName(req), token, { httpOnly: true, sameSite: 'strict', path: '/' });
      res.redirect(303, '/');
      return;
    }
    if (adminVia(req, adminToken) !== 'cookie') {
      res
        .status(401)
        .type('text/plain')
        .send('Open the link `tmux-claude dash` prints to sign in to the dashboard.\n');
      return;
    }
    if (!dir) {
      res.status(503).type('text/plain').send('The dashboard is not built: run `npm run build`.\n');
      return;
    }
    res.set('Cache-Control', 'no-store').sendFile(join(dir, 'index.html'));
  });
  page.use('/assets', (req, res, next) => {
    if (adminVia(req, adminToken) !== 'cookie') res.status(401).type('text/plain').send('sign in first\n');
    else next();
  });
  if (dir)
    page.use('/assets', express.static(join(dir, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  return page;
}
