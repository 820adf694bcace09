import fs from 'node:fs';
import { Gauge } from 'prom-client';
import { ConfigError, loadApnsWorkerEnv, loadPushApps } from '@pushfleet/config';
import { ApnsTransport, certificateDaysLeft, createDeliveryMetrics, runWorkerProcess } from '@pushfleet/delivery';
import { createLogger, createMetricsRegistry } from '@pushfleet/observability';

async function main(): Promise<void> {
  let env;
  let apps;
  try {
    env = loadApnsWorkerEnv(process.env);
    apps = loadPushApps(env.PUSH_APPS_FILE, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`pushfleet worker-apns: ${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
  const logger = createLogger('worker-apns', env.LOG_LEVEL);
  const registry = createMetricsRegistry('worker-apns');
  const metrics = createDeliveryMetrics(registry);

  // Credential health: p8 keys loaded, certificate days to expiry.
  const keyLoaded = new Gauge({ name: 'pushfleet_apns_key_loaded', help: '1 when the app\'s APNs p8 key loaded', labelNames: ['app'] as const, registers: [registry] });
  const certDays = new Gauge({ name: 'pushfleet_apns_certificate_expiry_days', help: 'Days until the app\'s APNs client certificate expires', labelNames: ['app'] as const, registers: [registry] });
  for (const app of apps.apns.values()) {
    if (app.credentials.kind === 'token') keyLoaded.set({ app: app.applicationId }, app.credentials.keyPem.includes('PRIVATE KEY') ? 1 : 0);
    else certDays.set({ app: app.applicationId }, certificateDaysLeft(app.credentials.certPem));
  }

  const transport = new ApnsTransport({
    apps: apps.apns,
    productionUrl: env.APNS_PRODUCTION_URL,
    sandboxUrl: env.APNS_SANDBOX_URL,
    ca: env.APNS_CA_FILE ? fs.readFileSync(env.APNS_CA_FILE, 'utf8') : undefined,
    connectionsPerEndpoint: env.APNS_CONNECTIONS,
    maxInflightPerConnection: env.APNS_MAX_INFLIGHT,
    requestTimeoutMs: env.APNS_REQUEST_TIMEOUT_MS,
    metrics,
  });
  await runWorkerProcess({
    system: 'apns',
    redisUrl: env.REDIS_URL,
    prefix: env.PUSHFLEET_PREFIX,
    lockDurationMs: env.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
    metricsPort: env.METRICS_PORT,
    metricsHost: env.METRICS_HOST,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    concurrency: env.APNS_CONCURRENCY,
    retry: { maxAttempts: env.APNS_MAX_ATTEMPTS, baseDelayMs: env.RETRY_BASE_DELAY_MS, maxDelayMs: env.RETRY_MAX_DELAY_MS },
    circuit: { threshold: env.CIRCUIT_THRESHOLD, cooldownMs: env.CIRCUIT_COOLDOWN_MS },
    eventPolicies: env.EVENT_POLICIES,
    logger,
    registry,
    metrics,
    transport,
    loadEntries: (tokens, owner) => tokens.apnsEntries(owner),
  });
}

main().catch((e) => {
  process.stderr.write(`pushfleet worker-apns: ${(e as Error).message}\n`);
  process.exit(1);
});
