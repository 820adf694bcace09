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
