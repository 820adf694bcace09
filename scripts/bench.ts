#!/usr/bin/env node
// `npm run bench`: pushfleet end to end next to the libraries it replaces, in one run on one sandbox.
//
//   node scripts/dist/bench.js [--quick] [--users U] [--events N] [--rate R] [--duration S] [--queued M]
//                              [--only ingest] [--json PATH] [--profile] [--verbose]
//
// A throwaway Redis, the sandbox in this process (counts only), the API and both workers as separate
// processes like production. Phases: registration (U users x 2 tokens through POST /api/push), throughput
// (N events, APNs alone then GCM alone, each followed at once by its baselines in their own child
// processes: node-apn direct, BullMQ no-op, node-gcm direct; then both systems at once), latency (R events/s
// for S s, then R/10 events/s), Redis memory per queued event, and ingestion (producer vs raw addBulk).
// Prints one table with pass/fail per target and writes the JSON to bench-results/bench-<timestamp>.json
// (or --json PATH). See docs/benchmarks.md.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { EVENTS_PER_JOB, PUSH_SYSTEMS, PushEvent, PushSystem, QUEUE_NAMES } from '@pushfleet/events';
import { createProducer, Producer } from '@pushfleet/producer';
import { TokenRegistry } from '@pushfleet/registry';
import { benchIngest, BenchIngestResult } from '@pushfleet/producer/dist/bench-ingest';
import type { RecordedRequest } from '@pushfleet/sandbox';
import { startRedis, ThrowawayRedis } from './lib/redis-server';
import { ROOT } from './lib/processes';
import { BENCH_PREFIX, Fleet, registerUsers, startFleet } from './lib/bench-fleet';
import { benchEvents, BenchUser, benchUsers } from './lib/bench-data';
import {
  cpuSeconds, lastJsonLine, percentile, pool, redisCpuSeconds, redisDataBytes, round, scrapeCpuSeconds, sleep, waitUntil,
} from './lib/bench-util';
import { formatProfile, newestProfile, ProfileSummary, summarizeProfile } from './lib/bench-profile';
import type { BaselineResult, MeasuredRun } from './bench-baseline';

// --- arguments ------------------------------------------------------------------------------------------

interface Args {
  quick: boolean;
  users: number;
  events: number;
  rate: number;
  duration: number;
  queued: number;
  ingestEvents: number;
  ingestRounds: number;
  /** Throughput rounds: each alternates pushfleet and the direct baseline per system; medians are reported. */
  rounds: number;
  /** node-apn baseline: sends outstanding at once (node-apn has no cap of its own). */
  apnsInflight: number;
  only?: 'ingest';
  json?: string;
  /** CONFIG SET applied to the throwaway Redis before anything runs (what-if runs, e.g. hash-max-listpack-value=1024). */
  redisConfig: [string, string][];
  profile: boolean;
  verbose: boolean;
  /** The GCM worker's transport: FCM HTTP v1 unless `--gcm-transport legacy` (Google shut legacy down). */
  gcmTransport: 'fcm-v1' | 'legacy';
}

const USAGE = 'usage: bench [--quick] [--users U] [--events N] [--rate R] [--duration S] [--queued M] [--rounds K] [--ingest-events N] [--apns-inflight N]\n             [--only ingest] [--json PATH] [--redis-config name=value]... [--gcm-transport fcm-v1|legacy] [--profile] [--verbose]';

export function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const a: Args = quick
    ? { quick, users: 100, events: 1000, rate: 1000, duration: 2, queued: 500, ingestEvents: 2000, ingestRounds: 1, rounds: 1, apnsInflight: 1000, redisConfig: [], profile: false, verbose: false, gcmTransport: 'fcm-v1' }
    : { quick, users: 5000, events: 10_000, rate: 1000, duration: 10, queued: 5000, ingestEvents: 20_000, ingestRounds: 3, rounds: 3, apnsInflight: 1000, redisConfig: [], profile: false, verbose: false, gcmTransport: 'fcm-v1' };
  const positive = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === '--quick') continue;
    else if (f === '--users') a.users = Math.floor(positive(f, argv[++i]));
    else if (f === '--events') a.events = Math.floor(positive(f, argv[++i]));
    else if (f === '--rate') a.rate = positive(f, argv[++i]);
    else if (f === '--duration') a.duration = positive(f, argv[++i]);
    else if (f === '--queued') a.queued = Math.floor(positive(f, argv[++i]));
    else if (f === '--rounds') a.rounds = Math.floor(positive(f, argv[++i]));
    else if (f === '--ingest-events') a.ingestEvents = Math.floor(positive(f, argv[++i]));
    else if (f === '--apns-inflight') a.apnsInflight = Math.floor(positive(f, argv[++i]));
    else if (f === '--only') {
      const v = argv[++i];
      if (v !== 'ingest') throw new Error(`--only takes "ingest"\n${USAGE}`);
      a.only = v;
    } else if (f === '--json') {
      const v = argv[++i];
      if (!v) throw new Error(`--json needs a path\n${USAGE}`);
      a.json = v;
    } else if (f === '--redis-config') {
      const m = /^([a-z0-9-]+)=(.+)$/.exec(argv[++i] ?? '');
      if (!m) throw new Error(`--redis-config takes name=value\n${USAGE}`);
      a.redisConfig.push([m[1], m[2]]);
    } else if (f === '--gcm-transport') {
      const v = argv[++i];
      if (v !== 'fcm-v1' && v !== 'legacy') throw new Error(`--gcm-transport takes fcm-v1 or legacy\n${USAGE}`);
      a.gcmTransport = v;
    } else if (f === '--profile') a.profile = true;
    else if (f === '--verbose') a.verbose = true;
    else if (f === '--help' || f === '-h') { console.log(USAGE); process.exit(0); }
    else throw new Error(`unknown argument ${f}\n${USAGE}`);
  }
  return a;
}

