import type { ThrowawayRedis } from './redis-server';
import type { ThrowawayCluster } from '../../scripts/lib/redis-cluster';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as Record<string, unknown>;
  await Promise.all([(g.__pushfleetRedis as ThrowawayRedis | undefined)?.stop(), (g.__pushfleetCluster as ThrowawayCluster | undefined)?.stop()]);
}
