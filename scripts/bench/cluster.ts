// bench --cluster: the same fleet (API + both workers as processes, the sandbox) once on a standalone
// Redis and once on a local Redis Cluster (3 masters + 3 replicas, QUEUE_PARTITIONS = 3 per system), in
// one run, so the figures sit side by side; plus, per cluster master, keys, memory and commands
// (INFO keyspace / memory / commandstats), which show how the load spreads.
import { Cluster, Redis } from 'ioredis';
import { TokenRegistry } from '@pushfleet/registry';
import { loadRedisEnv } from '@pushfleet/config';
import { createRedisClient } from '@pushfleet/observability';
import { startRedisCluster } from '../lib/redis-cluster';
import { startRedis, ThrowawayRedis } from '../lib/redis-server';
import { benchEvents, benchUsers } from './data';
import { BENCH_PREFIX, registerUsers, startFleet } from './fleet';
import { pool, round, waitUntil } from './util';

export interface ClusterBenchArgs { users: number; events: number; verbose: boolean }

interface NodeFigures { node: string; keys: number; usedMemory: number; commands: number; topCommands: string }
interface ModeFigures {
  mode: 'standalone' | 'cluster';
  registrationsPerSecond: number;
  redisBytesPerToken: number;
  deliveriesPerSecond: number;
  nodes: NodeFigures[];
}

type Closer = { add(name: string, close: () => Promise<void>): void; closeAll(): Promise<void> };
const closer = (): Closer => {
  const stack: (() => Promise<void>)[] = [];
  return {
    add: (_name, close) => { stack.push(close); },
    async closeAll() { while (stack.length) await stack.pop()!().catch(() => undefined); },
  };
};

const infoField = (info: string, field: string): number => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);

