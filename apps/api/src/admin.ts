import { createHash, timingSafeEqual } from 'node:crypto';
import { Request, RequestHandler, Response, Router } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { tokenRef } from '@pushfleet/observability';
import { sendError } from './http';

export const ADMIN_BASE_PATH = '/admin';
export const ADMIN_QUEUES_PATH = `${ADMIN_BASE_PATH}/queues`;
const REALM = 'Basic realm="pushfleet admin"';

export interface AdminRouterOptions {
  /** The queues the dashboard shows; `name` is its display name (e.g. `apns`). */
  queues: { name: string; queue: Queue }[];
  /** ADMIN_TOKENS. Empty: the admin UI is off and /admin/* answers 404. */
  adminTokens: string[];
  logger: Logger;
  /** Hide every action (retry, clean, promote, pause, empty, obliterate) in the dashboard. Default false. */
  readOnly?: boolean;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks a presented secret against every admin token in constant time: both sides are hashed to 32 bytes
 * first (so their lengths never leak), and every token is compared, match or not.
 */
export function adminTokenMatcher(tokens: readonly string[]): (presented: string) => boolean {
  const digests = tokens.map(digest);
  return (presented) => {
    const d = digest(presented);
    let ok = false;
    for (const t of digests) ok = timingSafeEqual(d, t) || ok;
    return ok;
  };
}

/**
 * The admin secret from `Authorization: Bearer <token>`, or from HTTP Basic with any user name and the
 * token as password (so a browser can open the dashboard: it shows its login prompt on our 401).
 */
export function presentedAdminSecret(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return undefined;
  if (m[1].toLowerCase() === 'bearer') return m[2];
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

function requireAdmin(tokens: readonly string[], logger: Logger): RequestHandler {
  const matches = adminTokenMatcher(tokens);
  return (req: Request, res: Response, next) => {
    const secret = presentedAdminSecret(req.headers.authorization);
    if (secret !== undefined && secret.length > 0 && matches(secret)) return next();
    if (secret !== undefined) logger.warn({ path: req.originalUrl.split('?')[0], ip: req.ip }, 'admin: wrong admin token');
    res.setHeader('WWW-Authenticate', REALM);
    res.setHeader('Cache-Control', 'no-store');
    sendError(res, 401, 'unauthorized');
  };
}

/**
 * A browser that has the Basic credentials attaches them to any request to this origin, also one a
 * foreign page makes it send (a cross-site form POST). Changes must come from the dashboard itself.
 */
function sameOriginChanges(logger: Logger): RequestHandler {
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    let foreign = site !== undefined && site !== 'same-origin' && site !== 'none';
    if (origin !== undefined) {
      try {
        foreign ||= new URL(origin).host !== req.headers.host;
      } catch {
        foreign = true;
      }
    }
    if (!foreign) return next();
    logger.warn({ path: req.originalUrl.split('?')[0], method: req.method }, 'admin: cross-site change refused');
    sendError(res, 403, 'forbidden');
  };
}

/** The event as the dashboard shows it: no message text and no full device token (see conventions). */
export function redactJobData(data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  const d = data as { event?: Record<string, unknown>; tokens?: unknown };
  const out: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  if (d.event && typeof d.event === 'object') {
    const event = { ...d.event };
    if (typeof event.text === 'string') event.text = `[${Buffer.byteLength(event.text, 'utf8')} bytes redacted]`;
    out.event = event;
  }
  if (Array.isArray(d.tokens)) out.tokens = d.tokens.map((t) => (typeof t === 'string' ? tokenRef(t) : t));
  return out;
}

/**
 * The operator dashboard (bull-board) at /admin/queues, for the APNs and GCM queues: counts, jobs by
 * state, failed (dead-letter) jobs with their reasons, retry/clean. Never anonymous: every /admin request
 * needs an admin token (Bearer, or Basic with the token as password), else 401 `{"status":"unauthorized"}`.
 * Without admin tokens configured the dashboard is off and /admin/* answers 404. Changes (PUT/POST/DELETE)
 * from another origin are refused with 403, since a browser sends the Basic credentials by itself.
 *
 * A retry from the dashboard is BullMQ's plain retry: the job keeps the worker's attempt counter, so it
 * gets one more send. `npm run cli -- dead-letter replay` resets the counter for a full retry budget.
 */
export function adminRouter(opts: AdminRouterOptions): Router {
  const router = Router();
  if (opts.adminTokens.length === 0) {
    router.use(ADMIN_BASE_PATH, (_req, res) => sendError(res, 404, 'not-found'));
    return router;
  }

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  const adapters = opts.queues.map(({ name, queue }) => {
    const adapter = new BullMQAdapter(queue, { displayName: name, readOnlyMode: opts.readOnly ?? false, allowRetries: true });
    adapter.setFormatter('data', redactJobData);
    return adapter;
  });
  createBullBoard({ queues: adapters, serverAdapter, options: { uiConfig: { boardTitle: 'pushfleet' } } });

  router.use(ADMIN_BASE_PATH, requireAdmin(opts.adminTokens, opts.logger), sameOriginChanges(opts.logger));
  router.use(ADMIN_QUEUES_PATH, serverAdapter.getRouter());
  router.use(ADMIN_BASE_PATH, (_req, res) => sendError(res, 404, 'not-found'));
  return router;
}
