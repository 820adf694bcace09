import { loadApnsWorkerEnv, loadConfigOrExit, loadPushApps, readConfigFile, redisConnection } from '@pushfleet/config';
import { ApnsTransport, createDeliveryMetrics, fleetProviderTokens, registerApnsCredentialMetrics, runWorkerProcess } from '@pushfleet/delivery';
import { createLogger, createMetricsRegistry } from '@pushfleet/observability';

async function main(): Promise<void> {
  const { env, apps, ca } = loadConfigOrExit('worker-apns', () => {
    const env = loadApnsWorkerEnv(process.env);
    return { env, apps: loadPushApps(env.PUSH_APPS_FILE, process.env), ca: env.APNS_CA_FILE ? readConfigFile('APNS_CA_FILE', env.APNS_CA_FILE) : undefined };
  });
  const logger = createLogger('worker-apns', env.LOG_LEVEL);
  const metricsRegistry = createMetricsRegistry('worker-apns');
  const metrics = createDeliveryMetrics(metricsRegistry);

  registerApnsCredentialMetrics(metricsRegistry, apps.apns.values());

  // One provider token per team for the whole fleet, kept in Redis (docs/redis-keys.md).
  const providerTokens = fleetProviderTokens({ redis: redisConnection(env), prefix: env.PUSHFLEET_PREFIX, logger });
  const transport = loadConfigOrExit('worker-apns', () => new ApnsTransport({
    apps: apps.apns,
    productionUrl: env.APNS_PRODUCTION_URL,
    sandboxUrl: env.APNS_SANDBOX_URL,
    ca,
    connectionsPerEndpoint: env.APNS_CONNECTIONS,
    maxInflightPerConnection: env.APNS_MAX_INFLIGHT,
    requestTimeoutMs: env.APNS_REQUEST_TIMEOUT_MS,
    metrics,
    providerTokens,
  }));
  await runWorkerProcess({
    system: 'apns',
    env,
    concurrency: env.APNS_CONCURRENCY,
    maxAttempts: env.APNS_MAX_ATTEMPTS,
    logger,
    metricsRegistry,
    metrics,
    transport,
  });
}

main().catch((e) => {
  process.stderr.write(`pushfleet worker-apns: ${(e as Error).message}\n`);
  process.exit(1);
});
