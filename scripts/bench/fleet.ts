// The fleet under benchmark, started like production (and like scripts/start.ts): a throwaway Redis, the
// sandbox in this process (counts only, nothing recorded), and the API and both workers as separate
// processes from their compiled dist/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { generateServiceAccount, startSandbox, Sandbox } from '@pushfleet/sandbox';
import { ApnsWorkerEnv, GcmWorkerEnv, loadApnsWorkerEnv, loadGcmWorkerEnv } from '@pushfleet/config';
import { freePort, ThrowawayRedis } from '../lib/redis-server';
import { ManagedProcess, ROOT, startProcess, waitForHttp } from '../lib/processes';
import { createDemoSecrets, demoAuthEnv, demoUserToken, DEMO_APP_ID, DemoSecrets } from '../lib/demo-config';
import type { BenchUser } from './data';
import { pool } from './util';

export const BENCH_PREFIX = 'pushfleet';
/** The FCM project of the bench's service account (the sandbox knows it). */
export const FCM_PROJECT = 'pushfleet-bench';

/** Worker tuning that may be set in the bench's environment and is passed on to the workers. */
const TUNING_VARS = [
  'APNS_CONCURRENCY', 'APNS_CONNECTIONS', 'APNS_MAX_INFLIGHT', 'APNS_REQUEST_TIMEOUT_MS',
  'GCM_CONCURRENCY', 'GCM_CONNECTIONS', 'GCM_MAX_INFLIGHT', 'GCM_REQUEST_TIMEOUT_MS',
] as const;

export interface Fleet {
  redis: ThrowawayRedis;
  sandbox: Sandbox;
  secrets: DemoSecrets;
  dir: string;
  apiUrl: string;
  metricsUrls: { api: string; 'worker-apns': string; 'worker-gcm': string };
  children: ManagedProcess[];
  /** The workers' effective settings (defaults from the config schemas, plus TUNING_VARS). */
  apnsEnv: ApnsWorkerEnv;
  gcmEnv: GcmWorkerEnv;
  /** The FCM service account worker-gcm uses (also given to the firebase-admin baseline). */
  fcm: { serviceAccountFile: string; projectId: string };
  /** Stops both workers (SIGTERM), for the API-and-Redis-alone phase. */
  stopWorkers(): Promise<void>;
  /** Throws when a fleet process has exited. */
  assertAlive(): void;
  /** Last lines each process printed (shown when the bench fails). */
  recentOutput(): string;
  close(): Promise<void>;
}

export interface FleetOptions {
  redis: ThrowawayRedis;
  /** How the processes reach Redis instead of REDIS_URL=redis.url (e.g. REDIS_CLUSTER_NODES, QUEUE_PARTITIONS: bench --cluster). */
  redisEnv?: Record<string, string>;
  /** Node flags for every fleet process (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Relay the processes' output instead of keeping the last lines. */
  verbose?: boolean;
  /** Called with every resource to release, as soon as it exists (teardown also on a failed start). */
  onResource: (name: string, close: () => Promise<void>) => void;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-bench-'));
  o.onResource('temp dir', async () => fs.rmSync(dir, { recursive: true, force: true }));
  const secrets = createDemoSecrets(dir);
  const sandbox = await startSandbox({
    apnsKeys: [secrets.apnsKey],
    gcmApiKeys: [secrets.gcmApiKey],
    record: false,
    // The baselines (node-apn, raw node:http2, firebase-admin) open their streams before the server's
    // SETTINGS and sign their own tokens: against the strict rules (one stream until a valid token) they
    // would be refused and slowed, and pushfleet would be compared with handicapped senders. The bench
    // measures speed on a server that allows all of them, as the bare counting server did; the
    // strict rules are proven by the reliability suite.
    strict: false,
    logger: pino({ level: 'silent' }),
  });
  o.onResource('sandbox', () => sandbox.close());
  // FCM HTTP v1, the default Google transport: a service account the sandbox's token endpoint knows.
  const account = generateServiceAccount({ projectId: FCM_PROJECT, tokenUri: sandbox.google.tokenUri });
  sandbox.credentials.addFcmServiceAccount({ clientEmail: account.clientEmail, publicKeyPem: account.publicKeyPem, projectId: FCM_PROJECT });
  const serviceAccountFile = path.join(dir, 'fcm-service-account.json');
  fs.writeFileSync(serviceAccountFile, JSON.stringify(account.json), { mode: 0o600 });

  const tuning: Record<string, string> = {};
  for (const k of TUNING_VARS) if (process.env[k]) tuning[k] = process.env[k] as string;
  const apnsEnv = loadApnsWorkerEnv({ ...tuning, PUSH_APPS_FILE: secrets.pushAppsFile });
  const gcmEnv = loadGcmWorkerEnv({ ...tuning, GCM_TRANSPORT: 'fcm-v1', FCM_SERVICE_ACCOUNT_FILE: serviceAccountFile });

