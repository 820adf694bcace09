import express, { Express } from 'express';
import type { Redis } from 'ioredis';
import { Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { TokenRegistry, RateLimiter } from '@pushfleet/registry';
import type { Producer } from '@pushfleet/producer';
import { pushRoutes } from './push-routes';
import { internalEventsRouter } from './internal-events';
import { errorHandler, sendError } from './http';
import type { UserAuthenticator } from './auth';

export interface ApiDeps {
  redis: Redis;
  registry: TokenRegistry;
  rateLimiter: RateLimiter;
  authenticate: UserAuthenticator;
  producer: Producer;
  internalTokens: string[];
  knownApplicationIds: ReadonlySet<string>;
  gcmSenderId: string;
  metrics: Registry;
  logger: Logger;
  /** Extra routers mounted before the 404 handler (e.g. the admin UI). */
  extraRouters?: express.Router[];
}

export function createApiApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

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

  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }); });
  app.get('/readyz', async (_req, res) => {
    try {
      await deps.redis.ping();
      res.json({ status: 'ok' });
    } catch {
      sendError(res, 503, 'unavailable');
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('content-type', deps.metrics.contentType);
    res.send(await deps.metrics.metrics());
  });

  app.use(pushRoutes(deps));
  app.use(internalEventsRouter({ producer: deps.producer, internalTokens: deps.internalTokens, logger: deps.logger }));
  for (const r of deps.extraRouters ?? []) app.use(r);

  app.use((_req, res) => sendError(res, 404, 'not-found'));
  app.use(errorHandler(deps.logger));
  return app;
}