// --- teardown -------------------------------------------------------------------------------------------

/** Everything started, released in reverse order exactly once (on success, error, signal or watchdog). */
class Resources {
  private readonly stack: { name: string; close: () => Promise<void> }[] = [];
  private closing: Promise<void> | undefined;

  add(name: string, close: () => Promise<void>): void {
    this.stack.push({ name, close });
  }

  closeAll(): Promise<void> {
    this.closing ??= (async () => {
      while (this.stack.length) {
        const r = this.stack.pop()!;
        try {
          await Promise.race([r.close(), sleep(20_000).then(() => { throw new Error('did not stop within 20 s'); })]);
        } catch (e) {
          console.error(`[bench] closing ${r.name}: ${(e as Error).message}`);
        }
      }
    })();
    return this.closing;
  }
}

// --- result types ---------------------------------------------------------------------------------------

type Cpu = Record<'api' | 'worker-apns' | 'worker-gcm' | 'redis' | 'bench', number>;

interface ThroughputRun {
  label: string;
  systems: PushSystem[];
  events: number;
  publishSeconds: number;
  perSystem: Partial<Record<PushSystem, { seconds: number; perSecond: number; requests: number; succeeded: number }>>;
  wallSeconds: number;
  cpuSeconds: Cpu;
  /** Sum of CPU of every process over wall time: how many of the machine's cores the phase kept busy. */
  coresBusy: number;
}

interface LatencyStats { samples: number; missing: number; p50: number; p95: number; p99: number; max: number }

interface Results {
  version: 1;
  command: string;
  startedAt: string;
  machine: { nproc: number; cpu: string; node: string; redis: string; platform: string; loadavg1: number; loadavg1AtEnd?: number };
  params: Record<string, unknown>;
  figures: Record<string, number>;
  targets: { name: string; value: number; op: '>=' | '<='; target: number; unit: string; pass: boolean }[];
  details: Record<string, unknown>;
  profile?: ProfileSummary;
}

// --- the run --------------------------------------------------------------------------------------------

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

async function runBaseline<T extends BaselineResult>(res: Resources, mode: T['mode'], params: object, timeoutMs: number): Promise<T> {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts/dist/bench-baseline.js'), mode, JSON.stringify(params)], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-4000); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  res.add(`baseline ${mode}`, async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; } });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  let result: T & { error?: string };
  try {
    result = lastJsonLine<T & { error?: string }>(out);
  } catch {
    throw new Error(`baseline ${mode} exited ${code ?? 'by signal'} without a result (timeout ${timeoutMs} ms?): ${err.slice(-1000)}`);
  }
  if (code !== 0 || result.error) throw new Error(`baseline ${mode} failed: ${result.error ?? `exit ${code}`} ${err.slice(-1000)}`);
  return result;
}

async function machineInfo(redisUrl: string, config: [string, string][]): Promise<Results['machine']> {
  const r = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    for (const [k, v] of config) await r.config('SET', k, v);
    const info = await r.info('server');
    return {
      nproc: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      redis: /redis_version:([0-9.]+)/.exec(info)?.[1] ?? 'unknown',
      platform: `${os.platform()} ${os.release()}`,
      loadavg1: round(os.loadavg()[0], 2),
    };
  } finally {
    await r.quit().catch(() => r.disconnect());
  }
}

async function runIngest(redisUrl: string, args: Args): Promise<BenchIngestResult> {
  return benchIngest({ redisUrl, events: args.ingestEvents, rounds: args.ingestRounds });
}

interface Ctx {
  args: Args;
  res: Resources;
  fleet: Fleet;
  admin: Redis;
  queues: Record<PushSystem, Queue>;
  producer: Producer;
  users: BenchUser[];
  byOwner: Map<string, BenchUser>;
  seed: string;
}

/** Publishes like the API would: publishMany batches of 1000, two calls in flight. */
async function publishAll(ctx: Ctx, events: readonly PushEvent[]): Promise<string[]> {
  const batches: PushEvent[][] = [];
  for (let i = 0; i < events.length; i += 1000) batches.push(events.slice(i, i + 1000) as PushEvent[]);
  const ids: string[] = [];
  await pool(batches.length, 2, async (i) => { ids.push(...(await ctx.producer.publishMany(batches[i])).ids); });
  return ids;
}

async function cpuSnapshot(ctx: Ctx): Promise<Cpu> {
  const [api, wa, wg, redis] = await Promise.all([
    scrapeCpuSeconds(ctx.fleet.metricsUrls.api),
    scrapeCpuSeconds(ctx.fleet.metricsUrls['worker-apns']),
    scrapeCpuSeconds(ctx.fleet.metricsUrls['worker-gcm']),
    redisCpuSeconds(ctx.admin),
  ]);
  return { api, 'worker-apns': wa, 'worker-gcm': wg, redis, bench: cpuSeconds() };
}

const cpuDelta = (a: Cpu, b: Cpu): Cpu => ({
  api: round(b.api - a.api), 'worker-apns': round(b['worker-apns'] - a['worker-apns']), 'worker-gcm': round(b['worker-gcm'] - a['worker-gcm']),
  redis: round(b.redis - a.redis), bench: round(b.bench - a.bench),
});

