import { Cluster, Redis } from 'ioredis';
import { loadRedisEnv } from '@pushfleet/config';
import { createRedisClient, RedisClient } from '@pushfleet/observability';
import { TokenRegistry } from './registry';
import { benchUsers } from '../../../scripts/bench/data';
import { DEMO_APP_ID } from '../../../scripts/lib/demo-config';
import { startRedis, ThrowawayRedis } from '../../../scripts/lib/redis-server';
import { startRedisCluster, ThrowawayCluster } from '../../../scripts/lib/redis-cluster';
import { reportFigure } from '../../../test/support/env';

// Redis bytes per registered token, the bench's way (used_memory minus client buffers, before and after,
// divided by the tokens registered): the bench's users (one 64-hex APNs token and one 163-character FCM
// registration id each), the default bucket count. On Redis servers of its own, so no other test's keys
// count. The budget is 250 B per token (issue 13); docs/redis-keys.md says where the bytes go.
const USERS = 5000;
const BUDGET = 250;

async function dataBytes(nodes: Redis[]): Promise<number> {
  let sum = 0;
  for (const n of nodes) {
    const info = await n.info('memory');
    const get = (f: string) => Number(new RegExp(`^${f}:([0-9]+)`, 'm').exec(info)?.[1] ?? NaN);
    sum += get('used_memory') - get('mem_clients_normal');
  }
  return sum;
}

async function bytesPerToken(client: RedisClient, nodes: () => Redis[]): Promise<number> {
  const registry = new TokenRegistry(client, { prefix: 'pushfleet' });
  const users = benchUsers('memory-test', USERS);
  const before = await dataBytes(nodes());
  for (let i = 0; i < users.length; i += 500) {
    await Promise.all(users.slice(i, i + 500).flatMap((u) => [
      registry.addApns(u.userId, { deviceToken: u.apnsToken, applicationId: DEMO_APP_ID, sandbox: true }),
      registry.addGcm(u.userId, u.gcmId),
    ]));
  }
  const after = await dataBytes(nodes());
  const sample = await registry.entries(users[7].userId);
  expect([sample.apns.length, sample.gcm.length]).toEqual([1, 1]);
  return (after - before) / (2 * USERS);
}

describe('Redis bytes per registered token', () => {
  let redis: ThrowawayRedis | undefined;
  let cluster: ThrowawayCluster | undefined;
  afterAll(async () => { await Promise.all([redis?.stop(), cluster?.stop()]); });

  test(`standalone: at most ${BUDGET} B`, async () => {
    redis = await startRedis();
    const client = new Redis(redis.url);
    try {
      const b = await bytesPerToken(client, () => [client]);
      reportFigure('registry_bytes_per_token_standalone', Math.round(b));
      expect(b).toBeLessThanOrEqual(BUDGET);
    } finally {
      client.disconnect();
    }
  });

  test(`cluster (3 masters): at most ${BUDGET} B, summed over the masters`, async () => {
    cluster = await startRedisCluster({ replicas: 0 });
    const client = createRedisClient(loadRedisEnv({ REDIS_CLUSTER_NODES: cluster.nodesEnv })) as Cluster;
    try {
      await client.ping();
      const b = await bytesPerToken(client, () => client.nodes('master'));
      reportFigure('registry_bytes_per_token_cluster', Math.round(b));
      expect(b).toBeLessThanOrEqual(BUDGET);
    } finally {
      client.disconnect();
    }
  });
});
