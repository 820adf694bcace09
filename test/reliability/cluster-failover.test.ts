import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { partitionOf, partitionQueueName } from '@pushfleet/events';
import { startSandbox, generateApnsKey, Sandbox } from '@pushfleet/sandbox';
import { startRedisCluster, ThrowawayCluster } from '../../scripts/lib/redis-cluster';
import { reportFigure, uniquePrefix, waitFor } from '../support/env';
import { startApiProcess, startApnsWorkerProcess, writePushApps, FleetProcess, registerApnsUsers } from '../support/fleet';

// A master of a 3 + 3 Redis Cluster killed (SIGKILL) under load, on a cluster of this file's own (the
// shared one stays intact for the other files). Its replica takes over; the fleet must carry on by itself:
// the API answers 503 (never 500) while the slots are down, every 202-accepted event is delivered, and
// delivery resumes within 15 s of the promotion.
const run = promisify(execFile);
const key = generateApnsKey({ keyId: 'FAILOVER12', teamId: '39JSDKGJ38' });
const INTERNAL = 'internal-token-failover-0123456789';
const SECRET = 'f'.repeat(40);
const PARTITIONS = 3;
let cluster: ThrowawayCluster;
let sandbox: Sandbox;
const procs: FleetProcess[] = [];

beforeAll(async () => {
  [cluster, sandbox] = await Promise.all([
    startRedisCluster(),
    startSandbox({ apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] }),
  ]);
}, 30_000);
afterAll(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await sandbox?.close();
  await cluster?.stop();
});

/** CLUSTER NODES as seen by one live node: master port of each slot, and which nodes are masters. */
async function slotMaster(port: number, slot: number): Promise<number | undefined> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'nodes']);
  for (const line of stdout.trim().split('\n')) {
    const f = line.split(' ');
    if (!f[2].includes('master') || f[2].includes('fail') || f[7] !== 'connected') continue;
    for (const r of f.slice(8)) {
      const [a, b] = r.split('-').map(Number);
      if (slot >= a && slot <= (b ?? a)) return Number(f[1].split(':')[1].split('@')[0]);
    }
  }
  return undefined;
}

test('a master killed under load: 503 not 500 while its slots are down, nothing accepted is lost, recovery within 15 s', async () => {
  const prefix = uniquePrefix('failover');
  const pushAppsFile = writePushApps(key);
  const env = { REDIS_CLUSTER_NODES: cluster.nodesEnv, QUEUE_PARTITIONS: String(PARTITIONS), WORKER_STUCK_AFTER_MS: '3000', WORKER_PROBE_INTERVAL_MS: '500' };
  const api = await startApiProcess({ redisUrl: 'redis://127.0.0.1:1', prefix, pushAppsFile, jwtSecret: SECRET, internalToken: INTERNAL, env });
  procs.push(api);
  for (let i = 0; i < 2; i++) procs.push(await startApnsWorkerProcess({ redisUrl: 'redis://127.0.0.1:1', prefix, sandbox, pushAppsFile, env }));

  const users = await registerApnsUsers(api, 30, SECRET);

  // Load: one event a request, ~10 requests every 50 ms, each event naming its own fax id.
  const accepted = new Map<string, { token: string; at: number }>(); // fax id -> device, when accepted
  const statuses = new Map<number, number>();
  let stop = false;
  let n = 0;
  // Every user in turn (the owner watched for recovery below is one of them, whichever partition it is in).
  const post = async () => {
    const u = users[n % users.length];
    const fax = randomUUID();
    const body = JSON.stringify({ events: [{ id: `ev-${n++}`, message: 'fax_new', owner: u.owner, fax, phone: '+492215587412', page_count: 1 }] });
    try {
      const res = await fetch(`http://127.0.0.1:${api.port}/internal/events`, { method: 'POST', headers: { authorization: `Bearer ${INTERNAL}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000) });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) accepted.set(fax, { token: u.token, at: Date.now() });
    } catch {
      statuses.set(0, (statuses.get(0) ?? 0) + 1); // no answer in 5 s
    }
  };
  const load = (async () => {
    while (!stop) {
      await Promise.all(Array.from({ length: 10 }, () => post()));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const deliveredFaxes = () => new Set(sandbox.recorder.deliveries({ system: 'apns' }).filter((d) => d.status === 200).map((d) => (JSON.parse(d.body) as { fax: string }).fax));

  try {
    await waitFor(() => accepted.size >= 100 && deliveredFaxes().size >= 50, { timeoutMs: 20_000, what: 'load flowing' });
    // Kill the master of APNs partition 0's slot.
    const slot = Number((await run('redis-cli', ['-p', String(cluster.nodes[0].port), 'cluster', 'keyslot', `${prefix}:${partitionQueueName('apns', 0, PARTITIONS)}:wait`])).stdout.trim());
    const victimPort = (await slotMaster(cluster.nodes[0].port, slot))!;
    const victim = cluster.nodes.find((x) => x.port === victimPort)!;
    const survivor = cluster.nodes.find((x) => x.port !== victimPort)!;
    const killedAt = Date.now();
    victim.process.kill('SIGKILL');
    const promotedPort = await waitFor(async () => { const p = await slotMaster(survivor.port, slot); return p !== undefined && p !== victimPort ? p : undefined; }, { timeoutMs: 20_000, intervalMs: 100, what: 'the replica promoted' });
    const promotedAt = Date.now();
    // Recovery: an event of an owner in the failed partition, accepted after the promotion, is delivered.
    const owner = users.find((u) => partitionOf(u.owner, PARTITIONS) === 0)!;
    const recoveredAt = await waitFor(() => {
      for (const [fax, a] of accepted) if (a.token === owner.token && a.at > promotedAt && deliveredFaxes().has(fax)) return Date.now();
      return undefined;
    }, { timeoutMs: 30_000, intervalMs: 100, what: 'delivery of partition 0 resumed after the promotion' });
    stop = true;
    await load;
    // Everything accepted is delivered.
    await waitFor(() => { const d = deliveredFaxes(); return [...accepted.keys()].every((f) => d.has(f)); }, { timeoutMs: 40_000, intervalMs: 200, what: 'every accepted event delivered' }).catch(() => undefined);
    const delivered = deliveredFaxes();
    const lost = [...accepted.keys()].filter((f) => !delivered.has(f)).length;
    const promotionS = (promotedAt - killedAt) / 1000;
    const recoveryS = (recoveredAt - promotedAt) / 1000;
    const recreated = procs.flatMap((p) => p.logs).filter((l) => l.includes('recreating it')).length;
    const summary = `failover: promoted ${promotionS.toFixed(1)} s after the kill (port ${victimPort} -> ${promotedPort}), delivery resumed ${recoveryS.toFixed(1)} s after the promotion; accepted ${accepted.size}, lost ${lost}; HTTP statuses ${JSON.stringify(Object.fromEntries(statuses))}; stuck workers recreated ${recreated}`;
    console.log(summary);
    reportFigure('cluster failover recovery after promotion (s)', recoveryS);
    reportFigure('cluster failover events lost', lost);
    expect(lost).toBe(0);
    expect(statuses.get(500) ?? 0).toBe(0);
    expect([...statuses.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);
    expect(recoveryS).toBeLessThanOrEqual(15);
  } finally {
    stop = true;
    await load;
  }
}, 150_000);