/** The sandbox system a push system's requests are recorded under (GCM: `fcm` for FCM v1, `gcm` for legacy). */
const sbx = (ctx: Ctx, s: PushSystem) => (s === 'gcm' ? ctx.fleet.gcmSandboxSystem : s);

/** Waits until the sandbox has seen `n` more requests per system than `base`; returns when each got there. */
async function waitForDeliveries(ctx: Ctx, systems: PushSystem[], base: Record<string, number>, n: number, timeoutMs: number, what: string, failed?: () => Error | undefined): Promise<Partial<Record<PushSystem, number>>> {
  const done: Partial<Record<PushSystem, number>> = {};
  await waitUntil(() => {
    ctx.fleet.assertAlive();
    const e = failed?.();
    if (e) throw e;
    const t = ctx.fleet.sandbox.recorder.totals();
    const now = performance.now();
    for (const s of systems) if (done[s] === undefined && t[sbx(ctx, s)] - base[sbx(ctx, s)] >= n) done[s] = now;
    return systems.every((s) => done[s] !== undefined);
  }, timeoutMs, () => {
    const t = ctx.fleet.sandbox.recorder.totals();
    return `${what}: ${systems.map((s) => `${s} ${t[sbx(ctx, s)] - base[sbx(ctx, s)]}/${n}`).join(', ')}`;
  }, 2);
  return done;
}

async function throughput(ctx: Ctx, label: string, systems: PushSystem[], events: PushEvent[]): Promise<ThroughputRun> {
  const paused = PUSH_SYSTEMS.filter((s) => !systems.includes(s));
  for (const s of paused) await ctx.queues[s].pause();
  try {
    const recorder = ctx.fleet.sandbox.recorder;
    const base = recorder.stats();
    const cpu0 = await cpuSnapshot(ctx);
    const t0 = performance.now();
    let publishError: Error | undefined;
    let published = 0;
    const publishing = publishAll(ctx, events).then(() => { published = performance.now(); }, (e: Error) => { publishError = e; });
    const done = await waitForDeliveries(ctx, systems, base.requests, events.length, 30_000 + events.length * 5, `${label} deliveries`, () => publishError);
    await publishing;
    const wall = (Math.max(...Object.values(done)) - t0) / 1000;
    const cpu = cpuDelta(cpu0, await cpuSnapshot(ctx));
    const after = recorder.stats();
    const perSystem: ThroughputRun['perSystem'] = {};
    for (const s of systems) {
      const seconds = (done[s]! - t0) / 1000;
      perSystem[s] = {
        seconds: round(seconds), perSecond: Math.round(events.length / seconds),
        requests: after.requests[sbx(ctx, s)] - base.requests[sbx(ctx, s)], succeeded: after.succeeded[sbx(ctx, s)] - base.succeeded[sbx(ctx, s)],
      };
      if (perSystem[s]!.succeeded < events.length) console.warn(`[bench] ${label}: ${s} answered ${perSystem[s]!.succeeded} of ${events.length} requests with success (byReason ${JSON.stringify(after.byReason)})`);
    }
    const total = cpu.api + cpu['worker-apns'] + cpu['worker-gcm'] + cpu.redis + cpu.bench;
    return {
      label, systems, events: events.length, publishSeconds: round((published - t0) / 1000), perSystem,
      wallSeconds: round(wall), cpuSeconds: cpu, coresBusy: round(total / wall, 2),
    };
  } finally {
    for (const s of paused) {
      await ctx.queues[s].drain();
      await ctx.queues[s].resume();
    }
  }
}

async function latency(ctx: Ctx, rate: number, duration: number, offset: number): Promise<{ rate: number; apns: LatencyStats; gcm: LatencyStats; achievedRate: number; events: number; unmatched: number }> {
  const total = Math.max(1, Math.round(rate * duration));
  const events = benchEvents(ctx.seed, total, ctx.users, offset);
  const fifo: Record<PushSystem, Map<string, number[]>> = { apns: new Map(), gcm: new Map() };
  const lat: Record<PushSystem, number[]> = { apns: [], gcm: [] };
  let unmatched = 0;
  const listener = (e: RecordedRequest) => {
    const now = performance.now();
    const system: PushSystem | undefined = e.system === 'apns' ? 'apns' : e.system === ctx.fleet.gcmSandboxSystem ? 'gcm' : undefined;
    if (!system) return;
    const q = fifo[system].get(e.token);
    const t = q?.shift();
    if (t === undefined) unmatched++;
    else lat[system].push(now - t);
  };
  const push = (m: Map<string, number[]>, k: string, t: number) => {
    const q = m.get(k);
    if (q) q.push(t); else m.set(k, [t]);
  };
  const recorder = ctx.fleet.sandbox.recorder;
  const base = recorder.totals();
  recorder.on('request', listener);
  try {
    const pending: Promise<unknown>[] = [];
    let publishError: Error | undefined;
    let sent = 0;
    const t0 = performance.now();
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      if (due > sent) {
        const batch = events.slice(sent, due);
        const now = performance.now();
        for (const e of batch) {
          const u = ctx.byOwner.get(e.owner)!;
          push(fifo.apns, u.apnsToken, now);
          push(fifo.gcm, u.gcmId, now);
        }
        pending.push(ctx.producer.publishMany(batch).catch((e: Error) => { publishError ??= e; }));
        sent = due;
      }
      if (publishError) throw publishError;
      await sleep(1);
    }
    const publishSeconds = (performance.now() - t0) / 1000;
    await Promise.all(pending);
    if (publishError) throw publishError;
    await waitForDeliveries(ctx, ['apns', 'gcm'], base, total, 30_000, 'latency-phase deliveries').catch((e: Error) => {
      console.warn(`[bench] ${e.message}; reporting the deliveries seen`);
    });
    await sleep(50);
    const stats = (xs: number[]): LatencyStats => {
      const s = [...xs].sort((a, b) => a - b);
      return {
        samples: s.length, missing: total - s.length,
        p50: round(percentile(s, 50), 2), p95: round(percentile(s, 95), 2), p99: round(percentile(s, 99), 2), max: round(s[s.length - 1] ?? NaN, 2),
      };
    };
    return { rate, apns: stats(lat.apns), gcm: stats(lat.gcm), achievedRate: Math.round(total / publishSeconds), events: total, unmatched };
  } finally {
    recorder.off('request', listener);
  }
}

