import fs from 'node:fs';
import { z } from 'zod';
import { describeRedis, Env, eventPolicies, keyPrefix, parseEnv, redisConnection, RedisConnection, redisEnv } from '@pushfleet/config';
import type { Policies } from '@pushfleet/events';

/**
 * The operator CLI's whole configuration, from the environment (and, when neither REDIS_URL nor
 * REDIS_CLUSTER_NODES is set, from the file `npm start` writes for the fleet it runs, `.pushfleet/env`):
 *
 *   REDIS_URL          default: the running `npm start` fleet's (.pushfleet/env), else
 *                      redis://127.0.0.1:6379 (the Redis the fleet uses); or REDIS_CLUSTER_NODES and
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
  /** Where the Redis settings came from: `REDIS_URL`, `REDIS_CLUSTER_NODES`, the fleet env file's path, or `default`. */
  source: string;
}

/** The variables the fleet env file may carry: the Redis connection and the key prefix. */
const FLEET_FILE_VARS = new Set([...Object.keys(redisEnv), 'PUSHFLEET_PREFIX']);

/** `KEY=value` lines (comments and blank lines skipped) of the file `npm start` writes; {} when absent. */
export function readFleetEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m && FLEET_FILE_VARS.has(m[1])) vars[m[1]] = m[2].trim();
  }
  return vars;
}

/**
 * Throws ConfigError listing every bad variable. Without REDIS_URL or REDIS_CLUSTER_NODES in `env`, the
 * running fleet's settings from `fleetEnvFile` apply (the environment still wins for each variable it sets).
 */
export function loadCliEnv(env: Env, fleetEnvFile?: string): CliEnv {
  const fromEnv = Boolean(env.REDIS_URL || env.REDIS_CLUSTER_NODES);
  const fleet = fromEnv || !fleetEnvFile ? {} : readFleetEnvFile(fleetEnvFile);
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const e = parseEnv(cliEnvSchema, { ...fleet, ...set });
  const source = fromEnv ? (env.REDIS_CLUSTER_NODES ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL') : Object.keys(fleet).length > 0 ? fleetEnvFile! : 'default';
  return { redis: redisConnection(e), prefix: e.PUSHFLEET_PREFIX, policies: e.EVENT_POLICIES, source };
}

/** Where the CLI connects, without a password, for messages. */
export const safeRedisTarget = (c: RedisConnection): string => describeRedis(c);
