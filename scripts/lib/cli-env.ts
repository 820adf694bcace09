import fs from 'node:fs';
import { z } from 'zod';
import { Env, eventPolicies, keyPrefix, parseEnv, redisUrl } from '@pushfleet/config';
import type { Policies } from '@pushfleet/events';

/**
 * The operator CLI's whole configuration, from the environment (and, when REDIS_URL is not set, from the
 * file `npm start` writes for the fleet it runs, `.pushfleet/env`):
 *
 *   REDIS_URL          default: the running `npm start` fleet's (.pushfleet/env), else
 *                      redis://127.0.0.1:6379 (the Redis the fleet uses)
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
  /** Where the Redis settings came from: `REDIS_URL`, the fleet env file's path, or `default`. */
  source: string;
}

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
    if (m && (m[1] === 'REDIS_URL' || m[1] === 'PUSHFLEET_PREFIX')) vars[m[1]] = m[2].trim();
  }
  return vars;
}

/**
 * Throws ConfigError listing every bad variable. Without REDIS_URL in `env`, the running fleet's settings
 * from `fleetEnvFile` (REDIS_URL and PUSHFLEET_PREFIX, unless the environment sets the prefix) apply.
 */
export function loadCliEnv(env: Env, fleetEnvFile?: string): CliEnv {
  const fleet = env.REDIS_URL || !fleetEnvFile ? {} : readFleetEnvFile(fleetEnvFile);
  const e = parseEnv(cliEnvSchema, { ...fleet, ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')) });
  const source = env.REDIS_URL ? 'REDIS_URL' : fleet.REDIS_URL ? fleetEnvFile! : 'default';
  return { redisUrl: e.REDIS_URL, prefix: e.PUSHFLEET_PREFIX, policies: e.EVENT_POLICIES, source };
}

/** host:port of a Redis URL (never its user or password), for saying which Redis the CLI talks to. */
export function redisHostPort(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return '?';
  }
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
