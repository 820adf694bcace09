import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createProducer, Producer } from '@pushfleet/producer';
import { TokenRegistry } from '@pushfleet/registry';
import { generateServiceAccount, Sandbox, startSandbox } from '@pushfleet/sandbox';
import { startProcess, waitForHttp } from '../../../scripts/lib/processes';
import { freePort } from '../../../scripts/lib/redis-server';
import { specEvents } from '../../../test/support/delivery';
import { testRedisUrl, uniquePrefix, waitFor } from '../../../test/support/env';

/**
 * The compiled worker (`npm test` builds first; `npm run start:worker-gcm` runs the same file): env in,
 * the transport GCM_TRANSPORT names, deliveries out, /metrics, exit 0 on SIGTERM, exit 78 on bad config.
 */

const API_KEY = 'AIzaSy-process-test';
const PROJECT = 'pushfleet-process-test';
let sandbox: Sandbox;
let redis: Redis;
let dir: string;
let saFile: string;

beforeAll(async () => {
  sandbox = await startSandbox({ gcmApiKeys: [API_KEY] });
  const account = generateServiceAccount({ projectId: PROJECT, tokenUri: sandbox.google.tokenUri });
  sandbox.credentials.addFcmServiceAccount({ clientEmail: account.clientEmail, publicKeyPem: account.publicKeyPem, projectId: PROJECT });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-gcm-'));
  saFile = path.join(dir, 'service-account.json');
  fs.writeFileSync(saFile, JSON.stringify(account.json), { mode: 0o600 });
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await sandbox.close();
  redis.disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.each([
  ['legacy', { GCM_TRANSPORT: 'legacy', GCM_API_KEY: API_KEY }],
  ['fcm-v1', { GCM_TRANSPORT: 'fcm-v1', FCM_SERVICE_ACCOUNT_FILE: '<sa>' }],
] as const)('GCM_TRANSPORT=%s: the built worker delivers, exports metrics and stops cleanly on SIGTERM', async (kind, transportEnv) => {
  const prefix = uniquePrefix(`gcm-proc-${kind}`);
  const port = await freePort();
  const logs: string[] = [];
  const env: Record<string, string> = {
    REDIS_URL: testRedisUrl(), PUSHFLEET_PREFIX: prefix, METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1',
    GCM_LEGACY_URL: sandbox.google.legacyUrl, FCM_BASE_URL: sandbox.google.fcmBaseUrl, GCM_CA_FILE: sandbox.caFile,
    RETRY_BASE_DELAY_MS: '50', LOG_LEVEL: 'info',
    ...Object.fromEntries(Object.entries(transportEnv).map(([k, v]) => [k, v === '<sa>' ? saFile : v])),
  };
  const proc = startProcess('worker-gcm', 'apps/worker-gcm/dist/main.js', env, { quiet: true, onLine: (l) => logs.push(l) });
  let producer: Producer | undefined;
  try {
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, 15_000, proc).catch((e: Error) => { throw new Error(`${e.message}\n${logs.join('\n')}`); });
    const owner = randomUUID();
    const token = `proc-${kind}-${randomUUID()}`;
    await new TokenRegistry(redis, { prefix }).addGcm(owner, token);
    producer = createProducer({ connection: redis, prefix });
    await producer.publish({ ...specEvents(owner)[2] });
    const system = kind === 'legacy' ? 'gcm' : 'fcm';
    await waitFor(() => sandbox.recorder.deliveries({ system, token }).some((d) => d.status === 200), { what: `${kind} delivery`, timeoutMs: 10_000 });
    // Counters are incremented after the provider answered: poll /metrics until the delivery shows up.
    const metrics = await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /pushfleet_deliveries_total\{system="gcm",app="gcm",event="dialplan_callreverse_start",outcome="delivered",reason="Success"[^}]*\} 1/.test(text) && text;
    }, { what: 'delivery metric' });
    expect(metrics).toMatch(/pushfleet_provider_request_duration_seconds_count\{[^}]*system="gcm",status="200"[^}]*\} 1/);
    if (kind === 'legacy') expect(logs.some((l) => l.includes('GCM_TRANSPORT=legacy'))).toBe(true);
  } finally {
    await producer?.close();
    await proc.stop('SIGTERM');
  }
  expect(await proc.exited).toBe(0);
});

test('bad configuration: named on stderr, exit 78, the key never echoed', async () => {
  const run = async (env: Record<string, string>) => {
    const lines: string[] = [];
    const p = startProcess('worker-gcm', 'apps/worker-gcm/dist/main.js', { REDIS_URL: testRedisUrl(), ...env }, { quiet: true, onLine: (l) => lines.push(l) });
    return { code: await p.exited, out: lines.join('\n') };
  };
  const badValues = await run({ GCM_TRANSPORT: 'fcm-v2', GCM_CONCURRENCY: 'many' });
  expect(badValues.code).toBe(78);
  expect(badValues.out).toMatch(/GCM_TRANSPORT/);
  expect(badValues.out).toMatch(/GCM_CONCURRENCY/);
  const noCredentials = await run({ GCM_TRANSPORT: 'fcm-v1' });
  expect(noCredentials.code).toBe(78);
  expect(noCredentials.out).toMatch(/FCM_SERVICE_ACCOUNT_FILE: required with GCM_TRANSPORT=fcm-v1/);
  const brokenFile = path.join(dir, 'broken.json');
  fs.writeFileSync(brokenFile, JSON.stringify({ client_email: 'x@y', private_key: 'not a key' }));
  const broken = await run({ GCM_TRANSPORT: 'fcm-v1', FCM_SERVICE_ACCOUNT_FILE: brokenFile });
  expect(broken.code).toBe(78);
  expect(broken.out).toMatch(/private_key: must be a PEM private key/);
  expect(broken.out).not.toContain('not a key');
  const noProject = path.join(dir, 'no-project.json');
  fs.writeFileSync(noProject, JSON.stringify({ ...JSON.parse(fs.readFileSync(saFile, 'utf8')), project_id: undefined }));
  const missing = await run({ GCM_TRANSPORT: 'fcm-v1', FCM_SERVICE_ACCOUNT_FILE: noProject });
  expect(missing.code).toBe(78);
  expect(missing.out).toMatch(/FCM_PROJECT_ID: required/);
});
