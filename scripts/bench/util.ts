// Small helpers shared by scripts/bench/main.ts and scripts/bench/baseline.ts.
import type { Redis } from 'ioredis';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs` until it holds; throws with `what` when `timeoutMs` passes first. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string), everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` calls outstanding. */
export async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** CPU seconds (user + system) of this process. */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** One field of `INFO <section>` as a number. */
export async function redisInfoNumber(redis: Redis, section: string, field: string): Promise<number> {
  const info = await redis.info(section);
  const m = new RegExp(`^${field}:([0-9.]+)`, 'm').exec(info);
  if (!m) throw new Error(`INFO ${section} has no ${field}`);
  return Number(m[1]);
}

/**
 * Bytes Redis holds for data: INFO used_memory less the client buffers (mem_clients_normal), which come
 * and go with the traffic of the moment. Read after a short pause so replies in flight have drained.
 */
export async function redisDataBytes(redis: Redis): Promise<number> {
  await sleep(100);
  const info = await redis.info('memory');
  const get = (f: string) => Number(new RegExp(`^${f}:([0-9]+)`, 'm').exec(info)?.[1] ?? NaN);
  return get('used_memory') - get('mem_clients_normal');
}

/** Redis CPU seconds so far (used_cpu_user + used_cpu_sys of INFO cpu). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (f: string) => Number(new RegExp(`^${f}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return get('used_cpu_user') + get('used_cpu_sys');
}

/** Sum of a Prometheus counter/gauge over all its series in an exposition text. */
export function promValue(text: string, name: string): number {
  let sum = 0;
  let found = false;
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? ([^\\s]+)`, 'gm');
  for (let m = re.exec(text); m; m = re.exec(text)) {
    sum += Number(m[1]);
    found = true;
  }
  return found ? sum : NaN;
}

/** One metric of a pushfleet process's /metrics, summed over its series. */
export async function scrapeMetric(metricsUrl: string, name: string): Promise<number> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`${metricsUrl} answered ${res.status}`);
  const v = promValue(await res.text(), name);
  if (!Number.isFinite(v)) throw new Error(`${metricsUrl} has no ${name}`);
  return v;
}

/** CPU seconds of a pushfleet process from its /metrics (pushfleet_process_cpu_seconds_total). */
export const scrapeCpuSeconds = (metricsUrl: string): Promise<number> => scrapeMetric(metricsUrl, 'pushfleet_process_cpu_seconds_total');

/** Rounds to `digits` significant-ish decimals for display and JSON. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The last line of `out` that parses as a JSON object. */
export function lastJsonLine<T>(out: string): T {
  const lines = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]) as T;
    } catch {
      // not this one
    }
  }
  throw new Error(`no JSON line in output: ${out.slice(-500)}`);
}
