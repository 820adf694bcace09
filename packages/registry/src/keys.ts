import { createHash } from 'node:crypto';

/**
 * Registry key schema (docs/redis-keys.md). Sharded for Redis Cluster: a user's entries live in their user
 * bucket's slot, a token's owner record in its index bucket's slot, and no key is global.
 *
 *   <prefix>:{u<n>}   hash  field <userId> -> that user's entry lines (scripts.ts)
 *   <prefix>:{o<n>}   hash  field <12-byte digest of system + token> -> claim record (version, owner, dirty users)
 *
 * <n> is a bucket number (hex) out of REGISTRY_BUCKETS: many users (and many tokens) share one small hash,
 * which Redis keeps in its compact listpack encoding: that is what keeps a token under 250 B.
 */
import type { PushSystem } from '@pushfleet/events';

/** The registry's name for a push system (the events package's). */
export type TokenSystem = PushSystem;

export const SYSTEM_TAG: Record<PushSystem, string> = { apns: 'a', gcm: 'g' };

/** The registry's buckets per kind unless configured (REGISTRY_BUCKETS). */
export const DEFAULT_BUCKETS = 256;

export interface RegistryKeys {
  prefix: string;
  buckets: number;
  /** The user bucket (hash) that holds the user's entries under the field `userId`. */
  user(userId: string): string;
  /** The owner-index bucket and field of a token. */
  index(system: TokenSystem, token: string): { key: string; field: Buffer };
  /** Every user bucket / index bucket key (migration, inspection). */
  allUserBuckets(): string[];
  allIndexBuckets(): string[];
}

function bucketOf(digest: Buffer, buckets: number): string {
  return (digest.readUInt32BE(0) % buckets).toString(16);
}

export function registryKeys(prefix = 'pushfleet', buckets = DEFAULT_BUCKETS): RegistryKeys {
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1 << 20) throw new Error('registry buckets must be a whole number from 1 to 1048576');
  const range = (kind: string) => Array.from({ length: buckets }, (_, i) => `${prefix}:{${kind}${i.toString(16)}}`);
  return {
    prefix,
    buckets,
    user: (userId: string) => `${prefix}:{u${bucketOf(createHash('sha256').update(`u:${userId}`).digest(), buckets)}}`,
    index(system: TokenSystem, token: string) {
      const d = createHash('sha256').update(`${SYSTEM_TAG[system]}:${token}`).digest();
      return { key: `${prefix}:{o${bucketOf(d, buckets)}}`, field: d.subarray(4, 16) };
    },
    allUserBuckets: () => range('u'),
    allIndexBuckets: () => range('o'),
  };
}

/** The single-slot layout before sharding (read by `registry migrate` only). */
export function legacyRegistryKeys(prefix = 'pushfleet'): { owners: string; user(userId: string): string } {
  return { owners: `${prefix}:{registry}:owners`, user: (userId: string) => `${prefix}:{registry}:u:${userId}` };
}
