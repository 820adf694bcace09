import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { generateApnsKey, generateServiceAccount, Sandbox, startSandbox } from '@pushfleet/sandbox';
import { APP_ID, specEvents } from './delivery';
import { testRedisUrl, uniquePrefix, waitFor } from './env';
import { FleetProcess, startApiProcess, startApnsWorkerProcess, startGcmWorkerProcess, writePushApps } from './fleet';
import { TEST_JWT_SECRET, userToken } from './jwt';

/**
 * The whole fleet as processes, as `npm start` runs it (API, APNs worker, GCM worker on FCM HTTP v1) on the
 * run's Redis and an in-process sandbox, every port free-chosen. For the checks that meet the ops kit with
 * real tools (Prometheus, a browser): `metricsTargets` are what a Prometheus scrape config needs.
 */
export interface OpsFleet {
  sandbox: Sandbox;
  prefix: string;
  apiUrl: string;
  internalToken: string;
  adminToken: string;
  processes: FleetProcess[];
  /** job name (as in infra/prometheus/prometheus.yml) -> host:port serving /metrics (the API: its ops listener). */
  metricsTargets: Record<'api' | 'worker-apns' | 'worker-gcm', string>;
  /** Registers one device per system for a fresh user and delivers `n` events to both; resolves when delivered. */
  traffic(n?: number): Promise<{ owner: string; deviceToken: string; registrationId: string }>;
  close(): Promise<void>;
}

const INTERNAL = 'ops-internal-token-0123456789';
const ADMIN = 'ops-admin-token-0123456789abcdef';

export async function startOpsFleet(name: string, o: { apiEnv?: Record<string, string> } = {}): Promise<OpsFleet> {
  const key = generateApnsKey({ keyId: 'OPSKEY1234', teamId: '39JSDKGJ38' });
  const sandbox = await startSandbox({ apnsKeys: [key], logger: pino({ level: 'silent' }) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pushfleet-${name}-`));
  const account = generateServiceAccount({ projectId: 'pushfleet-ops', tokenUri: sandbox.google.tokenUri });
  sandbox.credentials.addFcmServiceAccount(account);
  const saFile = path.join(dir, 'service-account.json');
  fs.writeFileSync(saFile, JSON.stringify(account.json), { mode: 0o600 });
  const pushAppsFile = writePushApps(key);
  const prefix = uniquePrefix(name);
  const redisUrl = testRedisUrl();
  const processes: FleetProcess[] = [];
  const close = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await sandbox.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const api = await startApiProcess({ redisUrl, prefix, pushAppsFile, jwtSecret: TEST_JWT_SECRET, internalToken: INTERNAL, env: { ADMIN_TOKENS: ADMIN, ...(o.apiEnv ?? {}) } });
    processes.push(api);
    processes.push(await startApnsWorkerProcess({ redisUrl, prefix, sandbox, pushAppsFile }));
    processes.push(await startGcmWorkerProcess({ redisUrl, prefix, sandbox, serviceAccountFile: saFile }));
  } catch (e) {
    await close();
    throw e;
  }
  const [api, apns, gcm] = processes;
  const apiUrl = `http://127.0.0.1:${api.port}`;
  return {
    sandbox, prefix, apiUrl, internalToken: INTERNAL, adminToken: ADMIN, processes,
    metricsTargets: { api: `127.0.0.1:${api.opsPort}`, 'worker-apns': `127.0.0.1:${apns.port}`, 'worker-gcm': `127.0.0.1:${gcm.port}` },
    traffic: (n = 5) => traffic(apiUrl, sandbox, n),
    close,
  };
}

async function traffic(apiUrl: string, sandbox: Sandbox, n: number): Promise<{ owner: string; deviceToken: string; registrationId: string }> {
  const owner = randomUUID();
  const jwt = await userToken(owner);
  const deviceToken = randomUUID().replace(/-/g, '').repeat(2);
  const registrationId = `ops-${randomUUID()}`;
  const post = async (p: string, token: string, body: unknown) => {
    const res = await fetch(apiUrl + p, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`POST ${p}: ${res.status} ${await res.text()}`);
  };
  await post('/api/push', jwt, { system: 'apns', action: 'add', device_token: deviceToken, sandbox: true, application_id: APP_ID });
  await post('/api/push', jwt, { system: 'gcm', action: 'add', registration_id: registrationId });
  const events = Array.from({ length: n }, (_, i) => specEvents(owner)[i % 5]);
  await post('/internal/events', INTERNAL, { events });
  await waitFor(() => sandbox.recorder.countFor(deviceToken, 'apns') >= n && sandbox.recorder.countFor(registrationId, 'fcm') >= n, { timeoutMs: 20_000, what: `${n} deliveries per system` });
  return { owner, deviceToken, registrationId };
}