/** Redis bytes per queued event: both queues paused, M events published, INFO used_memory delta / M. */
/** The ingestion figures of a `benchIngest` result. */
function ingestFigures(ing: BenchIngestResult): Record<string, number> {
  return {
    ingest_producer_events_per_s: ing.producerEventsPerSec,
    ingest_raw_addbulk_events_per_s: ing.rawAddBulkEventsPerSec,
    ingest_raw_job_per_event_events_per_s: ing.rawJobPerEventEventsPerSec,
    ingest_ratio: round(ing.producerEventsPerSec / ing.rawAddBulkEventsPerSec, 2),
  };
}

async function queuedMemory(ctx: Ctx): Promise<Record<string, number>> {
  const m = ctx.args.queued;
  const events = benchEvents(ctx.seed, m, ctx.users, 3_000_000);
  const key = (s: PushSystem, k: string) => `${BENCH_PREFIX}:${QUEUE_NAMES[s]}:${k}`;
  const usage = async (k: string) => Number((await ctx.admin.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  for (const s of PUSH_SYSTEMS) await ctx.queues[s].pause();
  const base = ctx.fleet.sandbox.recorder.totals();
  try {
    await sleep(200);
    const streams0 = (await usage(key('apns', 'events'))) + (await usage(key('gcm', 'events')));
    const mem0 = await redisDataBytes(ctx.admin);
    const ids = await publishAll(ctx, events);
    const mem1 = await redisDataBytes(ctx.admin);
    const streams1 = (await usage(key('apns', 'events'))) + (await usage(key('gcm', 'events')));
    // Where the bytes are: a sample of job hashes (events without ids share jobs, each named by its
    // first event), the paused/wait lists, the events streams.
    const jobIds = ids.filter((_, i) => i % EVENTS_PER_JOB === 0);
    const sample = jobIds.filter((_, i) => i % Math.max(1, Math.floor(jobIds.length / 50)) === 0).slice(0, 50);
    let jobHash = 0;
    let sampledEvents = 0;
    for (const id of sample) {
      jobHash += (await usage(key('apns', id))) + (await usage(key('gcm', id)));
      sampledEvents += Math.min(EVENTS_PER_JOB, ids.length - ids.indexOf(id));
    }
    let lists = 0;
    for (const s of PUSH_SYSTEMS) lists += (await usage(key(s, 'paused'))) + (await usage(key(s, 'wait')));
    return {
      events: m,
      bytesPerEvent: Math.round((mem1 - mem0) / m),
      bytesPerEventPerQueue: Math.round((mem1 - mem0) / (2 * m)),
      jobs: 2 * jobIds.length,
      jobHashBytesPerEvent: Math.round(jobHash / sampledEvents),
      listBytesPerEvent: Math.round(lists / m),
      eventsStreamBytesPerEvent: Math.round((streams1 - streams0) / m),
    };
  } finally {
    for (const s of PUSH_SYSTEMS) await ctx.queues[s].resume();
    await waitForDeliveries(ctx, ['apns', 'gcm'], base, m, 30_000 + m * 5, 'queued events after resume');
  }
}

async function runFleetBench(args: Args, res: Resources, redis: ThrowawayRedis, details: Record<string, unknown>, figures: Record<string, number>): Promise<void> {
  const profileDir = path.join(ROOT, 'bench-results', 'profiles');
  if (args.profile) fs.mkdirSync(profileDir, { recursive: true });
  const fleet = await startFleet({
    redis,
    verbose: args.verbose,
    apnsNodeArgs: args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : undefined,
    gcmTransport: args.gcmTransport,
    onResource: (name, close) => res.add(name, close),
  });
  if (args.gcmTransport === 'legacy') console.warn('[bench] GCM_TRANSPORT=legacy as asked: Google shut the legacy GCM API down; FCM HTTP v1 is the default');
  res.add('fleet output', async () => { if (process.exitCode) console.error(`[bench] last output of the fleet:\n${fleet.recentOutput()}`); });
  details.workers = {
    APNS_CONCURRENCY: fleet.apnsEnv.APNS_CONCURRENCY, APNS_CONNECTIONS: fleet.apnsEnv.APNS_CONNECTIONS, APNS_MAX_INFLIGHT: fleet.apnsEnv.APNS_MAX_INFLIGHT,
    GCM_CONCURRENCY: fleet.gcmEnv.GCM_CONCURRENCY, GCM_CONNECTIONS: fleet.gcmEnv.GCM_CONNECTIONS, GCM_MAX_INFLIGHT: fleet.gcmEnv.GCM_MAX_INFLIGHT,
  };

  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  res.add('admin redis', async () => { await admin.quit().catch(() => admin.disconnect()); });
  const queues = {
    apns: new Queue(QUEUE_NAMES.apns, { connection: admin, prefix: BENCH_PREFIX }),
    gcm: new Queue(QUEUE_NAMES.gcm, { connection: admin, prefix: BENCH_PREFIX }),
  };
  res.add('admin queues', async () => { await Promise.all(Object.values(queues).map((q) => q.close())); });
  const producerRedis = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  res.add('producer redis', async () => { await producerRedis.quit().catch(() => producerRedis.disconnect()); });
  const producer = createProducer({ connection: producerRedis, prefix: BENCH_PREFIX });
  res.add('producer', () => producer.close());

  const seed = randomBytes(6).toString('hex');
  const users = benchUsers(seed, args.users);
  const ctx: Ctx = { args, res, fleet, admin, queues, producer, users, byOwner: new Map(users.map((u) => [u.userId, u])), seed };
  const log = (s: string) => console.log(`[bench] ${s}`);

  // 1. Registration, and Redis bytes per registered token.
  log(`registering ${args.users} users x 2 tokens through POST /api/push`);
  const mem0 = await redisDataBytes(admin);
  const reg = await registerUsers(fleet, users, 32);
  const mem1 = await redisDataBytes(admin);
  const owners = await new TokenRegistry(admin, { prefix: BENCH_PREFIX }).indexedTokens();
  if (owners !== args.users * 2) throw new Error(`registry holds ${owners} tokens, expected ${args.users * 2}`);
  details.registration = { requests: reg.requests, seconds: round(reg.seconds), perSecond: Math.round(reg.requests / reg.seconds), usedMemoryDelta: mem1 - mem0 };
  figures.redis_bytes_per_registered_token = Math.round((mem1 - mem0) / (2 * args.users));

  // Warm-up: connections, JWT signing, JIT.
  const warm = Math.min(1000, Math.max(100, Math.floor(args.events / 10)));
  const wbase = fleet.sandbox.recorder.totals();
  await publishAll(ctx, benchEvents(seed, warm, users, 1_000_000));
  await waitForDeliveries(ctx, ['apns', 'gcm'], wbase, warm, 60_000, 'warm-up deliveries');

  // 2. Throughput, each system alone with its baseline right after it (the machine is shared and noisy:
  // figures that are compared are taken next to each other), then both systems at once.
  const events = benchEvents(seed, args.events, users);
  const sandbox = fleet.sandbox;
  const baselineRun = async <T extends BaselineResult>(mode: T['mode'], params: object) => {
    const b0 = cpuSeconds();
    const r0 = await redisCpuSeconds(admin);
    const t0 = performance.now();
    const out = await runBaseline<T>(res, mode, params, 120_000 + args.events * 10);
    const wall = (performance.now() - t0) / 1000;
    return { out, sandboxCpuSeconds: round(cpuSeconds() - b0), redisCpuSeconds: round((await redisCpuSeconds(admin)) - r0), wallSeconds: round(wall) };
  };
  const common = { seed, users: args.users, events: args.events, warmup: warm };

  type ApnsBaseline = Extract<BaselineResult, { mode: 'apns' }>;
  type GcmBaseline = Extract<BaselineResult, { mode: 'gcm' }>;
  const rounds: { apns: ThroughputRun; nodeApn: Awaited<ReturnType<typeof baselineRun<ApnsBaseline>>> & { sandboxCountedRequests: number };
    gcm: ThroughputRun; nodeGcm: Awaited<ReturnType<typeof baselineRun<GcmBaseline>>> & { sandboxCountedIds: number } }[] = [];
  for (let r = 1; r <= args.rounds; r++) {
    const of = args.rounds > 1 ? ` (round ${r}/${args.rounds})` : '';
    log(`throughput: ${args.events} events, APNs alone${of}`);
    const apns = await throughput(ctx, 'apns-alone', ['apns'], events);
    log(`baseline: direct node-apn, ${args.apnsInflight} sends outstanding${of}`);
    const aBase = sandbox.recorder.totals().apns;
    const nodeApn = await baselineRun<ApnsBaseline>('apns', {
      ...common, port: sandbox.apns.developmentPort, caFile: sandbox.caFile,
      keyFile: path.join(fleet.dir, `AuthKey_${fleet.secrets.apnsKey.keyId}.p8`), keyId: fleet.secrets.apnsKey.keyId, teamId: fleet.secrets.apnsKey.teamId,
      topic: 'de.cospace.app', inflight: args.apnsInflight,
    });
    const sandboxCountedRequests = sandbox.recorder.totals().apns - aBase;
    log(`throughput: ${args.events} events, GCM alone${of}`);
    const gcm = await throughput(ctx, 'gcm-alone', ['gcm'], events);
    log(`baseline: direct node-gcm, ${fleet.gcmEnv.GCM_CONCURRENCY} sends outstanding; multicast 1000 ids/request${of}`);
    const gBase = sandbox.recorder.totals().gcm;
    const nodeGcm = await baselineRun<GcmBaseline>('gcm', {
      ...common, url: sandbox.google.legacyUrl, apiKey: fleet.secrets.gcmApiKey, inflight: fleet.gcmEnv.GCM_CONCURRENCY, multicastInflight: 10,
    });
    const sandboxCountedIds = sandbox.recorder.totals().gcm - gBase;
    rounds.push({ apns, nodeApn: { ...nodeApn, sandboxCountedRequests }, gcm, nodeGcm: { ...nodeGcm, sandboxCountedIds } });
    for (const [name, run] of [['node-apn', nodeApn.out.run], ['node-gcm per event', nodeGcm.out.perEvent], ['node-gcm multicast', nodeGcm.out.multicast]] as [string, MeasuredRun][]) {
      if (run.failed) console.warn(`[bench] baseline ${name}: ${run.failed} of ${run.items} failed: ${run.failures.join('; ')}`);
    }
  }
  log(`baseline: BullMQ addBulk + no-op worker, concurrency ${fleet.apnsEnv.APNS_CONCURRENCY}`);
  const bMq = await baselineRun<Extract<BaselineResult, { mode: 'bullmq' }>>('bullmq', {
    seed, users: args.users, jobs: args.events, redisUrl: redis.url, prefix: 'bench-baseline', concurrency: fleet.apnsEnv.APNS_CONCURRENCY,
  });
  log(`throughput: ${args.events} events, both systems at once`);
  const tBoth = await throughput(ctx, 'both', ['apns', 'gcm'], events);
  details.rounds = rounds;
  details.both = tBoth;
  details.bullmq = bMq;

  // 3. Latency at the fixed rate, then at a tenth of it: the floor of the pipeline without a backlog.
  log(`latency: ${args.rate} events/s for ${args.duration} s`);
  const lat = await latency(ctx, args.rate, args.duration, 2_000_000);
  const lowRate = Math.max(1, Math.round(args.rate / 10));
  const lowDuration = Math.min(args.duration, 5);
  log(`latency: ${lowRate} events/s for ${lowDuration} s`);
  const latLow = await latency(ctx, lowRate, lowDuration, 2_500_000);
  details.latency = { atRate: lat, atLowRate: latLow };

  // 4. Redis bytes per queued event.
  log(`memory: ${args.queued} events queued on paused queues`);
  const qm = await queuedMemory(ctx);
  details.queuedMemory = qm;

  // 5. Ingestion.
  log(`ingestion: ${args.ingestEvents} events x ${args.ingestRounds} round(s), producer vs raw addBulk`);
  const ing = await runIngest(redis.url, args);
  details.ingest = ing;

  // Figures: medians over the rounds; a ratio is the median of the per-round ratios (each taken from a
  // pushfleet phase and the baseline run right after it).
  const med = (xs: number[]) => { const v = [...xs].sort((p, q) => p - q); return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2; };
  const per10k = (cpu: number) => (cpu / args.events) * 10_000;
  const R = {
    apns: rounds.map((r) => r.apns.perSystem.apns!.perSecond),
    nodeApn: rounds.map((r) => r.nodeApn.out.run.perSecond),
    gcm: rounds.map((r) => r.gcm.perSystem.gcm!.perSecond),
    nodeGcm: rounds.map((r) => r.nodeGcm.out.perEvent.perSecond),
    multicast: rounds.map((r) => r.nodeGcm.out.multicast.perSecond),
    apnsCpu: rounds.map((r) => per10k(r.apns.cpuSeconds['worker-apns'])),
    nodeApnCpu: rounds.map((r) => r.nodeApn.out.run.cpuSecondsPer10k),
    gcmCpu: rounds.map((r) => per10k(r.gcm.cpuSeconds['worker-gcm'])),
    nodeGcmCpu: rounds.map((r) => r.nodeGcm.out.perEvent.cpuSecondsPer10k),
    redisCpu: rounds.map((r) => per10k(r.apns.cpuSeconds.redis)),
  };
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]);
  const spread = (xs: number[]) => ({ min: round(Math.min(...xs), 2), max: round(Math.max(...xs), 2) });
  details.ratioSpread = {
    apns_throughput_ratio: spread(ratios(R.apns, R.nodeApn)),
    gcm_throughput_ratio: spread(ratios(R.gcm, R.nodeGcm)),
    apns_cpu_ratio: spread(ratios(R.apnsCpu, R.nodeApnCpu)),
    gcm_cpu_ratio: spread(ratios(R.gcmCpu, R.nodeGcmCpu)),
  };
  Object.assign(figures, {
    apns_e2e_deliveries_per_s: Math.round(med(R.apns)),
    apns_direct_node_apn_per_s: Math.round(med(R.nodeApn)),
    apns_throughput_ratio: round(med(ratios(R.apns, R.nodeApn)), 2),
    gcm_e2e_ids_per_s: Math.round(med(R.gcm)),
    gcm_direct_node_gcm_per_event_ids_per_s: Math.round(med(R.nodeGcm)),
    gcm_throughput_ratio: round(med(ratios(R.gcm, R.nodeGcm)), 2),
    gcm_direct_node_gcm_multicast_ids_per_s: Math.round(med(R.multicast)),
    gcm_vs_multicast_ratio: round(med(ratios(R.gcm, R.multicast)), 4),
    both_apns_deliveries_per_s: tBoth.perSystem.apns!.perSecond,
    both_gcm_ids_per_s: tBoth.perSystem.gcm!.perSecond,
    bullmq_noop_jobs_per_s: bMq.out.drain.perSecond,
    apns_vs_bullmq_noop_ratio: round(med(R.apns) / bMq.out.drain.perSecond, 2),
    bullmq_addbulk_jobs_per_s: bMq.out.addBulk.perSecond,
    worker_apns_cpu_s_per_10k: round(med(R.apnsCpu), 2),
    node_apn_cpu_s_per_10k: round(med(R.nodeApnCpu), 2),
    apns_cpu_ratio: round(med(ratios(R.apnsCpu, R.nodeApnCpu)), 2),
    worker_gcm_cpu_s_per_10k: round(med(R.gcmCpu), 2),
    node_gcm_cpu_s_per_10k: round(med(R.nodeGcmCpu), 2),
    gcm_cpu_ratio: round(med(ratios(R.gcmCpu, R.nodeGcmCpu)), 2),
    redis_cpu_s_per_10k_apns_alone: round(med(R.redisCpu), 2),
    bullmq_noop_cpu_s_per_10k: bMq.out.drain.cpuSecondsPer10k,
    latency_apns_p50_ms: lat.apns.p50, latency_apns_p95_ms: lat.apns.p95, latency_apns_p99_ms: lat.apns.p99,
    latency_gcm_p50_ms: lat.gcm.p50, latency_gcm_p95_ms: lat.gcm.p95, latency_gcm_p99_ms: lat.gcm.p99,
    latency_achieved_events_per_s: lat.achievedRate,
    latency_low_rate_events_per_s: latLow.achievedRate,
    latency_low_rate_apns_p50_ms: latLow.apns.p50, latency_low_rate_apns_p99_ms: latLow.apns.p99,
    latency_low_rate_gcm_p50_ms: latLow.gcm.p50, latency_low_rate_gcm_p99_ms: latLow.gcm.p99,
    ...ingestFigures(ing),
    redis_bytes_per_queued_event: qm.bytesPerEvent,
    redis_bytes_per_queued_event_per_queue: qm.bytesPerEventPerQueue,
  });
}

