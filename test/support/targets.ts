import type { Cluster, Redis } from 'ioredis';
import { loadRedisEnv, RedisConnection } from '@pushfleet/config';
import { testRedisClusterNodes, testRedisUrl } from './env';

/** The two Redis deployments a parametrised suite runs on: `describe.each(redisTargets())('... (%s)', ...)`. */
export interface RedisTarget {
  name: 'standalone' | 'cluster';
  /** The environment a process would get (REDIS_URL or REDIS_CLUSTER_NODES). */
  env: Record<string, string>;
  connection: RedisConnection;
  toString(): string;
}

export function redisTargets(): RedisTarget[] {
  const make = (name: RedisTarget['name'], env: Record<string, string>): RedisTarget => ({ name, env, connection: loadRedisEnv(env), toString: () => name });
  return [make('standalone', { REDIS_URL: testRedisUrl() }), make('cluster', { REDIS_CLUSTER_NODES: testRedisClusterNodes() })];
}

let current: RedisTarget['name'] = 'standalone';

/**
 * Runs a whole test file on the cluster: a `<name>.cluster.test.ts` calls this, then requires the
 * standalone file, so both share one body and helpers such as startTestApi pick the target up.
 */
export function useRedisTarget(name: RedisTarget['name']): void {
  current = name;
}

export function currentRedisTarget(): RedisTarget {
  return redisTargets().find((t) => t.name === current)!;
}

/** KEYS on every master (a cluster's KEYS answers for one node only). Tests only. */
export async function allKeys(redis: Redis | Cluster, pattern: string): Promise<string[]> {
  const nodes = (redis as Cluster).isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
  return (await Promise.all(nodes.map((n) => n.keys(pattern)))).flat();
}
