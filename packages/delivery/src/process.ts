import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Policies, PushSystem, resolvePolicies, policyOverridesSchema } from '@pushfleet/events';
import { TokenRegistry } from '@pushfleet/registry';
import { checkRedis, startOpsServer } from '@pushfleet/observability';
import { DeliveryWorker, RetryPolicy } from './worker';
import type { DeliveryMetrics } from './metrics';
import type { PushTransport } from './transport';

export interface WorkerProcessOptions<Entry> {
  system: PushSystem;
  redisUrl: string;
  prefix: string;
  lockDurationMs: number;
  stalledIntervalMs: number;
  metricsPort: number;
  metricsHost: string;
  shutdownTimeoutMs: number;
  concurrency: number;
  retry: RetryPolicy;
  circuit: { threshold: number; cooldownMs: number };
  eventPolicies?: unknown;
  logger: Logger;
  registry: Registry;
  metrics: DeliveryMetrics;
  transport: PushTransport<Entry>;
  loadEntries: (registry: TokenRegistry, owner: string) => Promise<Entry[]>;
}

export function parsePolicies(raw: unknown): Policies {
  return resolvePolicies(raw === undefined ? {} : policyOverridesSchema.parse(raw));
}

/**
 * Runs one delivery worker process: Redis checks, the BullMQ worker, /metrics + /healthz + /readyz, and a
 * bounded shutdown on SIGTERM/SIGINT (stop fetching, finish or hand back in-flight jobs, close the
 * provider connections, close Redis last).
 */
export async function runWorkerProcess<Entry>(o: WorkerProcessOptions<Entry>): Promise<{ stop(): Promise<void> }> {
  const { logger } = o;
  const policies = parsePolicies(o.eventPolicies);
  // Workers wait for Redis forever (BullMQ needs maxRetriesPerRequest: null) and reconnect by themselves.
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true, retryStrategy: (n) => Math.min(n * 200, 2000) });
  redis.on('error', (e) => logger.debug({ err: e.message }, 'redis connection error'));
  await checkRedis(redis, logger, o.registry);
  const tokens = new TokenRegistry(redis, { prefix: o.prefix });
  const worker = new DeliveryWorker<Entry>({
    system: o.system,
    connection: redis,
    prefix: o.prefix,
    lockDurationMs: o.lockDurationMs,
    stalledIntervalMs: o.stalledIntervalMs,
    registry: tokens,
    loadEntries: (owner) => o.loadEntries(tokens, owner),
    transport: o.transport,
    policies,
    retry: o.retry,
    concurrency: o.concurrency,
    circuit: o.circuit,
    metrics: o.metrics,
    logger,
  });
  const ops = await startOpsServer({
    port: o.metricsPort,
    host: o.metricsHost,
    registry: o.registry,
    probe: { ready: async () => (await redis.ping()) === 'PONG' && worker.worker.isRunning() },
  });
  logger.info({ system: o.system, concurrency: o.concurrency, metricsPort: ops.port }, 'worker started');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ system: o.system }, 'shutting down: no new jobs, finishing in-flight ones');
      await worker.close(o.shutdownTimeoutMs);
      await o.transport.close().catch(() => undefined);
      await ops.close();
      await redis.quit().catch(() => redis.disconnect());
      logger.info({ system: o.system }, 'stopped');
    })();
    return stopping;
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      stop().then(() => process.exit(0), () => process.exit(1));
    });
  }
  return { stop };
}
