// Phases of `npm run bench` that need a fleet in a particular state: a large registry, a large backlog,
// and the API with its workers stopped. Each measures pushfleet and its comparison in the same run.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { PUSH_SYSTEMS, PushEvent } from '@pushfleet/events';
import { TokenRegistry } from '@pushfleet/registry';
import { ROOT } from '../lib/processes';
import { DEMO_APP_ID } from '../lib/demo-config';
import { BENCH_PREFIX } from './fleet';
import { benchEvents } from './data';
import { closedLoop, keepAliveAgent, LoadResult } from './http-load';
import { lastJsonLine, pool, redisCpuSeconds, round, scrapeCpuSeconds, waitUntil } from './util';
import type { Ctx } from './main';

/** Adds `n` APNs tokens of `n` other users straight through the registry (setup, not measured). */
export async function fillRegistry(ctx: Ctx, n: number): Promise<number> {
  const redis = new Redis(ctx.fleet.redis.url, { maxRetriesPerRequest: 1 });
  const registry = new TokenRegistry(redis, { prefix: BENCH_PREFIX });
  const t0 = performance.now();
  try {
    await pool(n, 500, async (i) => {
      const token = (BigInt(i) + 1n).toString(16).padStart(64, 'e');
      await registry.addApns(randomUUID(), { deviceToken: token, applicationId: DEMO_APP_ID, sandbox: true });
    });
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return round((performance.now() - t0) / 1000);
}

/** Publishes through the producer in-process (setup for the backlog phase, not measured). */
async function enqueue(ctx: Ctx, events: readonly PushEvent[]): Promise<void> {
  await pool(Math.ceil(events.length / 1000), 4, async (i) => { await ctx.producer.publishMany(events.slice(i * 1000, i * 1000 + 1000) as PushEvent[]); });
}

/** Deliveries/s of the first `window` APNs events of a backlog of `queued` (both queues hold it). */
async function drainRate(ctx: Ctx, queued: number, window: number, offset: number): Promise<number> {
  for (const s of PUSH_SYSTEMS) await ctx.queues[s].pause();
  try {
    const chunk = 100_000;
    for (let i = 0; i < queued; i += chunk) await enqueue(ctx, benchEvents(ctx.seed, Math.min(chunk, queued - i), ctx.users, offset + i));
    const base = ctx.fleet.sandbox.recorder.totals().apns;
    const t0 = performance.now();
    await ctx.queues.apns.resume();
    await waitUntil(() => { ctx.fleet.assertAlive(); return ctx.fleet.sandbox.recorder.totals().apns - base >= window; }, 60_000 + window * 5, `backlog of ${queued}: ${window} deliveries`, 2);
    return Math.round(window / ((performance.now() - t0) / 1000));
  } finally {
    // Throw the rest away: pause, drop waiting jobs, let active ones finish, resume.
    for (const s of PUSH_SYSTEMS) await ctx.queues[s].pause();
    for (const s of PUSH_SYSTEMS) await ctx.queues[s].drain(true);
    await waitUntil(async () => (await ctx.queues.apns.getActiveCount()) === 0 && (await ctx.queues.gcm.getActiveCount()) === 0, 60_000, 'active jobs after draining', 20);
    for (const s of PUSH_SYSTEMS) await ctx.queues[s].resume();
  }
}

/** Throughput draining a backlog of `large` events vs one of `small`, `window` deliveries each. */
export async function backlogPhase(ctx: Ctx, small: number, large: number, window: number) {
  const smallRate = await drainRate(ctx, small, Math.min(window, small), 4_000_000);
  const largeRate = await drainRate(ctx, large, Math.min(window, large), 5_000_000);
  return { small, large, window, smallPerSecond: smallRate, largePerSecond: largeRate, ratio: round(largeRate / smallRate, 2) };
}

interface ServerBaseline { requests: number; cpuSeconds: number }

/** Starts the bare HTTP server baseline; `stop()` ends it and resolves with its CPU. */
async function startHttpBaseline(ctx: Ctx): Promise<{ url: string; start(): Promise<void>; stop(): Promise<ServerBaseline> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts/dist/bench/baseline.js'), 'http', '{}'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  ctx.res.add('baseline http', async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exited; } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  await waitUntil(() => { if (child.exitCode !== null) throw new Error('baseline http exited'); return out.includes('\n'); }, 20_000, 'the bare HTTP server baseline to listen');
  const { port } = lastJsonLine<{ port: number }>(out);
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/internal/events`,
    async start() { await fetch(`${base}/start`); },
    async stop() {
      await fetch(`${base}/stop`);
      await exited;
      return lastJsonLine<ServerBaseline>(out);
    },
  };
}

/**
 * `/internal/events`, one event per request, `concurrency` outstanding on keep-alive sockets, with the
 * workers stopped (API and Redis alone); the same requests, same client, to a bare node:http server.
 */
export async function apiAlonePhase(ctx: Ctx, requests: number, concurrency: number) {
  await ctx.fleet.stopWorkers();
  const agent = keepAliveAgent(concurrency);
  const target = { url: `${ctx.fleet.apiUrl}/internal/events`, token: ctx.fleet.secrets.internalToken };
  const bodies = benchEvents(ctx.seed, requests, ctx.users, 6_000_000).map((e) => JSON.stringify(e));
  const warm = benchEvents(ctx.seed, Math.min(1000, requests), ctx.users, 6_500_000).map((e) => JSON.stringify(e));
  const check = (what: string, r: LoadResult) => { if (r.failed) throw new Error(`${what}: ${r.failed} of ${r.requests} requests failed; first: ${r.firstFailure}`); return r; };
  check('API warm-up', await closedLoop(agent, target, warm, concurrency));
  const api0 = await scrapeCpuSeconds(ctx.fleet.metricsUrls.api);
  const redis0 = await redisCpuSeconds(ctx.admin);
  ctx.mark('api-alone', 'start');
  const api = check('API alone', await closedLoop(agent, target, bodies, concurrency));
  ctx.mark('api-alone', 'end');
  const apiCpu = (await scrapeCpuSeconds(ctx.fleet.metricsUrls.api)) - api0;
  const redisCpu = (await redisCpuSeconds(ctx.admin)) - redis0;

  const bare = await startHttpBaseline(ctx);
  const bareTarget = { url: bare.url, token: 'x' };
  check('bare HTTP warm-up', await closedLoop(agent, bareTarget, warm, concurrency));
  await bare.start();
  const b = check('bare HTTP server', await closedLoop(agent, bareTarget, bodies, concurrency));
  const bCpu = await bare.stop();
  agent.destroy();
  return {
    requests, concurrency,
    apiPerSecond: Math.round(requests / api.seconds), apiCpuPer1k: round((apiCpu / requests) * 1000), redisCpuPer1k: round((redisCpu / requests) * 1000),
    barePerSecond: Math.round(requests / b.seconds), bareCpuPer1k: round((bCpu.cpuSeconds / requests) * 1000),
  };
}