function targetsFor(f: Record<string, number>, args: Args): Results['targets'] {
  const t: Results['targets'] = [];
  const add = (name: string, key: string, op: '>=' | '<=', target: number, unit: string) => {
    if (!(key in f)) return;
    const value = f[key];
    t.push({ name, value, op, target, unit, pass: op === '>=' ? value >= target : value <= target });
  };
  add('APNs e2e deliveries/s vs direct node-apn', 'apns_throughput_ratio', '>=', 1, 'x');
  add('GCM e2e ids/s vs direct node-gcm (same messages, same ids)', 'gcm_throughput_ratio', '>=', 1, 'x');
  add('worker-apns CPU per 10k deliveries vs node-apn', 'apns_cpu_ratio', '<=', 1, 'x');
  add(`APNs p99 enqueue->receipt at ${args.rate} events/s`, 'latency_apns_p99_ms', '<=', 50, 'ms');
  add(`GCM p99 enqueue->receipt at ${args.rate} events/s`, 'latency_gcm_p99_ms', '<=', 50, 'ms');
  add('ingestion through the producer', 'ingest_producer_events_per_s', '>=', 10_000, 'events/s');
  add('Redis per registered token', 'redis_bytes_per_registered_token', '<=', 250, 'B');
  add('Redis per queued event (both queues)', 'redis_bytes_per_queued_event', '<=', 1200, 'B');
  return t;
}

