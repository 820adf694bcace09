import { Queue } from 'bullmq';
import { loadApiEnv, loadConfigOrExit, loadPushApps, noPushApps, redisConnection, trustProxySetting } from '@pushfleet/config';
import { TokenRegistry } from '@pushfleet/registry';
import { createProducer } from '@pushfleet/producer';
import { checkRedis, createLogger, createMetricsRegistry, createRedisClient, partitionedNamedQueues, queueDisplayName, registerQueueMetrics, startOpsServer, stopOnSignal } from '@pushfleet/observability';
import { apiProbe, createApiApp } from './app';
import { createUserAuthenticator } from './auth';
import { apiRedisOptions } from './redis-options';

async function main(): Promise<void> {
  const { env, apps, conn } = loadConfigOrExit('api', () => {
    const env = loadApiEnv(process.env);
    return { env, conn: redisConnection(env), apps: env.PUSH_APPS_FILE ? loadPushApps(env.PUSH_APPS_FILE, process.env) : noPushApps() };
  });
  const logger = createLogger('api', env.LOG_LEVEL);
  if (!env.PUSH_APPS_FILE) logger.warn('PUSH_APPS_FILE is not set: no APNs app is known, every APNs registration answers unknown-appid');
  if (env.AUTH_ALLOW_ANY_ISSUER_AUDIENCE) logger.warn('AUTH_ALLOW_ANY_ISSUER_AUDIENCE=true: user JWTs of any issuer and audience are accepted (development only)');
  if (env.INTERNAL_API_TOKENS.length === 0) logger.warn('INTERNAL_API_TOKENS is empty: POST /internal/events answers 401 to everyone');

  const metrics = createMetricsRegistry('api');
  const redis = createRedisClient(conn, apiRedisOptions());
  redis.on('error', (e) => logger.debug({ err: e.message }, 'redis connection error'));
  try {
    await redis.connect();
    await checkRedis(redis, logger, metrics);
  } catch (e) {
    logger.fatal({ err: (e as Error).message }, 'cannot use Redis at start-up');
    process.exit(1);
  }

  const registry = new TokenRegistry(redis, { prefix: env.PUSHFLEET_PREFIX, maxTokensPerUser: env.MAX_TOKENS_PER_USER, ...conn.registry });
  // Queue depth and oldest-job age are exported here, once, not by every worker scanning Redis.
  const partitions = conn.queues.count;
  const queues = partitionedNamedQueues(partitions, (name) => new Queue(name, { connection: redis, prefix: env.PUSHFLEET_PREFIX }));
  for (const { queue } of queues) queue.on('error', (e) => logger.debug({ err: e.message }, 'queue connection error'));
  registerQueueMetrics(metrics, queues);
  const producer = createProducer({ connection: redis, prefix: env.PUSHFLEET_PREFIX, metrics, dedupeTtlMs: env.DEDUPE_TTL, partitions });
  const app = createApiApp({
    redis,
    prefix: env.PUSHFLEET_PREFIX,
    registry,
    authenticate: createUserAuthenticator({
      secret: env.AUTH_JWT_SECRET, jwksUrl: env.AUTH_JWKS_URL, issuer: env.AUTH_JWT_ISSUER, audience: env.AUTH_JWT_AUDIENCE,
      allowAnyIssuerAudience: env.AUTH_ALLOW_ANY_ISSUER_AUDIENCE, maxTokenAgeSeconds: env.AUTH_MAX_TOKEN_AGE_SECONDS,
    }),
    producer,
    internalTokens: env.INTERNAL_API_TOKENS,
    knownApplicationIds: new Set(apps.apns.keys()),
    gcmSenderId: env.GCM_SENDER_ID,
    metrics,
    logger,
    limits: { userPerMinute: env.RATE_LIMIT_PER_MINUTE, authFailuresPerMinute: env.AUTH_FAILURES_PER_MINUTE, tokenMovesPerHour: env.TOKEN_MOVES_PER_HOUR },
    trustProxy: trustProxySetting(env.TRUST_PROXY),
    admin: { queues: queues.map((q) => ({ name: queueDisplayName(q, partitions), queue: q.queue })), adminTokens: env.ADMIN_TOKENS },
  });
  // /metrics and /readyz on their own listener, off the public port.
  const ops = await startOpsServer({ port: env.OPS_PORT, host: env.OPS_HOST, registry: metrics, probe: apiProbe(redis) });
  const server = app.listen(env.PORT, env.HOST, () => {
    logger.info({ port: env.PORT, host: env.HOST, opsPort: ops.port, opsHost: env.OPS_HOST, apnsApps: apps.apns.size }, 'api listening');
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;

  stopOnSignal(async (signal) => {
    logger.info({ signal }, 'shutting down');
    void ops.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    // BullMQ waits for a reconnecting client; never let a dead Redis hold the shutdown.
    await Promise.race([
      Promise.all([producer.close(), ...queues.map((q) => q.queue.close())]).catch(() => undefined),
      new Promise((r) => setTimeout(r, 3000).unref()),
    ]);
    await redis.quit().catch(() => undefined);
  }, 10_000);
}

void main();
