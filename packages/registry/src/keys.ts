/**
 * Registry key schema (docs/redis-keys.md). Every registry key carries the hash tag {registry}: the
 * ownership move (token leaves user A, joins user B, reverse index updated) is one Lua script, and Redis
 * Cluster only runs a script whose keys share a slot. Each user's entries live in one hash.
 *
 *   pushfleet:{registry}:u:<userId>   hash  field "a:<device token>" -> "<registeredAtMs>|<application_id>|<sandbox 0|1>|<apns_topic>"
 *                                           field "g:<registration id>" -> "<registeredAtMs>"
 *   pushfleet:{registry}:owners       hash  field "a:<token>" / "g:<id>" -> <userId>
 */
import type { PushSystem } from '@pushfleet/events';

export const SYSTEM_TAG: Record<PushSystem, string> = { apns: 'a', gcm: 'g' };

export interface RegistryKeys {
  userPrefix: string;
  owners: string;
  rateLimitPrefix: string;
  user(userId: string): string;
}

export function registryKeys(prefix = 'pushfleet'): RegistryKeys {
  const base = `${prefix}:{registry}:`;
  return {
    userPrefix: `${base}u:`,
    owners: `${base}owners`,
    rateLimitPrefix: `${base}rl:`,
    user: (userId: string) => `${base}u:${userId}`,
  };
}
