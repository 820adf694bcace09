import { z } from 'zod';
import { policyOverridesSchema, resolvePolicies } from '@pushfleet/events';
import { Env, jsonObject, keyPrefix, logLevel, parseEnv, port, positiveInt } from './env';
import { redisEnv } from './redis';
import { pruningEnv } from './pruning';

/**
 * The defaults of the worker settings, declared once: the env schemas below and the classes that take
 * these settings as options (DeliveryWorker) both use them.
 */
export const WORKER_DEFAULTS = Object.freeze({
  /** BullMQ lock (WORKER_LOCK_DURATION_MS): a crashed worker's jobs are handed to another after about this long. @defaultValue 30000 */
  lockDurationMs: 30_000,
  /** How often BullMQ looks for stalled jobs (WORKER_STALLED_INTERVAL_MS). @defaultValue 15000 */
  stalledIntervalMs: 15_000,
  /** Bounded shutdown (SHUTDOWN_TIMEOUT_MS): in-flight jobs still running then go back via stalled recovery. @defaultValue 10000 */
  shutdownTimeoutMs: 10_000,
  /** First retry backoff before jitter (RETRY_BASE_DELAY_MS); doubles per attempt. @defaultValue 1000 */
  retryBaseDelayMs: 1000,
  /** Longest retry backoff (RETRY_MAX_DELAY_MS). @defaultValue 300000 */
  retryMaxDelayMs: 300_000,
  /** Consecutive configuration failures of one app that open its circuit (CIRCUIT_THRESHOLD). @defaultValue 3 */
  circuitThreshold: 3,
  /** How long an open circuit holds the app's tokens (CIRCUIT_COOLDOWN_MS). @defaultValue 30000 */
  circuitCooldownMs: 30_000,
  /**
   * Stuck-worker detector (WORKER_STUCK_AFTER_MS): a queue partition with jobs waiting whose worker took,
   * finished or failed none for this long gets a new BullMQ worker (bullmq #4138, after a failover). @defaultValue 10000
   */
  stuckAfterMs: 10_000,
  /** How often the detector checks each partition (WORKER_PROBE_INTERVAL_MS). @defaultValue 2000 */
  probeIntervalMs: 2000,
});

/**
 * EVENT_POLICIES: JSON per-event-type overrides of TTL and GCM priority (packages/events README), checked
 * and laid over the defaults here, so a bad value fails at start-up. Absent = the defaults.
 */
export const eventPolicies = jsonObject.pipe(policyOverridesSchema).optional().transform((o) => resolvePolicies(o ?? {}));

/** What both workers share: Redis, retry policy, circuit, event policy overrides, process settings. */
const commonWorkerEnv = {
  ...redisEnv,
  PUSHFLEET_PREFIX: keyPrefix,
  METRICS_PORT: port(9100),
  WORKER_LOCK_DURATION_MS: positiveInt(WORKER_DEFAULTS.lockDurationMs),
  WORKER_STALLED_INTERVAL_MS: positiveInt(WORKER_DEFAULTS.stalledIntervalMs),
  METRICS_HOST: z.string().default('0.0.0.0'),
  SHUTDOWN_TIMEOUT_MS: positiveInt(WORKER_DEFAULTS.shutdownTimeoutMs),
  RETRY_BASE_DELAY_MS: positiveInt(WORKER_DEFAULTS.retryBaseDelayMs),
  RETRY_MAX_DELAY_MS: positiveInt(WORKER_DEFAULTS.retryMaxDelayMs),
  CIRCUIT_THRESHOLD: positiveInt(WORKER_DEFAULTS.circuitThreshold),
  CIRCUIT_COOLDOWN_MS: positiveInt(WORKER_DEFAULTS.circuitCooldownMs),
  WORKER_STUCK_AFTER_MS: positiveInt(WORKER_DEFAULTS.stuckAfterMs),
  WORKER_PROBE_INTERVAL_MS: positiveInt(WORKER_DEFAULTS.probeIntervalMs),
  EVENT_POLICIES: eventPolicies,
  LOG_LEVEL: logLevel,
  ...pruningEnv,
};

