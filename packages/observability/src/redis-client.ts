import { Cluster, Redis, RedisOptions } from 'ioredis';
import type { RedisConnection } from '@pushfleet/config';

export type RedisClient = Redis | Cluster;

/**
 * The one place a process creates a Redis client: a single-endpoint `Redis` for REDIS_URL, or the ioredis
 * `Cluster` client for REDIS_CLUSTER_NODES, with the same credentials, TLS and per-role options either way.
 * `options` are the role's (API: fail fast; workers: maxRetriesPerRequest null, as BullMQ needs).
 * On a cluster, reads stay on the masters (scaleReads "master", the default): a registry read right after
 * a move must see it, and a replica may lag.
 */
export function createRedisClient(c: RedisConnection, options: RedisOptions = {}): RedisClient {
  const auth = {
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(c.tls || c.tlsCa ? { tls: c.tlsCa ? { ca: [c.tlsCa] } : {} } : {}),
  };
  if (c.kind === 'standalone') return new Redis(c.url, { ...options, ...auth });
  const { lazyConnect, enableOfflineQueue, enableAutoPipelining, retryStrategy, ...node } = options;
  return new Cluster(c.nodes, {
    lazyConnect,
    enableOfflineQueue,
    enableAutoPipelining,
    clusterRetryStrategy: retryStrategy ? (n: number) => retryStrategy(n) : undefined,
    natMap: c.natMap,
    // Slots move during a failover: retry there rather than fail at once.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    redisOptions: { ...node, ...auth },
  });
}

/** A second client to the same Redis (or cluster) with the same options. */
export function duplicateRedisClient(client: RedisClient): RedisClient {
  return client.duplicate() as RedisClient;
}