  const [apiPort, apiOpsPort, apnsMetrics, gcmMetrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const common = { ...(o.redisEnv ?? { REDIS_URL: o.redis.url }), PUSHFLEET_PREFIX: BENCH_PREFIX, LOG_LEVEL: 'warn', PUSH_APPS_FILE: secrets.pushAppsFile };
  const recent = new Map<string, string[]>();
  const opts = (name: string, nodeArgs?: string[]) => ({
    quiet: !o.verbose,
    nodeArgs,
    onLine: (line: string) => {
      const lines = recent.get(name) ?? [];
      lines.push(line);
      if (lines.length > 40) lines.shift();
      recent.set(name, lines);
    },
  });
  const children: ManagedProcess[] = [];
  const start = (name: string, script: string, env: Record<string, string>, nodeArgs?: string[]) => {
    const c = startProcess(name, script, env, opts(name, nodeArgs));
    children.push(c);
    o.onResource(name, () => c.stop('SIGTERM', 15_000));
    return c;
  };
  const api = start('api', 'apps/api/dist/main.js', {
    ...common, PORT: String(apiPort), HOST: '127.0.0.1', OPS_PORT: String(apiOpsPort), OPS_HOST: '127.0.0.1', ...demoAuthEnv(secrets),
    INTERNAL_API_TOKENS: secrets.internalToken, ADMIN_TOKENS: secrets.adminToken, GCM_SENDER_ID: '4815162342',
    RATE_LIMIT_PER_MINUTE: '0', TOKEN_MOVES_PER_HOUR: '0',
  }, o.nodeArgs);
  const wa = start('worker-apns', 'apps/worker-apns/dist/main.js', {
    ...common, ...tuning, METRICS_PORT: String(apnsMetrics), METRICS_HOST: '127.0.0.1',
    APNS_PRODUCTION_URL: sandbox.apns.productionUrl, APNS_SANDBOX_URL: sandbox.apns.developmentUrl, APNS_CA_FILE: sandbox.caFile,
  }, o.nodeArgs);
  const wg = start('worker-gcm', 'apps/worker-gcm/dist/main.js', {
    ...common, ...tuning, METRICS_PORT: String(gcmMetrics), METRICS_HOST: '127.0.0.1',
    GCM_TRANSPORT: 'fcm-v1', FCM_SERVICE_ACCOUNT_FILE: serviceAccountFile, FCM_BASE_URL: sandbox.google.fcmBaseUrl, GCM_CA_FILE: sandbox.caFile,
  }, o.nodeArgs);

  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const apiOpsUrl = `http://127.0.0.1:${apiOpsPort}`;
  await waitForHttp(`${apiOpsUrl}/readyz`, 30_000, api);
  await waitForHttp(`http://127.0.0.1:${apnsMetrics}/readyz`, 30_000, wa);
  await waitForHttp(`http://127.0.0.1:${gcmMetrics}/readyz`, 30_000, wg);

  return {
    redis: o.redis,
    sandbox,
    secrets,
    dir,
    apiUrl,
    metricsUrls: {
      api: `${apiOpsUrl}/metrics`,
      'worker-apns': `http://127.0.0.1:${apnsMetrics}/metrics`,
      'worker-gcm': `http://127.0.0.1:${gcmMetrics}/metrics`,
    },
    children,
    apnsEnv,
    gcmEnv,
    fcm: { serviceAccountFile, projectId: FCM_PROJECT },
    async stopWorkers() {
      const workers = children.filter((c) => c.name !== 'api');
      await Promise.all(workers.map((c) => c.stop('SIGTERM', 15_000)));
      for (const c of workers) children.splice(children.indexOf(c), 1);
    },
    assertAlive() {
      for (const c of children) {
        if (c.child.exitCode !== null || c.child.signalCode !== null) throw new Error(`${c.name} exited (${c.child.exitCode ?? c.child.signalCode}) during the bench`);
      }
    },
    recentOutput() {
      return [...recent].map(([name, lines]) => lines.map((l) => `[${name}] ${l}`).join('\n')).join('\n');
    },
    async close() {
      await Promise.all(children.map((c) => c.stop('SIGTERM', 15_000)));
      await sandbox.close();
    },
  };
}

/** A user JWT like scripts/lib/demo-config.ts demoUserToken, for any user id. */
export function userToken(secrets: DemoSecrets, userId: string): Promise<string> {
  return demoUserToken(secrets, userId, '2h');
}

/**
 * Registers every user's APNs token and GCM registration id through `POST /api/push`, each with its own
 * JWT, `concurrency` requests at a time. Resolves with the elapsed seconds; throws on any non-200.
 */
export async function registerUsers(fleet: Fleet, users: readonly BenchUser[], concurrency: number): Promise<{ seconds: number; requests: number }> {
  const jwts = await Promise.all(users.map((u) => userToken(fleet.secrets, u.userId)));
  let failed = 0;
  let firstFailure = '';
  const t0 = performance.now();
  await pool(users.length * 2, concurrency, async (i) => {
    const u = users[i >> 1];
    const body = i % 2 === 0
      ? { system: 'apns', action: 'add', device_token: u.apnsToken, application_id: DEMO_APP_ID, sandbox: true }
      : { system: 'gcm', action: 'add', registration_id: u.gcmId };
    const res = await fetch(`${fleet.apiUrl}/api/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwts[i >> 1]}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status !== 200) {
      failed++;
      firstFailure ||= `${res.status} ${text.slice(0, 200)}`;
    }
  });
  if (failed) throw new Error(`${failed} of ${users.length * 2} registrations failed; first: ${firstFailure}`);
  return { seconds: (performance.now() - t0) / 1000, requests: users.length * 2 };
}

export { ROOT };
