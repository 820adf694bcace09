#!/usr/bin/env node
// `npm start`: the whole fleet on one machine — a local Redis (unless REDIS_URL or REDIS_CLUSTER_NODES), the APNs/GCM sandbox,
// the API and both workers as separate processes, fresh demo secrets, then a self-check that a push really
// arrives, and ready-to-paste curl commands.
import path from 'node:path';
import pino from 'pino';
import { redisEnv } from '@pushfleet/config';
import { startSandbox } from '@pushfleet/sandbox';
import { redisServerBinary, startRedis, ThrowawayRedis } from './lib/redis-server';
import { ROOT, startProcess, waitForHttp, ManagedProcess } from './lib/processes';
import fs from 'node:fs';
import { createDemoSecrets, createDemoServiceAccount, demoAuthEnv, demoUserToken, writeFleetEnv, DEMO_API_OPS_PORT, DEMO_APP_ID } from './lib/demo-config';

const env = process.env;
const num = (v: string | undefined, d: number) => (v ? Number(v) : d);

async function main(): Promise<void> {
  const stateDir = path.join(ROOT, '.pushfleet');
  const apiPort = num(env.PORT, 3000);
  const children: ManagedProcess[] = [];
  let redis: ThrowawayRedis | undefined;

  let redisUrl = env.REDIS_URL;
  if (!redisUrl && !env.REDIS_CLUSTER_NODES) {
    if (!redisServerBinary()) {
      process.stderr.write('pushfleet: no REDIS_URL and no redis-server binary.\n  Install Redis (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)\n  or point REDIS_URL at a Redis >= 6.2 with maxmemory-policy noeviction.\n');
      process.exit(1);
    }
    redis = await startRedis({ dir: undefined, persist: true });
    redisUrl = redis.url;
    console.log(`[start] started a local redis-server on ${redisUrl} (AOF on; stopped with the fleet)`);
  }

  const secrets = createDemoSecrets(path.join(stateDir, 'demo'));
  const sandbox = await startSandbox({
    apnsProductionPort: num(env.SANDBOX_APNS_PRODUCTION_PORT, 2197),
    apnsDevelopmentPort: num(env.SANDBOX_APNS_DEVELOPMENT_PORT, 2198),
    googlePort: num(env.SANDBOX_GOOGLE_PORT, 4443),
    adminPort: num(env.SANDBOX_ADMIN_PORT, 4000),
    dataDir: path.join(stateDir, 'sandbox'),
    apnsKeys: [secrets.apnsKey],
    gcmApiKeys: [secrets.gcmApiKey],
    logger: pino({ level: 'warn' }),
  });
  // FCM HTTP v1 (the only Google API still served): a service account the sandbox's OAuth server trusts.
  const account = createDemoServiceAccount(path.join(stateDir, 'demo'), sandbox.google.tokenUri);
  sandbox.credentials.addFcmServiceAccount(account);
  console.log(`[start] sandbox: APNs ${sandbox.apns.productionUrl} (production) ${sandbox.apns.developmentUrl} (development), FCM v1 ${sandbox.google.fcmBaseUrl} (OAuth ${sandbox.google.tokenUri}), admin ${sandbox.adminUrl}`);

  // The fleet's Redis variables (README "Redis connection") pass through: REDIS_CLUSTER_NODES switches every process to the cluster.
  const redisVars: Record<string, string> = Object.fromEntries(Object.keys(redisEnv).flatMap((k) => (env[k] ? [[k, env[k] as string]] : [])));
  if (redisUrl) redisVars.REDIS_URL = redisUrl;
  const prefix = env.PUSHFLEET_PREFIX ?? 'pushfleet';
  const common = { ...redisVars, PUSHFLEET_PREFIX: prefix, LOG_LEVEL: env.LOG_LEVEL ?? 'info', PUSH_APPS_FILE: secrets.pushAppsFile };
  const fleetEnv = writeFleetEnv(stateDir, { ...redisVars, PUSHFLEET_PREFIX: prefix });
  children.push(startProcess('api', 'apps/api/dist/main.js', {
    ...common, PORT: String(apiPort), HOST: '127.0.0.1', OPS_PORT: String(DEMO_API_OPS_PORT), OPS_HOST: '127.0.0.1', ...demoAuthEnv(secrets),
    INTERNAL_API_TOKENS: secrets.internalToken, ADMIN_TOKENS: secrets.adminToken, GCM_SENDER_ID: '4815162342',
  }));
  children.push(startProcess('worker-apns', 'apps/worker-apns/dist/main.js', {
    ...common, METRICS_PORT: '9101', METRICS_HOST: '127.0.0.1',
    APNS_PRODUCTION_URL: sandbox.apns.productionUrl, APNS_SANDBOX_URL: sandbox.apns.developmentUrl, APNS_CA_FILE: sandbox.caFile,
  }));
  children.push(startProcess('worker-gcm', 'apps/worker-gcm/dist/main.js', {
    ...common, METRICS_PORT: '9102', METRICS_HOST: '127.0.0.1',
    GCM_TRANSPORT: 'fcm-v1', FCM_SERVICE_ACCOUNT_FILE: account.file, FCM_BASE_URL: sandbox.google.fcmBaseUrl, GCM_CA_FILE: sandbox.caFile,
  }));

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('[start] stopping the fleet…');
    await Promise.all(children.map((c) => c.stop()));
    await sandbox.close();
    await redis?.stop();
    fs.rmSync(fleetEnv, { force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  for (const c of children) void c.exited.then((code) => { if (!stopping) { console.error(`[start] ${c.name} exited (${code}); stopping`); void stop(1); } });

  const api = `http://127.0.0.1:${apiPort}`;
  const apiOps = `http://127.0.0.1:${DEMO_API_OPS_PORT}`;
  await waitForHttp(`${apiOps}/readyz`, 30_000, children[0]);
  await waitForHttp('http://127.0.0.1:9101/readyz', 30_000, children[1]);
  await waitForHttp('http://127.0.0.1:9102/readyz', 30_000, children[2]);

  // Self-check: register one device per system for the demo user and push one event end to end.
  const userJwt = await demoUserToken(secrets);
  const deviceToken = 'a6461732069737d42065496e' + 'f39ad'.padStart(40, '0');
  const registrationId = 'APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx-demo';
  const post = (p: string, token: string, body: unknown) => fetch(api + p, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await post('/api/push', userJwt, { system: 'apns', action: 'add', device_token: deviceToken, sandbox: true, application_id: DEMO_APP_ID });
  await post('/api/push', userJwt, { system: 'gcm', action: 'add', registration_id: registrationId });
  const started = Date.now();
  const res = await post('/internal/events', secrets.internalToken, { message: 'chat_message', owner: secrets.userId, chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0', time: Math.floor(Date.now() / 1000), user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text', text: 'Hello from pushfleet' });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (sandbox.recorder.countFor(deviceToken, 'apns') === 0 || sandbox.recorder.countFor(registrationId, 'fcm') === 0)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const apnsOk = sandbox.recorder.countFor(deviceToken, 'apns') > 0;
  const gcmOk = sandbox.recorder.countFor(registrationId, 'fcm') > 0;
  if (res.status === 202 && apnsOk && gcmOk) console.log(`[start] self-check: a chat_message reached the APNs and FCM v1 sandboxes in ${Date.now() - started} ms`);
  else console.error(`[start] self-check FAILED: POST /internal/events ${res.status}, APNs delivered ${apnsOk}, FCM v1 delivered ${gcmOk}`);

  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  console.log(`
pushfleet is running. Everything below is local; secrets were generated for this run only.

  API          ${api}            (metrics ${apiOps}/metrics)
  APNs worker  http://127.0.0.1:9101/metrics
  GCM worker   http://127.0.0.1:9102/metrics   (FCM HTTP v1)
  CLI          npm run cli -- stats   (reads ${path.relative(ROOT, fleetEnv)}: this fleet's Redis)
  Sandbox      deliveries: curl -s ${sandbox.adminUrl}/deliveries?limit=5
  Admin UI     ${api}/admin/queues   (user: admin, password: the ADMIN token below)

  USER JWT (sub ${secrets.userId}):
    export PF_USER=${userJwt}
  INTERNAL TOKEN (telephony backend):
    export PF_INTERNAL=${secrets.internalToken}
  ADMIN TOKEN:
    export PF_ADMIN=${secrets.adminToken}

Try it:
  curl -s -H "Authorization: Bearer $PF_USER" ${api}/api/push
  curl -s -X POST -H "Authorization: Bearer $PF_USER" -H 'Content-Type: application/json' \\
    -d '{"system":"apns","action":"add","device_token":"${'b'.repeat(64)}","application_id":"${DEMO_APP_ID}","sandbox":true}' ${api}/api/push
  curl -s -X POST -H "Authorization: Bearer $PF_INTERNAL" -H 'Content-Type: application/json' \\
    -d ${q(JSON.stringify({ message: 'fax_new', owner: secrets.userId, fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: 2 }))} ${api}/internal/events
  curl -s ${sandbox.adminUrl}/deliveries?limit=3

Ctrl-C stops everything.
`);
}

main().catch((e) => {
  console.error(`[start] ${(e as Error).stack ?? e}`);
  process.exit(1);
});
