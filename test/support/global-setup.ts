import { startRedis } from './redis-server';
import { startRedisCluster } from '../../scripts/lib/redis-cluster';

// One throwaway redis-server and one throwaway Redis Cluster (3 masters + 3 replicas) for the whole run;
// each test file uses its own key prefix on them.
export default async function globalSetup(): Promise<void> {
  const [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  process.env.PUSHFLEET_TEST_REDIS_URL = redis.url;
  process.env.PUSHFLEET_TEST_REDIS_CLUSTER_NODES = cluster.nodesEnv;
  (globalThis as Record<string, unknown>).__pushfleetRedis = redis;
  (globalThis as Record<string, unknown>).__pushfleetCluster = cluster;
}
