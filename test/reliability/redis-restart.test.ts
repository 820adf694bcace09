import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { TokenRegistry } from '@pushfleet/registry';
import { startSandbox, generateApnsKey, Sandbox } from '@pushfleet/sandbox';
import { startRedis, ThrowawayRedis } from '../support/redis-server';
import { APP_ID, specEvents } from '../support/delivery';
import { reportFigure, waitFor } from '../support/env';
import { startApiProcess, startApnsWorkerProcess, writePushApps, FleetProcess } from '../support/fleet';

// A Redis restart (persisted, same port) under load, with the compiled API and worker as real processes.
const key = generateApnsKey({ keyId: 'RESTART123', teamId: '39JSDKGJ38' });
const INTERNAL = 'internal-token-restart-0123456789';
let sandbox: Sandbox;
let redis: ThrowawayRedis;
const procs: FleetProcess[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] });
  redis = await startRedis({ persist: true });
});
afterAll(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await sandbox.close();
  await redis.stop();
});

test('Redis restart under load: 503 fast while down, recovery by itself, no accepted event lost', async () => {
  const prefix = 'restart';
  const users = Array.from({ length: 3000 }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
  const setup = new Redis(redis.url);
  const registry = new TokenRegistry(setup, { prefix });
  await Promise.all(users.map((u) => registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
  setup.disconnect();

  const pushAppsFile = writePushApps(key);
  const api = await startApiProcess({ redisUrl: redis.url, prefix, pushAppsFile, jwtSecret: 'x'.repeat(40), internalToken: INTERNAL });
  const worker = await startApnsWorkerProcess({ redisUrl: redis.url, prefix, sandbox, pushAppsFile });
  procs.push(api, worker);

  const accepted: number[] = [];
  const unavailable: number[] = [];
  const slow503: number[] = [];
  let next = 0;
  let running = true;
  const load = (async () => {
    while (running && next < users.length) {
      const i = next++;
      const started = Date.now();
      const res = await fetch(`http://127.0.0.1:${api.port}/internal/events`, {
        method: 'POST', headers: { authorization: `Bearer ${INTERNAL}`, 'content-type': 'application/json' }, body: JSON.stringify(specEvents(users[i].owner)[0]),
      }).catch(() => undefined);
      const ms = Date.now() - started;
      if (res?.status === 202) accepted.push(i);
      else if (res?.status === 503) { unavailable.push(i); if (ms >= 1000) slow503.push(ms); }
      await res?.arrayBuffer();
      await new Promise((r) => setImmediate(r));
    }
  })();

  await waitFor(() => accepted.length >= 100, { timeoutMs: 20_000, what: 'load before the restart' });
  await redis.stop();
  const downAt = Date.now();
  await waitFor(() => unavailable.length >= 20, { timeoutMs: 10_000, what: '503s while Redis is down' });
  expect(slow503).toEqual([]);
  const acceptedWhileDown = accepted.length;
  redis = await startRedis({ port: redis.port, dir: redis.dir, persist: true });
  const upAt = Date.now();
  await waitFor(() => accepted.length > acceptedWhileDown + 50, { timeoutMs: 15_000, what: 'API accepting again after the restart' });
  const apiRecoveredMs = Date.now() - upAt;
  running = false;
  await load;

  const delivered = (t: string) => sandbox.recorder.countFor(t, 'apns') > 0;
  const firstAfter = await waitFor(() => sandbox.recorder.deliveries({ system: 'apns' }).find((d) => d.time > upAt && d.status === 200), { timeoutMs: 10_000, what: 'worker delivering within 10 s of the restart' });
  await waitFor(() => accepted.every((i) => delivered(users[i].token)), { timeoutMs: 30_000, what: 'every accepted event delivered' });
  const lost = accepted.filter((i) => !delivered(users[i].token)).length;
  expect(lost).toBe(0);
  reportFigure('redis restart: accepted events', accepted.length);
  reportFigure('redis restart: 503 answers while down', unavailable.length);
  reportFigure('redis restart: down for ms', upAt - downAt);
  reportFigure('redis restart: API accepting again after ms', apiRecoveredMs);
  reportFigure('redis restart: worker first delivery after ms', firstAfter.time - upAt);
  reportFigure('redis restart: accepted events lost', lost);
}, 120_000);
