import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProcess, ManagedProcess, waitForHttp } from '../../scripts/lib/processes';
import { freePort } from '../../scripts/lib/redis-server';
import { Redis } from 'ioredis';
import { startSandbox } from '@pushfleet/sandbox';
import type { generateApnsKey, Sandbox } from '@pushfleet/sandbox';
import { APP_ID } from './delivery';
import { testRedisUrl } from './env';
import { TEST_AUTH_ENV, userToken } from './jwt';

export interface FleetProcess extends ManagedProcess {
  logs: string[];
  port: number;
  /** The API's ops listener (/metrics, /readyz); the workers serve those on `port`. */
  opsPort?: number;
}

/** Writes a PUSH_APPS_FILE with the test app and its p8 key, as an operator would. */
export function writePushApps(key: ReturnType<typeof generateApnsKey>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-apps-'));
  fs.writeFileSync(path.join(dir, `AuthKey_${key.keyId}.p8`), key.privateKeyPem);
  const file = path.join(dir, 'push-apps.json');
  fs.writeFileSync(file, JSON.stringify({ apns: { apps: [{ application_id: APP_ID, token: { key_file: `AuthKey_${key.keyId}.p8`, key_id: key.keyId, team_id: key.teamId } }] } }));
  return file;
}

/** A compiled APNs worker process (`npm test` builds first) against the sandbox, with fast stalled-job recovery. */
export async function startApnsWorkerProcess(o: { redisUrl: string; prefix: string; sandbox: Sandbox; pushAppsFile: string; env?: Record<string, string> }): Promise<FleetProcess> {
  const port = await freePort();
  const logs: string[] = [];
  const p = startProcess('worker-apns', 'apps/worker-apns/dist/main.js', {
    REDIS_URL: o.redisUrl, PUSHFLEET_PREFIX: o.prefix, PUSH_APPS_FILE: o.pushAppsFile, METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1',
    APNS_PRODUCTION_URL: o.sandbox.apns.productionUrl, APNS_SANDBOX_URL: o.sandbox.apns.developmentUrl, APNS_CA_FILE: o.sandbox.caFile,
    WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '500', RETRY_BASE_DELAY_MS: '50', RETRY_MAX_DELAY_MS: '500',
    APNS_REQUEST_TIMEOUT_MS: '1000', LOG_LEVEL: 'info', ...(o.env ?? {}),
  }, { quiet: true, onLine: (l) => logs.push(l) });
  await ready(p, `http://127.0.0.1:${port}/readyz`, logs);
  return Object.assign(p, { logs, port });
}

/** A compiled GCM worker process on FCM HTTP v1 against the sandbox (its FCM v1 endpoint and OAuth server). */
export async function startGcmWorkerProcess(o: { redisUrl: string; prefix: string; sandbox: Sandbox; serviceAccountFile: string }): Promise<FleetProcess> {
  const port = await freePort();
  const logs: string[] = [];
  const p = startProcess('worker-gcm', 'apps/worker-gcm/dist/main.js', {
    REDIS_URL: o.redisUrl, PUSHFLEET_PREFIX: o.prefix, METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1',
    GCM_TRANSPORT: 'fcm-v1', FCM_SERVICE_ACCOUNT_FILE: o.serviceAccountFile, FCM_BASE_URL: o.sandbox.google.fcmBaseUrl, GCM_CA_FILE: o.sandbox.caFile,
    RETRY_BASE_DELAY_MS: '50', LOG_LEVEL: 'info',
  }, { quiet: true, onLine: (l) => logs.push(l) });
  await ready(p, `http://127.0.0.1:${port}/readyz`, logs);
  return Object.assign(p, { logs, port });
}

async function ready(p: ManagedProcess, url: string, logs: string[]): Promise<void> {
  try {
    await waitForHttp(url, 20_000, p);
  } catch (e) {
    await p.exited.catch(() => undefined);
    throw new Error(`${(e as Error).message}\n${logs.join('\n')}`);
  }
}

/** The compiled API process; user JWTs need the test issuer and audience (support/jwt.ts userToken sets them). */
export async function startApiProcess(o: { redisUrl: string; prefix: string; pushAppsFile: string; jwtSecret: string; internalToken: string; env?: Record<string, string> }): Promise<FleetProcess> {
  const port = await freePort();
  const opsPort = await freePort();
  const logs: string[] = [];
  const p = startProcess('api', 'apps/api/dist/main.js', {
    REDIS_URL: o.redisUrl, PUSHFLEET_PREFIX: o.prefix, PUSH_APPS_FILE: o.pushAppsFile, PORT: String(port), HOST: '127.0.0.1',
    OPS_PORT: String(opsPort), OPS_HOST: '127.0.0.1',
    ...TEST_AUTH_ENV, AUTH_JWT_SECRET: o.jwtSecret, INTERNAL_API_TOKENS: o.internalToken, RATE_LIMIT_PER_MINUTE: '0', AUTH_FAILURES_PER_MINUTE: '0',
    LOG_LEVEL: 'info', ...(o.env ?? {}),
  }, { quiet: true, onLine: (l) => logs.push(l) });
  await ready(p, `http://127.0.0.1:${opsPort}/readyz`, logs);
  return Object.assign(p, { logs, port, opsPort });
}

/** `count` users, each registering one APNs token through the API process (expects 200 for each). */
export async function registerApnsUsers(api: FleetProcess, count: number, secret: string): Promise<{ owner: string; token: string }[]> {
  const users = Array.from({ length: count }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
  for (const u of users) {
    const res = await fetch(`http://127.0.0.1:${api.port}/api/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await userToken(u.owner, { secret })}`, 'content-type': 'application/json' },
      body: JSON.stringify({ system: 'apns', action: 'add', device_token: u.token, application_id: APP_ID }),
    });
    if (res.status !== 200) throw new Error(`registering a token answered ${res.status}`);
  }
  return users;
}

/**
 * For a test file of worker processes: the sandbox (knowing `key`), a Redis connection to the run's Redis,
 * and the processes the tests start, all started before and stopped after the file.
 */
export function useProcessFleet(key: ReturnType<typeof generateApnsKey>): { readonly sandbox: Sandbox; readonly redis: Redis; procs: FleetProcess[] } {
  const fleet = { sandbox: undefined as unknown as Sandbox, redis: undefined as unknown as Redis, procs: [] as FleetProcess[] };
  beforeAll(async () => {
    fleet.sandbox = await startSandbox({ apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] });
    fleet.redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    for (const p of fleet.procs) await p.stop('SIGKILL');
    await fleet.sandbox.close();
    fleet.redis.disconnect();
  });
  return fleet;
}
