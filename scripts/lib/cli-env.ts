import { z } from 'zod';
import { Env, eventPolicies, keyPrefix, parseEnv, redisUrl } from '@pushfleet/config';
import type { Policies } from '@pushfleet/events';

/**
 * The operator CLI's whole configuration, from the environment only:
 *
 *   REDIS_URL          default redis://127.0.0.1:6379 (the Redis the fleet uses)
 *   PUSHFLEET_PREFIX   default pushfleet: the key prefix of the queues and the registry
 *                      (queues `<prefix>:{apns}:*`, registry `<prefix>:{registry}:*`)
 *   EVENT_POLICIES     optional, the workers' per-event TTL overrides (JSON), so the CLI can tell which
 *                      dead-lettered events are past their TTL
 */
export const cliEnvSchema = z.object({
  REDIS_URL: redisUrl,
  PUSHFLEET_PREFIX: keyPrefix,
  EVENT_POLICIES: eventPolicies,
});

export interface CliEnv {
  redisUrl: string;
  prefix: string;
  policies: Policies;
}

/** Throws ConfigError listing every bad variable. */
export function loadCliEnv(env: Env): CliEnv {
  const e = parseEnv(cliEnvSchema, env);
  return { redisUrl: e.REDIS_URL, prefix: e.PUSHFLEET_PREFIX, policies: e.EVENT_POLICIES };
}

/** The URL without its password, for messages. */
export function safeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'redis://?';
  }
}
