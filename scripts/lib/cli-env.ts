import { z } from 'zod';
import { describeRedis, Env, eventPolicies, keyPrefix, parseEnv, redisConnection, RedisConnection, redisEnv } from '@pushfleet/config';
import type { Policies } from '@pushfleet/events';

/**
 * The operator CLI's whole configuration, from the environment only:
 *
 *   REDIS_URL          default redis://127.0.0.1:6379 (the Redis the fleet uses); or REDIS_CLUSTER_NODES and
 *                      the other Redis variables of the fleet (README "Redis connection")
 *   PUSHFLEET_PREFIX   default pushfleet: the key prefix of the queues and the registry
 *                      (queues `<prefix>:{apns}:*`, registry `<prefix>:{u…}`, `<prefix>:{o…}`)
 *   EVENT_POLICIES     optional, the workers' per-event TTL overrides (JSON), so the CLI can tell which
 *                      dead-lettered events are past their TTL
 */
export const cliEnvSchema = z.object({
  ...redisEnv,
  PUSHFLEET_PREFIX: keyPrefix,
  EVENT_POLICIES: eventPolicies,
});

export interface CliEnv {
  redis: RedisConnection;
  prefix: string;
  policies: Policies;
}

/** Throws ConfigError listing every bad variable. */
export function loadCliEnv(env: Env): CliEnv {
  const e = parseEnv(cliEnvSchema, env);
  return { redis: redisConnection(e), prefix: e.PUSHFLEET_PREFIX, policies: e.EVENT_POLICIES };
}

/** Where the CLI connects, without a password, for messages. */
export const safeRedisTarget = (c: RedisConnection): string => describeRedis(c);
