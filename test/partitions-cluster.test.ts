import { randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { loadRedisEnv } from '@pushfleet/config';
import { partitionOf, partitionQueueNames, PUSH_SYSTEMS } from '@pushfleet/events';
import { createRedisClient } from '@pushfleet/observability';
import { startSandbox, generateApnsKey, Sandbox } from '@pushfleet/sandbox';
import { reportFigure, testRedisClusterNodes, uniquePrefix, waitFor } from './support/env';
import { startApiProcess, startApnsWorkerProcess, writePushApps, FleetProcess, registerApnsUsers } from './support/fleet';

// QUEUE_PARTITIONS=4 on the local 3-master cluster: the partitions' keys land on every master, and a fleet
// (API + two APNs workers, one of them on a WORKER_PARTITIONS subset) delivers every event exactly once.
const key = generateApnsKey({ keyId: 'PARTS12345', teamId: '39JSDKGJ38' });
const INTERNAL = 'internal-token-partitions-0123456789';
const SECRET = 'p'.repeat(40);
let sandbox: Sandbox;
let redis: Cluster;
const procs: FleetProcess[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] });
  redis = createRedisClient(loadRedisEnv({ REDIS_CLUSTER_NODES: testRedisClusterNodes() })) as Cluster;
  await redis.ping(); // slots known: CLUSTER commands then go to a node of the map
});
afterAll(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await sandbox.close();
  redis.disconnect();
});

/** The master (host:port) that serves a key, from CLUSTER KEYSLOT and CLUSTER SLOTS. */
async function masterOf(k: string): Promise<string> {
  const slot = Number(await redis.cluster('KEYSLOT', k));
  const ranges = (await redis.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  const r = ranges.find(([from, to]) => slot >= from && slot <= to)!;
  return `${r[2][0]}:${r[2][1]}`;
}

test('the four partitions of each queue land on all three masters', async () => {
  const ranges = (await redis.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  const masters = new Set(ranges.map((r) => `${r[2][0]}:${r[2][1]}`));
  expect(masters.size).toBe(3);
  for (const system of PUSH_SYSTEMS) {
    const owners = await Promise.all(partitionQueueNames(system, 4).map((name) => masterOf(`pushfleet:${name}:wait`)));
    expect(new Set(owners)).toEqual(masters);
  }
});

test('a fleet on QUEUE_PARTITIONS=4 delivers every event exactly once; the queue keys spread over the masters', async () => {
  const prefix = uniquePrefix('partitions-fleet');
  const pushAppsFile = writePushApps(key);
  const env = { REDIS_CLUSTER_NODES: testRedisClusterNodes(), QUEUE_PARTITIONS: '4' };
  const api = await startApiProcess({ redisUrl: 'redis://127.0.0.1:1', prefix, pushAppsFile, jwtSecret: SECRET, internalToken: INTERNAL, env });
  procs.push(api);
  procs.push(await startApnsWorkerProcess({ redisUrl: 'redis://127.0.0.1:1', prefix, sandbox, pushAppsFile, env }));
  procs.push(await startApnsWorkerProcess({ redisUrl: 'redis://127.0.0.1:1', prefix, sandbox, pushAppsFile, env: { ...env, WORKER_PARTITIONS: '2-3' } }));

  const users = await registerApnsUsers(api, 40, SECRET);
  expect(new Set(users.map((u) => partitionOf(u.owner, 4))).size).toBe(4);
  const perUser = 5;
  for (let round = 0; round < perUser; round++) {
    const events = users.map((u, i) => ({ id: `p${round}-${i}`, message: 'fax_new', owner: u.owner, fax: randomUUID(), phone: '+492215587412', page_count: round }));
    const res = await fetch(`http://127.0.0.1:${api.port}/internal/events`, {
      method: 'POST', headers: { authorization: `Bearer ${INTERNAL}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
  }
  await waitFor(() => users.every((u) => sandbox.recorder.countFor(u.token, 'apns') >= perUser), { timeoutMs: 30_000, what: 'every event delivered' });
  // Nothing left in any APNs partition, and still exactly once per event.
  const apnsQueues = partitionQueueNames('apns', 4);
  await waitFor(async () => {
    const lens = await Promise.all(apnsQueues.flatMap((q) => [redis.llen(`${prefix}:${q}:wait`), redis.llen(`${prefix}:${q}:active`), redis.zcard(`${prefix}:${q}:delayed`)]));
    return lens.every((n) => n === 0);
  }, { timeoutMs: 10_000, what: 'the APNs partitions drained' });
  expect(users.filter((u) => sandbox.recorder.countFor(u.token, 'apns') !== perUser)).toEqual([]);

  // Where the queue keys sit: every master holds some.
  const perMaster = await Promise.all(redis.nodes('master').map(async (n) => (await n.keys(`${prefix}:{apns*`)).length + (await n.keys(`${prefix}:{gcm*`)).length));
  reportFigure('queue keys per master (QUEUE_PARTITIONS=4, 200 events)', perMaster.join('/'));
  console.log(`queue keys per master (QUEUE_PARTITIONS=4): ${perMaster.join(' / ')}`);
  for (const n of perMaster) expect(n).toBeGreaterThan(0);
}, 90_000);
