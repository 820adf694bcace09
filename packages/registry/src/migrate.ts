import { legacyRegistryKeys } from './keys';
import type { RedisClient, TokenRegistry } from './registry';

export interface MigrationReport {
  /** Tokens the old `owners` hash listed. */
  seen: number;
  /** Copied into the sharded layout now. */
  copied: number;
  /** Already registered in the sharded layout (by this run before, or re-registered since): left alone. */
  present: number;
  /** Listed in `owners` without an entry in the owner's old hash (nothing to copy). */
  orphaned: number;
  /** Distinct users among the copied tokens. */
  users: number;
}

/**
 * Copies a registry from the single-slot layout (`<prefix>:{registry}:u:<user>`, `<prefix>:{registry}:owners`)
 * into the sharded one, keeping each entry's registered_at. Idempotent: a token the sharded layout already
 * knows is skipped, so running it again copies nothing and never moves a token that was re-registered
 * since. The old keys are left as they are (delete them once the fleet runs on the new layout).
 */
export async function migrateLegacyRegistry(redis: RedisClient, registry: TokenRegistry, prefix: string, onProgress?: (r: MigrationReport) => void): Promise<MigrationReport> {
  const legacy = legacyRegistryKeys(prefix);
  const report: MigrationReport = { seen: 0, copied: 0, present: 0, orphaned: 0, users: 0 };
  const users = new Set<string>();
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(legacy.owners, cursor, 'COUNT', 500);
    cursor = next;
    const pairs: [string, string][] = [];
    for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
    await Promise.all(pairs.map(async ([field, owner]) => {
      report.seen++;
      const outcome = await copyOne(redis, registry, legacy.user(owner), field, owner);
      report[outcome]++;
      if (outcome === 'copied') users.add(owner);
    }));
    report.users = users.size;
    onProgress?.(report);
  } while (cursor !== '0');
  return report;
}

async function copyOne(redis: RedisClient, registry: TokenRegistry, oldUserKey: string, field: string, owner: string): Promise<'copied' | 'present' | 'orphaned'> {
  const value = await redis.hget(oldUserKey, field);
  if (value === null) return 'orphaned';
  const system = field.startsWith('a:') ? 'apns' : 'gcm';
  const token = field.slice(2);
  if ((await registry.ownerOf(system, token)) !== null) return 'present';
  const [at, applicationId, sandbox, topic] = value.split('|');
  if (system === 'gcm') await registry.addGcm(owner, token, Number(at));
  else await registry.addApns(owner, { deviceToken: token, applicationId, sandbox: sandbox === '1', ...(topic ? { apnsTopic: topic } : {}) }, Number(at));
  return 'copied';
}