export const apnsWorkerEnvSchema = z.object({
  ...commonWorkerEnv,
  METRICS_PORT: port(9101),
  PUSH_APPS_FILE: z.string({ error: 'PUSH_APPS_FILE is required: the APNs apps and their credentials' }),
  APNS_PRODUCTION_URL: z.url().default('https://api.push.apple.com'),
  APNS_SANDBOX_URL: z.url().default('https://api.sandbox.push.apple.com'),
  APNS_CA_FILE: z.string().optional(),
  /**
   * BullMQ jobs in flight per process, each of 1 to 20 events (EVENTS_PER_JOB). 100 jobs of 20 events are
   * 2,000 deliveries: 4x the 500 streams APNS_CONNECTIONS x APNS_MAX_INFLIGHT allows, enough to keep them
   * busy while jobs are fetched and finished. The former 500 held 10,000 deliveries of which 9,500 waited in
   * the pool's queue, their objects promoted to the old generation: worker RSS up to 611 MB under the
   * bench's load (docs/benchmarks.md, "Session 4 findings: worker memory"). @defaultValue 100
   */
  APNS_CONCURRENCY: positiveInt(100),
  /** HTTP/2 connections per (app, environment). @defaultValue 1 */
  APNS_CONNECTIONS: positiveInt(1),
  /** Streams in flight per connection (capped by the server's SETTINGS); more wait in the pool's queue. @defaultValue 500 */
  APNS_MAX_INFLIGHT: positiveInt(500),
  APNS_REQUEST_TIMEOUT_MS: positiveInt(10_000),
  APNS_MAX_ATTEMPTS: positiveInt(8),
});
export type ApnsWorkerEnv = z.infer<typeof apnsWorkerEnvSchema>;
export const loadApnsWorkerEnv = (env: Env): ApnsWorkerEnv => parseEnv(apnsWorkerEnvSchema, env);

export const gcmWorkerEnvSchema = z
  .object({
    ...commonWorkerEnv,
    METRICS_PORT: port(9102),
    // Google shut the legacy HTTP API down in 2024: FCM v1 is the default, legacy is for compatible gateways.
    GCM_TRANSPORT: z.enum(['legacy', 'fcm-v1']).default('fcm-v1'),
    GCM_API_KEY: z.string().optional(),
    GCM_LEGACY_URL: z.url().default('https://fcm.googleapis.com/fcm/send'),
    FCM_SERVICE_ACCOUNT_FILE: z.string().optional(),
    FCM_PROJECT_ID: z.string().optional(),
    FCM_BASE_URL: z.url().default('https://fcm.googleapis.com'),
    /** Extra CA to trust for the Google endpoints (the sandbox's), like APNS_CA_FILE. */
    GCM_CA_FILE: z.string().optional(),
    /**
     * Jobs in flight per process, each of 1 to 20 events: 60 jobs of 20 events are 1,200 deliveries for
     * the 100 streams of GCM_CONNECTIONS x GCM_MAX_INFLIGHT (the former 300 held 6,000). @defaultValue 60
     */
    GCM_CONCURRENCY: positiveInt(60),
    /** v1: HTTP/2 connections. @defaultValue 1 */
    GCM_CONNECTIONS: positiveInt(1),
    /** v1: streams in flight per connection (FCM allows about 100); legacy: keep-alive sockets per connection. @defaultValue 100 */
    GCM_MAX_INFLIGHT: positiveInt(100),
    GCM_REQUEST_TIMEOUT_MS: positiveInt(10_000),
    GCM_MAX_ATTEMPTS: positiveInt(8),
  })
  .superRefine((e, ctx) => {
    if (e.GCM_TRANSPORT === 'legacy' && !e.GCM_API_KEY) ctx.addIssue({ code: 'custom', path: ['GCM_API_KEY'], message: 'required with GCM_TRANSPORT=legacy' });
    if (e.GCM_TRANSPORT === 'fcm-v1' && !e.FCM_SERVICE_ACCOUNT_FILE) ctx.addIssue({ code: 'custom', path: ['FCM_SERVICE_ACCOUNT_FILE'], message: 'required with GCM_TRANSPORT=fcm-v1' });
  }, { when: () => true }); // report these together with any other bad variable
export type GcmWorkerEnv = z.infer<typeof gcmWorkerEnvSchema>;
export const loadGcmWorkerEnv = (env: Env): GcmWorkerEnv => parseEnv(gcmWorkerEnvSchema, env);

/** The settings every worker process shares (runWorkerProcess reads these). */
export type CommonWorkerEnv = Pick<ApnsWorkerEnv, keyof typeof commonWorkerEnv>;
