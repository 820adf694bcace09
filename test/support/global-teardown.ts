import type { ThrowawayRedis } from './redis-server';

export default async function globalTeardown(): Promise<void> {
  const redis = (globalThis as Record<string, unknown>).__pushfleetRedis as ThrowawayRedis | undefined;
  await redis?.stop();
}
