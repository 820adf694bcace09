import type { RedisOptions } from 'ioredis';

/**
 * The API must answer 503 within a second when Redis is down, never hang: no offline queue, one try per
 * command, a command timeout, and reconnects in the background every ≤ 500 ms.
 */
export function apiRedisOptions(): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1000,
    connectTimeout: 1000,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 100, 500),
  };
}
