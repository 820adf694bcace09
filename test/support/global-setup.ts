import { startRedis } from './redis-server';

// One throwaway redis-server for the whole run; each test file uses its own key prefix on it.
export default async function globalSetup(): Promise<void> {
  const redis = await startRedis();
  process.env.PUSHFLEET_TEST_REDIS_URL = redis.url;
  (globalThis as Record<string, unknown>).__pushfleetRedis = redis;
}
