import { createHash, timingSafeEqual } from 'node:crypto';
import { Request, RequestHandler, Response, Router } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { replayDeadLettered } from '@pushfleet/producer';
import { sendError } from './http';
import { redactJobData, redactJobName } from './admin-redact';
import type { AuthFailures } from './limits';

export { redactJobData } from './admin-redact';

export const ADMIN_BASE_PATH = '/admin';
export const ADMIN_QUEUES_PATH = `${ADMIN_BASE_PATH}/queues`;
const REALM = 'Basic realm="pushfleet admin"';

export interface AdminRouterOptions {
  /** The queues the dashboard shows; `name` is its display name (e.g. `apns`). */
  queues: { name: string; queue: Queue }[];
  /** ADMIN_TOKENS. Empty: the admin UI is off and /admin/* answers 404. */
  adminTokens: string[];
  logger: Logger;
  /** Counts wrong admin tokens per address (429 past AUTH_FAILURES_PER_MINUTE) and logs them sampled. */
  authFailures: AuthFailures;
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

function requireAdmin(tokens: readonly string[], failures: AuthFailures): RequestHandler {
  const matches = adminTokenMatcher(tokens);
  return (req: Request, res: Response, next) => {
    const secret = presentedAdminSecret(req.headers.authorization);
    if (secret !== undefined && secret.length > 0 && matches(secret)) return next();
    // A browser's first request carries no credentials (it asks after our 401): not a failure.
    if (secret !== undefined) failures.failed(req, 'admin', 'wrong admin token');
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

/**
 * What the dashboard may do besides reading: Retry of dead-lettered jobs (as a replay, below), and
 * pausing / resuming queues. Everything else that changes something (adding, editing, removing, cleaning,
 * promoting, emptying, obliterating jobs or queues; rate limits, concurrency, schedulers) is refused with
 * 403 `forbidden`, also when the request is crafted by hand. Reads are allowed except job logs and flows,
 * which bypass the data redaction.
 */
const ALLOWED_CHANGES = [/^\/api\/queues\/(pause|resume)$/, /^\/api\/queues\/[^/]+\/(pause|resume)$/];
const REFUSED_READS = [/^\/api\/queues\/[^/]+\/[^/]+\/(logs|flow)$/];

function allowList(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (read ? !REFUSED_READS.some((r) => r.test(req.path)) : ALLOWED_CHANGES.some((r) => r.test(req.path))) return next();
    logger.warn({ path: req.path.split('/').slice(0, 4).join('/'), method: req.method }, 'admin: action refused (read-only dashboard)');
    sendError(res, 403, 'forbidden');
  };
}

/**
 * The dashboard's Retry buttons, as a replay (`replayDeadLettered`): each event's retry state is cleared
 * so the worker really sends again (BullMQ's plain retry would dead-letter it again at once). Only the
 * dead-letter (failed) set: retrying completed jobs would send delivered events twice, so it is refused.
 */
function replayRoutes(queues: AdminRouterOptions['queues'], logger: Logger): Router {
  const router = Router();
  const queueOf = (name: string) => queues.find((q) => q.queue.name === name)?.queue;
  router.put('/api/queues/:queueName/retry/:status', async (req, res, next) => {
    const queue = queueOf(req.params.queueName);
    if (!queue) return sendError(res, 404, 'not-found');
    if (req.params.status !== 'failed') return sendError(res, 403, 'forbidden');
    try {
      const ids = await queue.getRanges(['failed'], 0, -1, true);
      let retried = 0;
      for (const id of ids) {
        const job = await queue.getJob(id);
        if (!job) continue;
        await replayDeadLettered(job);
        retried++;
      }
      logger.info({ queue: queue.name, jobs: retried }, 'admin: dead-letter set replayed');
      res.json({ retried, skipped: ids.length - retried });
    } catch (e) { next(e); }
  });
  router.put('/api/queues/:queueName/:jobId/retry', async (req, res, next) => {
    const queue = queueOf(req.params.queueName);
    const job = queue && await queue.getJob(req.params.jobId).catch(() => undefined);
    if (!queue || !job) return sendError(res, 404, 'not-found');
    try {
      if ((await job.getState()) !== 'failed') return sendError(res, 403, 'forbidden');
      await replayDeadLettered(job);
      logger.info({ queue: queue.name, job: job.id }, 'admin: dead-lettered job replayed');
      res.status(204).end();
    } catch (e) { next(e); }
  });
  return router;
}

/**
 * The operator dashboard (bull-board) at /admin/queues, for the APNs and GCM queues: counts, jobs by
 * state, failed (dead-letter) jobs with their reasons, replay, pause/resume. Never anonymous: every
 * /admin request needs an admin token (Bearer, or Basic with the token as password), else 401
 * `{"status":"unauthorized"}`. Without admin tokens configured the dashboard is off and /admin/* answers
 * 404. Changes (PUT/POST/PATCH/DELETE) from another origin are refused with 403, since a browser sends the
 * Basic credentials by itself. Job data is shown through an allow-list (admin-redact.ts): ids, event
 * type, owner, retry state, tokens as short references; never message text, names or phone numbers.
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
    const adapter = new BullMQAdapter(queue, { displayName: name, readOnlyMode: false, allowRetries: true });
    adapter.setFormatter('data', redactJobData);
    adapter.setFormatter('name', redactJobName);
    adapter.setFormatter('returnValue', () => undefined);
    adapter.setFormatter('progress', (p: unknown) => (typeof p === 'number' ? p : undefined));
    return adapter;
  });
  createBullBoard({ queues: adapters, serverAdapter, options: { uiConfig: { boardTitle: 'pushfleet' } } });

  router.use(ADMIN_BASE_PATH, opts.authFailures.guard(), requireAdmin(opts.adminTokens, opts.authFailures), sameOriginChanges(opts.logger));
  router.use(ADMIN_QUEUES_PATH, replayRoutes(opts.queues, opts.logger), allowList(opts.logger), serverAdapter.getRouter());
  router.use(ADMIN_BASE_PATH, (_req, res) => sendError(res, 404, 'not-found'));
  return router;
}
