import { randomBytes, randomUUID } from 'node:crypto';
import { startSandbox, generateApnsKey, Sandbox } from '@pushfleet/sandbox';
import { APP_ID, specEvents } from './support/delivery';
import { uniquePrefix, waitFor } from './support/env';
import { startApiProcess, startApnsWorkerProcess, writePushApps, FleetProcess } from './support/fleet';
import { userToken } from './support/jwt';
import { testRedisClusterNodes } from './support/env';

// The compiled API and APNs worker as real processes on the local Redis Cluster: REDIS_CLUSTER_NODES wins
// over REDIS_URL (the URL given here points nowhere), registration, enqueue and delivery all work.
const key = generateApnsKey({ keyId: 'CLUSTER123', teamId: '39JSDKGJ38' });
const INTERNAL = 'internal-token-cluster-0123456789';
const SECRET = 'y'.repeat(40);
let sandbox: Sandbox;
const procs: FleetProcess[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] });
});
afterAll(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await sandbox.close();
});

test('API and worker processes on the cluster: a registered device gets its events', async () => {
  const prefix = uniquePrefix('cluster-fleet');
  const pushAppsFile = writePushApps(key);
  const env = { REDIS_CLUSTER_NODES: testRedisClusterNodes() };
  const api = await startApiProcess({ redisUrl: 'redis://127.0.0.1:1', prefix, pushAppsFile, jwtSecret: SECRET, internalToken: INTERNAL, env });
  procs.push(api);
  const worker = await startApnsWorkerProcess({ redisUrl: 'redis://127.0.0.1:1', prefix, sandbox, pushAppsFile, env });
  procs.push(worker);

  const users = Array.from({ length: 20 }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
  for (const u of users) {
    const res = await fetch(`http://127.0.0.1:${api.port}/api/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await userToken(u.owner, { secret: SECRET })}`, 'content-type': 'application/json' },
      body: JSON.stringify({ system: 'apns', action: 'add', device_token: u.token, application_id: APP_ID }),
    });
    expect(res.status).toBe(200);
  }
  const res = await fetch(`http://127.0.0.1:${api.port}/internal/events`, {
    method: 'POST', headers: { authorization: `Bearer ${INTERNAL}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events: users.map((u) => specEvents(u.owner)[0]) }),
  });
  expect(res.status).toBe(202);
  await waitFor(() => users.every((u) => sandbox.recorder.countFor(u.token, 'apns') === 1), { timeoutMs: 20_000, what: 'every device delivered once' });
});
