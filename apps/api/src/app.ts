import express, { Express } from 'express';
import type { Cluster, Redis } from 'ioredis';
import { Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Queue } from 'bullmq';
import type { TokenRegistry } from '@pushfleet/registry';
import type { Producer } from '@pushfleet/producer';
import type { Probe } from '@pushfleet/observability';
import { pushRoutes } from './push-routes';
import { internalEventsRouter } from './internal-events';
import { adminRouter } from './admin';
import { errorHandler, sendError } from './http';
import { createAuthFailures, SlidingWindowLimiter } from './limits';
import type { UserAuthenticator } from './auth';

/** The abuse limits (README "Configuration"); 0 turns one off. */
export interface ApiLimits {
  /** RATE_LIMIT_PER_MINUTE: requests per user per minute on every user route. */
  userPerMinute: number;
  /** AUTH_FAILURES_PER_MINUTE: failed authentications per client address per minute. */
  authFailuresPerMinute: number;
  /** TOKEN_MOVES_PER_HOUR: tokens a user may take over from other users per hour. */
  tokenMovesPerHour: number;
}

export interface ApiDeps {
  redis: Redis | Cluster;
  /** PUSHFLEET_PREFIX, for the limiters' keys. */
  prefix: string;
  registry: TokenRegistry;
  authenticate: UserAuthenticator;
  producer: Producer;
  internalTokens: string[];
  knownApplicationIds: ReadonlySet<string>;
  gcmSenderId: string;
  metrics: Registry;
  logger: Logger;
  limits: ApiLimits;
  /** Express `trust proxy` (TRUST_PROXY): whose X-Forwarded-For gives the client address. Default false. */
  trustProxy?: boolean | number | string[];
  /** The admin dashboard's queues and ADMIN_TOKENS (none: /admin/* answers 404). */
  admin?: { queues: { name: string; queue: Queue }[]; adminTokens: string[] };
}

/**
 * The public listener (PORT): /api/push, /internal/events, /admin/queues and /healthz. /metrics and
 * /readyz are on the ops listener (see `apiProbe`, OPS_PORT), never here.
 */
export function createApiApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETag: every answer is a fresh JSON result nobody revalidates; hashing each body cost 2-4 % of the
  // API's CPU on one-event requests (docs/benchmarks.md).
  app.set('etag', false);
  app.set('trust proxy', deps.trustProxy ?? false);

  const duration = new Histogram({
    name: 'pushfleet_http_request_duration_seconds',
    help: 'API request duration by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [deps.metrics],
  });
  app.use((req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      // Route labels come from a closed set: the matched route pattern, or "unmatched".
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      end({ route, method: req.method, status: String(res.statusCode) });
    });
    next();
  });

  const limiter = (name: string, limit: number, windowMs: number) => new SlidingWindowLimiter(deps.redis, { prefix: deps.prefix, name, limit, windowMs });
  const authFailures = createAuthFailures(deps.redis, deps.prefix, deps.limits.authFailuresPerMinute, deps.logger);

  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }); });
  app.use(pushRoutes({
    ...deps,
    authFailures,
    userLimiter: limiter('user', deps.limits.userPerMinute, 60_000),
    moveLimiter: limiter('moves', deps.limits.tokenMovesPerHour, 3_600_000),
  }));
  app.use(internalEventsRouter({ producer: deps.producer, internalTokens: deps.internalTokens, logger: deps.logger, authFailures }));
  app.use(adminRouter({ queues: deps.admin?.queues ?? [], adminTokens: deps.admin?.adminTokens ?? [], logger: deps.logger, authFailures }));

  app.use((_req, res) => sendError(res, 404, 'not-found'));
  app.use(errorHandler(deps.logger));
  return app;
}

/** /readyz of the ops listener: Redis answers PING. */
export function apiProbe(redis: Redis | Cluster): Probe {
  return { ready: () => redis.ping().then(() => true, () => false) };
}