function table(r: Results): string {
  const f = r.figures;
  const rows: string[][] = [['figure', 'pushfleet', 'baseline', 'ratio']];
  const row = (name: string, a: string, b = '', ratio = '') => rows.push([name, a, b, ratio]);
  const has = (k: string) => k in f;
  const x = (k: string) => (has(k) ? `${f[k].toFixed(2)}x` : '');
  if (has('apns_e2e_deliveries_per_s')) {
    const d = r.details as {
      rounds: { nodeApn: { out: { inflight: number } }; nodeGcm: { out: { inflight: number } } }[];
      bullmq: { out: { concurrency: number } };
      ratioSpread: Record<string, { min: number; max: number }>;
    };
    const n = d.rounds.length;
    const xr = (k: string) => (n > 1 && d.ratioSpread[k] ? `${x(k)} (${d.ratioSpread[k].min.toFixed(2)}-${d.ratioSpread[k].max.toFixed(2)})` : x(k));
    rows[0][3] = n > 1 ? `ratio (range of ${n} rounds)` : 'ratio';
    row('APNs deliveries/s (APNs alone) | node-apn direct', fmt(f.apns_e2e_deliveries_per_s), `${fmt(f.apns_direct_node_apn_per_s)} (${d.rounds[0].nodeApn.out.inflight} out)`, xr('apns_throughput_ratio'));
    row('GCM ids/s (GCM alone) | node-gcm per event', fmt(f.gcm_e2e_ids_per_s), `${fmt(f.gcm_direct_node_gcm_per_event_ids_per_s)} (${d.rounds[0].nodeGcm.out.inflight} out)`, xr('gcm_throughput_ratio'));
    row('GCM ids/s | node-gcm multicast 1000 ids/req', fmt(f.gcm_e2e_ids_per_s), fmt(f.gcm_direct_node_gcm_multicast_ids_per_s), `${f.gcm_vs_multicast_ratio.toFixed(3)}x`);
    row('both at once: APNs / GCM deliveries/s', `${fmt(f.both_apns_deliveries_per_s)} / ${fmt(f.both_gcm_ids_per_s)}`);
    row(`APNs deliveries/s | BullMQ no-op worker jobs/s, a job per event (conc ${d.bullmq.out.concurrency})`, fmt(f.apns_e2e_deliveries_per_s), fmt(f.bullmq_noop_jobs_per_s), x('apns_vs_bullmq_noop_ratio'));
    row('worker-apns CPU-s / 10k | node-apn', fmt(f.worker_apns_cpu_s_per_10k, 2), fmt(f.node_apn_cpu_s_per_10k, 2), xr('apns_cpu_ratio'));
    row('worker-gcm CPU-s / 10k | node-gcm per event', fmt(f.worker_gcm_cpu_s_per_10k, 2), fmt(f.node_gcm_cpu_s_per_10k, 2), xr('gcm_cpu_ratio'));
    row('Redis CPU-s / 10k events (APNs alone) | BullMQ no-op worker CPU', fmt(f.redis_cpu_s_per_10k_apns_alone, 2), fmt(f.bullmq_noop_cpu_s_per_10k, 2));
    row(`APNs enqueue->receipt p50/p95/p99 ms @${fmt(f.latency_achieved_events_per_s)}/s`, `${fmt(f.latency_apns_p50_ms, 1)} / ${fmt(f.latency_apns_p95_ms, 1)} / ${fmt(f.latency_apns_p99_ms, 1)}`);
    row(`GCM enqueue->receipt p50/p95/p99 ms @${fmt(f.latency_achieved_events_per_s)}/s`, `${fmt(f.latency_gcm_p50_ms, 1)} / ${fmt(f.latency_gcm_p95_ms, 1)} / ${fmt(f.latency_gcm_p99_ms, 1)}`);
    row(`APNs / GCM p50, p99 ms @${fmt(f.latency_low_rate_events_per_s)}/s (no backlog)`, `${fmt(f.latency_low_rate_apns_p50_ms, 1)}, ${fmt(f.latency_low_rate_apns_p99_ms, 1)} / ${fmt(f.latency_low_rate_gcm_p50_ms, 1)}, ${fmt(f.latency_low_rate_gcm_p99_ms, 1)}`);
    row('Redis bytes / registered token', fmt(f.redis_bytes_per_registered_token));
    row('Redis bytes / queued event (per queue)', `${fmt(f.redis_bytes_per_queued_event)} (${fmt(f.redis_bytes_per_queued_event_per_queue)})`);
  }
  row('ingestion events/s: producer | raw addBulk of the same jobs', fmt(f.ingest_producer_events_per_s), fmt(f.ingest_raw_addbulk_events_per_s), x('ingest_ratio'));
  row('ingestion events/s: producer | raw addBulk, a job per event', fmt(f.ingest_producer_events_per_s), fmt(f.ingest_raw_job_per_event_events_per_s), `${(f.ingest_producer_events_per_s / f.ingest_raw_job_per_event_events_per_s).toFixed(2)}x`);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((rr) => rr[c].length)));
  const line = (rr: string[]) => rr.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line), '', 'targets:'];
  for (const t of r.targets) out.push(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.value} ${t.unit} (target ${t.op} ${t.target} ${t.unit})`);
  return out.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const res = new Resources();
  const started = Date.now();
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  let stopping = false;
  const abort = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    console.error(`[bench] ${why}: stopping everything`);
    process.exitCode = code;
    void res.closeAll().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => abort('SIGINT', 130));
  process.once('SIGTERM', () => abort('SIGTERM', 143));
  const budgetMs = args.quick ? 110_000 : 30 * 60_000;
  setTimeout(() => abort(`the bench did not finish within ${budgetMs / 1000} s`, 1), budgetMs).unref();

  const figures: Record<string, number> = {};
  const details: Record<string, unknown> = {};
  let machine: Results['machine'];
  let failed: unknown;
  try {
    const redis = await startRedis({ persist: false });
    res.add('redis dir', async () => fs.rmSync(redis.dir, { recursive: true, force: true }));
    res.add('redis', () => redis.stop());
    machine = await machineInfo(redis.url, args.redisConfig);
    if (args.only === 'ingest') {
      console.log(`[bench] ingestion only: ${args.ingestEvents} events x ${args.ingestRounds} round(s)`);
      const ing = await runIngest(redis.url, args);
      details.ingest = ing;
      Object.assign(figures, ingestFigures(ing));
    } else {
      await runFleetBench(args, res, redis, details, figures);
    }
  } catch (e) {
    failed = e;
    process.exitCode = 1;
  } finally {
    await res.closeAll();
  }
  if (stopping) return;
  if (failed) {
    console.error(`[bench] FAILED: ${(failed as Error).stack ?? failed}`);
    process.exit(1);
  }

  const results: Results = {
    version: 1,
    command: `node scripts/dist/bench.js ${process.argv.slice(2).join(' ')}`.trim(),
    startedAt: new Date(started).toISOString(),
    machine: machine!,
    params: { ...args, seconds: round((Date.now() - started) / 1000, 1) },
    figures,
    targets: targetsFor(figures, args),
    details,
  };
  if (args.profile) {
    const file = newestProfile(path.join(ROOT, 'bench-results', 'profiles'), started);
    if (file) {
      results.profile = summarizeProfile(file, 20);
      console.log(`\nworker-apns CPU profile (${path.relative(ROOT, file)}):\n${formatProfile(results.profile)}\n`);
    } else {
      console.warn('[bench] --profile: no .cpuprofile was written by worker-apns');
    }
  }
  results.machine.loadavg1AtEnd = round(os.loadavg()[0], 2);
  const bad = Object.entries(figures).filter(([, v]) => !Number.isFinite(v));
  const m = results.machine;
  console.log(`\npushfleet bench: ${m.nproc} cores (${m.cpu}), node ${m.node}, redis ${m.redis}, ${results.startedAt}, ${results.params.seconds} s, load ${m.loadavg1} -> ${m.loadavg1AtEnd}`);
  console.log(table(results));
  const out = args.json ? path.resolve(args.json) : path.join(ROOT, 'bench-results', `bench-${stamp}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), out) || out}`);
  if (bad.length) {
    console.error(`[bench] figures that are not numbers: ${bad.map(([k]) => k).join(', ')}`);
    process.exit(1);
  }
  process.exit(0);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`[bench] ${(e as Error).stack ?? e}`);
    process.exit(1);
  });
}