/** Keys, used memory and command calls of one node, from INFO keyspace / memory / commandstats. */
async function nodeFigures(name: string, node: Redis): Promise<NodeFigures> {
  const [keyspace, memory, stats] = await Promise.all([node.info('keyspace'), node.info('memory'), node.info('commandstats')]);
  const keys = [...keyspace.matchAll(/keys=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  const calls = [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => ({ cmd: m[1], calls: Number(m[2]) })).sort((a, b) => b.calls - a.calls);
  return {
    node: name, keys, usedMemory: infoField(memory, 'used_memory'), commands: calls.reduce((n, c) => n + c.calls, 0),
    topCommands: calls.slice(0, 4).map((c) => `${c.cmd}=${c.calls}`).join(' '),
  };
}

async function runMode(mode: ModeFigures['mode'], a: ClusterBenchArgs): Promise<ModeFigures> {
  const res = closer();
  try {
    let standalone: ThrowawayRedis | undefined;
    let nodes: { name: string; client: Redis }[];
    let redisEnv: Record<string, string>;
    let seedRedis: ThrowawayRedis;
    let registryClient: Redis | Cluster;
    if (mode === 'cluster') {
      const cluster = await startRedisCluster();
      res.add('cluster', () => cluster.stop());
      const client = createRedisClient(loadRedisEnv({ REDIS_CLUSTER_NODES: cluster.nodesEnv })) as Cluster;
      res.add('cluster client', async () => client.disconnect());
      await client.ping();
      // Registry moves WAIT for a replica: start once every replica has finished its first sync.
      await waitUntil(async () => (await Promise.all(client.nodes('slave').map((n) => n.info('replication')))).every((i) => /master_link_status:up/.test(i) && !/master_sync_in_progress:1/.test(i)), 20_000, 'replicas in sync', 50);
      registryClient = client;
      nodes = client.nodes('master').map((n) => ({ name: `${n.options.host}:${n.options.port}`, client: n }));
      redisEnv = { REDIS_CLUSTER_NODES: cluster.nodesEnv, QUEUE_PARTITIONS: '3' };
      seedRedis = cluster.nodes[0];
    } else {
      standalone = await startRedis({ persist: false });
      res.add('redis', () => standalone!.stop());
      const client = new Redis(standalone.url);
      res.add('redis client', async () => client.disconnect());
      nodes = [{ name: 'standalone', client }];
      registryClient = client;
      redisEnv = { REDIS_URL: standalone.url };
      seedRedis = standalone;
    }
    for (const n of nodes) await n.client.config('RESETSTAT');
    const fleet = await startFleet({ redis: seedRedis, redisEnv, verbose: a.verbose, onResource: (name, close) => res.add(name, close) });
    const used = async () => (await Promise.all(nodes.map(async (n) => infoField(await n.client.info('memory'), 'used_memory_dataset')))).reduce((x, y) => x + y, 0);
    const users = benchUsers(`cluster-${mode}`, a.users);
    // Warm-up, one at a time: every process's connections to every node open before the timed part.
    await registerUsers(fleet, benchUsers(`warm-${mode}`, 30), 1);
    const mem0 = await used();
    const reg = await registerUsers(fleet, users, 8); // 8 in flight: 32 made the API's 1 s command timeout fire on the cluster on this shared 2-core box
    const bytesPerToken = Math.round(((await used()) - mem0) / (2 * a.users));

    const events = benchEvents(`cluster-${mode}`, a.events, users);
    const before = fleet.sandbox.recorder.totals();
    const delivered = () => { const t = fleet.sandbox.recorder.totals(); return t.apns - before.apns + t.fcm - before.fcm + t.gcm - before.gcm; };
    const expected = 2 * a.events; // one APNs token and one FCM registration per user (warm-up users get no events)
    const t0 = performance.now();
    const batches = Math.ceil(events.length / 1000);
    await pool(batches, 2, async (i) => {
      const r = await fetch(`${fleet.apiUrl}/internal/events`, {
        method: 'POST', headers: { authorization: `Bearer ${fleet.secrets.internalToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: events.slice(i * 1000, (i + 1) * 1000) }),
      });
      if (r.status !== 202) throw new Error(`POST /internal/events answered ${r.status}`);
    });
    await waitUntil(() => delivered() >= expected, 120_000 + a.events * 20, () => `${delivered()} of ${expected} deliveries`, 20);
    const seconds = (performance.now() - t0) / 1000;
    const owners = await new TokenRegistry(registryClient, { prefix: BENCH_PREFIX }).indexedTokens();
    if (owners !== 2 * (a.users + 30)) throw new Error(`${mode}: the registry holds ${owners} tokens, expected ${2 * (a.users + 30)}`);
    return {
      mode,
      registrationsPerSecond: Math.round(reg.requests / reg.seconds),
      redisBytesPerToken: bytesPerToken,
      deliveriesPerSecond: Math.round(expected / seconds),
      nodes: await Promise.all(nodes.map((n) => nodeFigures(n.name, n.client))),
    };
  } finally {
    await res.closeAll();
  }
}

/** Runs standalone then cluster, prints both and the per-node spread; returns the figures. */
export async function runClusterBench(a: ClusterBenchArgs): Promise<ModeFigures[]> {
  const out: ModeFigures[] = [];
  for (const mode of ['standalone', 'cluster'] as const) {
    console.log(`[bench] --cluster: ${mode}, ${a.users} users x 2 tokens, ${a.events} events`);
    out.push(await runMode(mode, a));
  }
  console.log('\nmode        registrations/s  bytes/token  deliveries/s');
  for (const m of out) console.log(`${m.mode.padEnd(12)}${String(m.registrationsPerSecond).padStart(15)}  ${String(m.redisBytesPerToken).padStart(11)}  ${String(m.deliveriesPerSecond).padStart(12)}`);
  console.log('\nper node (cluster: masters): keys, used memory, commands (top 4)');
  for (const m of out) for (const n of m.nodes) console.log(`${m.mode.padEnd(11)} ${n.node.padEnd(16)} keys=${n.keys} used_memory=${round(n.usedMemory / 1048576, 1)}MiB commands=${n.commands} ${n.topCommands}`);
  return out;
}
