import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CommonWorkerEnv, redisConnection, RedisConnection } from '@pushfleet/config';
import type { PushSystem } from '@pushfleet/events';
import { DeviceOf, TokenRegistry } from '@pushfleet/registry';
import { checkRedis, createRedisClient, RedisClient, startOpsServer, stopOnSignal } from '@pushfleet/observability';
import { PartitionWorkers, PartitionWorkersOptions } from './partition-workers';
import type { DeliveryMetrics } from './metrics';
import type { PushTransport } from './transport';

export interface WorkerProcessOptions<S extends PushSystem> {
  system: S;
  /** Redis, metrics port, shutdown, retry, circuit and event-policy settings, as parsed from the env. */
  env: CommonWorkerEnv;
  concurrency: number;
  maxAttempts: number;
  logger: Logger;
  /** The Prometheus registry /metrics serves. */
  metricsRegistry: Registry;
  metrics: DeliveryMetrics;
  transport: PushTransport<DeviceOf<S>>;
}

/**
 * Runs one delivery worker process: Redis checks, the BullMQ worker, /metrics + /healthz + /readyz, and a
 * bounded shutdown on SIGTERM/SIGINT (stop fetching, finish or hand back in-flight jobs, close the
 * provider connections, close Redis last).
 */
export async function runWorkerProcess<S extends PushSystem>(o: WorkerProcessOptions<S>): Promise<{ stop(): Promise<void> }> {
  const { logger, env } = o;
  // Workers wait for Redis forever (BullMQ needs maxRetriesPerRequest: null) and reconnect by themselves.
  const conn = redisConnection(env);
  const options = { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(n * 200, 2000) };
  // BullMQ's connection without auto-pipelining: ioredis builds a Pipeline per tick for it and copies
  // every script defined on the connection (BullMQ's ~50) onto each one; with one job per event that
  // copying was 10-13 % of a worker's CPU. A no-op BullMQ worker at 100 jobs/s here: 2.4-2.8 -> 1.7 ms
  // CPU per job without it, unchanged under full load (docs/benchmarks.md, "Before and after"). Measured
  // on a single Redis only: a cluster client keeps auto-pipelining, the setting its failover tests ran with.
  const redis = createRedisClient(conn, { ...options, enableAutoPipelining: conn.kind !== 'standalone' });
  redis.on('error', (e) => logger.debug({ err: e.message }, 'redis connection error'));
  await checkRedis(redis, logger, o.metricsRegistry);
  // The registry reads go on a connection of their own, auto-pipelined (one write per tick for the reads
  // of many concurrent jobs; a cluster batches its per-user HGETs per node), with none of BullMQ's scripts
  // to copy onto each pipeline.
  const registryRedis = createRedisClient(conn, { ...options, enableAutoPipelining: true });
  registryRedis.on('error', (e) => logger.debug({ err: e.message }, 'redis connection error'));
  const tokens = new TokenRegistry(registryRedis, { prefix: env.PUSHFLEET_PREFIX, ...conn.registry, prunedRetentionSeconds: env.PRUNED_RETENTION_SECONDS });
  // One BullMQ worker per consumed queue partition, watched by the stuck-worker detector.
  const worker = new PartitionWorkers<S>(partitionWorkerOptions(o, conn, redis, tokens));
  const ops = await startOpsServer({
    port: env.METRICS_PORT,
    host: env.METRICS_HOST,
    registry: o.metricsRegistry,
    probe: { ready: async () => (await redis.ping()) === 'PONG' && worker.isRunning() },
  });
  logger.info({ system: o.system, concurrency: o.concurrency, partitions: conn.queues.consumed.length, metricsPort: ops.port }, 'worker started');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ system: o.system }, 'shutting down: no new jobs, finishing in-flight ones');
      await worker.close(env.SHUTDOWN_TIMEOUT_MS);
      await o.transport.close().catch(() => undefined);
      await ops.close();
      // Redis last, and never waiting on a Redis that is gone.
      await Promise.race([Promise.all([redis.quit(), registryRedis.quit()]).catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
      redis.disconnect();
      registryRedis.disconnect();
      logger.info({ system: o.system }, 'stopped');
    })();
    return stopping;
  };
  // The worker's own close is bounded by SHUTDOWN_TIMEOUT_MS; the rest (provider connections, Redis) gets a few seconds more.
  stopOnSignal(stop, env.SHUTDOWN_TIMEOUT_MS + 5000);
  return { stop };
}

/** Every setting of a process's partition workers, from its environment. */
function partitionWorkerOptions<S extends PushSystem>(o: WorkerProcessOptions<S>, conn: RedisConnection, redis: RedisClient, tokens: TokenRegistry): PartitionWorkersOptions<S> {
  const { env, logger } = o;
  return {
    partitionCount: conn.queues.count,
    partitions: conn.queues.consumed,
    probe: { stuckAfterMs: env.WORKER_STUCK_AFTER_MS, intervalMs: env.WORKER_PROBE_INTERVAL_MS },
    closeTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    system: o.system,
    connection: redis,
    prefix: env.PUSHFLEET_PREFIX,
    lockDurationMs: env.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
    tokens,
    transport: o.transport,
    policies: env.EVENT_POLICIES,
    retry: { maxAttempts: o.maxAttempts, baseDelayMs: env.RETRY_BASE_DELAY_MS, maxDelayMs: env.RETRY_MAX_DELAY_MS },
    concurrency: o.concurrency,
    circuit: { threshold: env.CIRCUIT_THRESHOLD, cooldownMs: env.CIRCUIT_COOLDOWN_MS },
    pruneGuard: { maxShare: env.PRUNE_GUARD_MAX_SHARE, minAnswers: env.PRUNE_GUARD_MIN_ANSWERS, windowMs: env.PRUNE_GUARD_WINDOW_MS },
    metrics: o.metrics,
    logger,
  };
}
