import type { Logger } from 'pino';
import { ConfigError, GcmWorkerEnv, loadConfigOrExit, loadGcmWorkerEnv, readConfigFile } from '@pushfleet/config';
import {
  createDeliveryMetrics, DeliveryMetrics, FcmAuth, FcmV1Transport, GcmLegacyTransport, loadServiceAccount, PushTransport, runWorkerProcess,
} from '@pushfleet/delivery';
import { createLogger, createMetricsRegistry } from '@pushfleet/observability';
import type { GcmDevice } from '@pushfleet/registry';

/** GCM_TRANSPORT picks the provider API: legacy HTTP through node-gcm, or FCM HTTP v1 (production). */
function createTransport(env: GcmWorkerEnv, metrics: DeliveryMetrics, logger: Logger): PushTransport<GcmDevice> {
  const ca = env.GCM_CA_FILE ? readConfigFile('GCM_CA_FILE', env.GCM_CA_FILE) : undefined;
  if (env.GCM_TRANSPORT === 'legacy') {
    logger.warn({ system: 'gcm' }, 'GCM_TRANSPORT=legacy: Google shut the legacy HTTP API down in 2024; use fcm-v1 in production');
    return new GcmLegacyTransport({
      apiKey: env.GCM_API_KEY as string, // required with legacy (config schema)
      url: env.GCM_LEGACY_URL,
      ca,
      requestTimeoutMs: env.GCM_REQUEST_TIMEOUT_MS,
      maxSockets: env.GCM_CONNECTIONS * env.GCM_MAX_INFLIGHT,
      metrics,
      logger,
    });
  }
  let serviceAccount;
  try {
    serviceAccount = loadServiceAccount(env.FCM_SERVICE_ACCOUNT_FILE as string); // required with fcm-v1
  } catch (e) {
    throw new ConfigError([`FCM_SERVICE_ACCOUNT_FILE: ${(e as Error).message}`]);
  }
  const projectId = env.FCM_PROJECT_ID ?? serviceAccount.project_id;
  if (!projectId) throw new ConfigError(['FCM_PROJECT_ID: required when the service account file has no project_id']);
  // Export the failure counter from start-up, so the dashboard's credential panel reads 0, not "No data"
  // (caught by test/ops-kit/prometheus-live.test.ts).
  metrics.credentialFailures.inc({ system: 'gcm' }, 0);
  return new FcmV1Transport({
    auth: new FcmAuth({ serviceAccount, ca, metrics, timeoutMs: env.GCM_REQUEST_TIMEOUT_MS }),
    projectId,
    baseUrl: env.FCM_BASE_URL,
    ca,
    connections: env.GCM_CONNECTIONS,
    maxInflightPerConnection: env.GCM_MAX_INFLIGHT,
    requestTimeoutMs: env.GCM_REQUEST_TIMEOUT_MS,
    metrics,
    logger,
  });
}

async function main(): Promise<void> {
  const env = loadConfigOrExit('worker-gcm', () => loadGcmWorkerEnv(process.env));
  const logger = createLogger('worker-gcm', env.LOG_LEVEL);
  const metricsRegistry = createMetricsRegistry('worker-gcm');
  const metrics = createDeliveryMetrics(metricsRegistry);

  const transport = loadConfigOrExit('worker-gcm', () => createTransport(env, metrics, logger));
  await runWorkerProcess({
    system: 'gcm',
    env,
    concurrency: env.GCM_CONCURRENCY,
    maxAttempts: env.GCM_MAX_ATTEMPTS,
    logger,
    metricsRegistry,
    metrics,
    transport,
  });
}

main().catch((e) => {
  process.stderr.write(`pushfleet worker-gcm: ${(e as Error).message}\n`);
  process.exit(1);
});
