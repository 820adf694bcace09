import { randomBytes } from 'node:crypto';

/** The URL of the redis-server the Jest global setup started (never a Redis the run did not start). */
export function testRedisUrl(): string {
  const url = process.env.PUSHFLEET_TEST_REDIS_URL;
  if (!url) throw new Error('PUSHFLEET_TEST_REDIS_URL is not set: run the tests through jest (global setup starts redis-server)');
  return url;
}

/** A fresh hash-tag-free key prefix so test files never see each other's keys. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(4).toString('hex')}`;
}

/** Polls `check` until it returns a truthy value or the deadline passes (no bare sleeps in tests). */
type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export async function waitFor<T>(check: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<Truthy<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as Truthy<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}

/**
 * Records a figure the reliability suite measured (duplicates, recovery times, bodies tried) so
 * docs/reliability.md can quote real numbers: appended as JSON lines to $PUSHFLEET_FIGURES when set.
 */
export function reportFigure(name: string, value: number | string): void {
  const file = process.env.PUSHFLEET_FIGURES;
  if (!file) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('node:fs').appendFileSync(file, `${JSON.stringify({ name, value, at: new Date().toISOString() })}\n`);
}

/** Seed nodes (`host:port,...`) of the Redis Cluster the Jest global setup started. */
export function testRedisClusterNodes(): string {
  const nodes = process.env.PUSHFLEET_TEST_REDIS_CLUSTER_NODES;
  if (!nodes) throw new Error('PUSHFLEET_TEST_REDIS_CLUSTER_NODES is not set: run the tests through jest (global setup starts the cluster)');
  return nodes;
}
