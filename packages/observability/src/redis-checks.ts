import type { Cluster, Redis } from 'ioredis';
import { Gauge, Registry } from 'prom-client';
import type { Logger } from 'pino';

/** BullMQ 6 needs Redis 6.2 or later (it uses commands added in 6.2). */
export const MIN_REDIS_VERSION = '6.2.0';

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

export class RedisTooOldError extends Error {}

/**
 * Start-up check shared by every process: refuse a Redis older than BullMQ needs, and warn loudly (and
 * expose pushfleet_redis_eviction_policy_ok 0) unless maxmemory-policy is noeviction, since eviction
 * silently drops queued jobs and registry entries.
 */
export async function checkRedis(redis: Redis | Cluster, logger: Logger, registry?: Registry): Promise<{ version: string; maxmemoryPolicy: string }> {
  const info = await redis.info('server');
  const version = /redis_version:([0-9.]+)/.exec(info)?.[1] ?? '0.0.0';
  if (!versionAtLeast(version, MIN_REDIS_VERSION)) {
    throw new RedisTooOldError(`Redis ${version} is too old: pushfleet needs Redis >= ${MIN_REDIS_VERSION}`);
  }
  let policy = 'unknown';
  try {
    const res = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = res[1] ?? 'unknown';
  } catch {
    // Managed Redis often forbids CONFIG; we cannot tell, so we say so.
  }
  const ok = policy === 'noeviction';
  if (!ok) {
    logger.warn({ maxmemoryPolicy: policy }, 'Redis maxmemory-policy is not noeviction: queued events and registered tokens can be evicted silently. Set maxmemory-policy noeviction.');
  }
  if (registry) {
    const gauge = new Gauge({ name: 'pushfleet_redis_eviction_policy_ok', help: '1 when Redis maxmemory-policy is noeviction, else 0', registers: [registry] });
    gauge.set(ok ? 1 : 0);
  }
  return { version, maxmemoryPolicy: policy };
}
