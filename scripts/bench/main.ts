#!/usr/bin/env node
// `npm run bench`: pushfleet end to end next to the libraries it replaces, in one run on one sandbox.
//
//   node scripts/dist/bench/main.js [--quick] [--users U] [--events N] [--rate R] [--duration S] [--queued M]
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
import { benchIngest, BenchIngestResult } from './ingest';
import type { RecordedRequest, SandboxSystem } from '@pushfleet/sandbox';
import http from 'node:http';
import { keepAliveAgent, openLoop, postJson, PostTarget } from './http-load';
import { apiAlonePhase, backlogPhase, fillRegistry } from './phases';
import { startRedis, ThrowawayRedis } from '../lib/redis-server';
import { runClusterBench } from './cluster';
import { ROOT } from '../lib/processes';
import { BENCH_PREFIX, Fleet, registerUsers, startFleet } from './fleet';
import { benchEvents, BenchUser, benchUsers } from './data';
import {
  cpuSeconds, lastJsonLine, percentile, pool, redisCpuSeconds, redisDataBytes, round, scrapeCpuSeconds, sleep, waitUntil,
} from './util';
import { formatProfile, newestProfile, ProfileSummary, summarizeProfile } from './profile';
import type { BaselineResult, MeasuredRun } from './baseline';
import { Cpu, FleetDetails, fleetFigures, formatTable, LatencyRun, LatencyStats, Round, Row, rowsFor, targetsFor, Target, ThroughputRun } from './report';

/** Phase windows on the monotonic clock (microseconds, the clock of V8's .cpuprofile timestamps). */
export type PhaseWindows = Record<string, { from: number; to: number }>;

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
  /** Extra APNs tokens registered for the registry-size phase. */
  registry: number;
  /** Queued events of the large and the small backlog. */
  backlog: number;
  backlogSmall: number;
  /** Single-event requests of the API-alone phase, and how many are outstanding. */
  apiRequests: number;
  apiConcurrency: number;
  only?: 'ingest';
  json?: string;
  /** CONFIG SET applied to the throwaway Redis before anything runs (what-if runs, e.g. hash-max-listpack-value=1024). */
  redisConfig: [string, string][];
  profile: boolean;
  verbose: boolean;
  /** --cluster: standalone and a local Redis Cluster side by side (scripts/bench/cluster.ts). */
  cluster: boolean;
}

const USAGE = 'usage: bench [--quick] [--users U] [--events N] [--rate R] [--duration S] [--queued M] [--rounds K] [--ingest-events N] [--apns-inflight N]\n             [--registry N] [--backlog N] [--backlog-small N] [--api-requests N] [--api-concurrency N]\n             [--only ingest] [--json PATH] [--redis-config name=value]... [--profile] [--verbose] [--cluster]';

export function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const a: Args = quick
    ? { quick, users: 100, events: 1000, rate: 1000, duration: 2, queued: 500, ingestEvents: 2000, ingestRounds: 1, rounds: 1, apnsInflight: 1000, registry: 2000, backlog: 2000, backlogSmall: 500, apiRequests: 1000, apiConcurrency: 32, redisConfig: [], profile: false, verbose: false, cluster: false }
    : { quick, users: 5000, events: 10_000, rate: 1000, duration: 10, queued: 5000, ingestEvents: 20_000, ingestRounds: 3, rounds: 3, apnsInflight: 1000, registry: 1_000_000, backlog: 1_000_000, backlogSmall: 10_000, apiRequests: 20_000, apiConcurrency: 32, redisConfig: [], profile: false, verbose: false, cluster: false };
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
    else if (f === '--registry') a.registry = Math.floor(positive(f, argv[++i]));
    else if (f === '--backlog') a.backlog = Math.floor(positive(f, argv[++i]));
    else if (f === '--backlog-small') a.backlogSmall = Math.floor(positive(f, argv[++i]));
    else if (f === '--api-requests') a.apiRequests = Math.floor(positive(f, argv[++i]));
    else if (f === '--api-concurrency') a.apiConcurrency = Math.floor(positive(f, argv[++i]));
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
    } else if (f === '--profile') a.profile = true;
    else if (f === '--verbose') a.verbose = true;
    else if (f === '--cluster') a.cluster = true;
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

interface Results {
  version: 1;
  command: string;
  startedAt: string;
  machine: { nproc: number; cpu: string; node: string; redis: string; platform: string; loadavg1: number; loadavg1AtEnd?: number };
  params: Record<string, unknown>;
  figures: Record<string, number>;
  targets: Target[];
  rows: Row[];
  details: Record<string, unknown>;
  /** --profile: top self time per process and phase ("worker-apns@apns-full", ...). */
  profiles?: Record<string, ProfileSummary>;
}

// --- the run --------------------------------------------------------------------------------------------

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

/** Node flags and extra environment of a baseline's own process (e.g. firebase-admin's preload). */
interface BaselineSpawn { nodeArgs?: string[]; env?: Record<string, string> }

async function runBaseline<T extends BaselineResult>(res: Resources, mode: T['mode'], params: object, timeoutMs: number, o: BaselineSpawn = {}): Promise<T> {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), path.join(ROOT, 'scripts/dist/bench/baseline.js'), mode, JSON.stringify(params)], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env },
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

/** The sandbox counts FCM HTTP v1 requests as 'fcm'; worker-gcm speaks FCM v1. */
const SB: Record<PushSystem, SandboxSystem> = { apns: 'apns', gcm: 'fcm' };

export interface Ctx {
  /** Keep-alive agent and target of POST /internal/events (the bench posts events as a backend would). */
  agent: http.Agent;
  api: PostTarget;
  /** Records the start or end of a phase on the monotonic clock (profiles are cut to these windows). */
  mark(phase: string, edge: 'start' | 'end'): void;
  /** Highest RSS seen per worker during the throughput phases (bytes). */
  rss: Record<'worker-apns' | 'worker-gcm', number>;
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

/** Posts the events to the API's /internal/events as a backend would: batches of 1000, two requests in flight. */
async function publishAll(ctx: Ctx, events: readonly PushEvent[]): Promise<string[]> {
  const batches: PushEvent[][] = [];
  for (let i = 0; i < events.length; i += 1000) batches.push(events.slice(i, i + 1000) as PushEvent[]);
  const ids: string[] = [];
  await pool(batches.length, 2, async (i) => {
    const r = await postJson(ctx.agent, ctx.api, JSON.stringify({ events: batches[i] }));
    if (r.status !== 202) throw new Error(`POST /internal/events answered ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
    ids.push(...(r.json as { ids: string[] }).ids);
  });
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

/** Waits until the sandbox has seen `n` more requests per system than `base`; returns when each got there. */
async function waitForDeliveries(ctx: Ctx, systems: PushSystem[], base: Record<string, number>, n: number, timeoutMs: number, what: string, failed?: () => Error | undefined): Promise<Partial<Record<PushSystem, number>>> {
  const done: Partial<Record<PushSystem, number>> = {};
  await waitUntil(() => {
    ctx.fleet.assertAlive();
    const e = failed?.();
    if (e) throw e;
    const t = ctx.fleet.sandbox.recorder.totals();
    const now = performance.now();
    for (const s of systems) if (done[s] === undefined && t[SB[s]] - base[SB[s]] >= n) done[s] = now;
    return systems.every((s) => done[s] !== undefined);
  }, timeoutMs, () => {
    const t = ctx.fleet.sandbox.recorder.totals();
    return `${what}: ${systems.map((s) => `${s} ${t[SB[s]] - base[SB[s]]}/${n}`).join(', ')}`;
  }, 2);
  return done;
}

/**
 * Keeps the highest resident set size of each worker, read from /proc/<pid>/status (VmRSS) by the bench,
 * so sampling costs the worker nothing (scraping its /metrics four times a second cost it ~3 % CPU).
 */
function sampleRss(ctx: Ctx): void {
  for (const w of ['worker-apns', 'worker-gcm'] as const) {
    const pid = PIDS[w];
    let kb = NaN;
    try { kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]); } catch { /* not Linux, or gone */ }
    if (kb * 1024 > ctx.rss[w]) ctx.rss[w] = kb * 1024;
  }
}

async function throughput(ctx: Ctx, label: string, systems: PushSystem[], events: PushEvent[]): Promise<ThroughputRun> {
  const paused = PUSH_SYSTEMS.filter((s) => !systems.includes(s));
  for (const s of paused) await ctx.queues[s].pause();
  try {
    const recorder = ctx.fleet.sandbox.recorder;
    const base = recorder.stats();
    const cpu0 = await cpuSnapshot(ctx);
    const t0 = performance.now();
    ctx.mark(label, 'start');
    const sampling = setInterval(() => sampleRss(ctx), 250);
    let publishError: Error | undefined;
    let published = 0;
    const publishing = publishAll(ctx, events).then(() => { published = performance.now(); }, (e: Error) => { publishError = e; });
    const done = await waitForDeliveries(ctx, systems, base.requests, events.length, 30_000 + events.length * 5, `${label} deliveries`, () => publishError);
    await publishing;
    clearInterval(sampling);
    ctx.mark(label, 'end');
    const wall = (Math.max(...Object.values(done)) - t0) / 1000;
    const cpu = cpuDelta(cpu0, await cpuSnapshot(ctx));
    const after = recorder.stats();
    const perSystem: ThroughputRun['perSystem'] = {};
    for (const s of systems) {
      const seconds = (done[s]! - t0) / 1000;
      perSystem[s] = {
        seconds: round(seconds), perSecond: Math.round(events.length / seconds),
        requests: after.requests[SB[s]] - base.requests[SB[s]], succeeded: after.succeeded[SB[s]] - base.succeeded[SB[s]],
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


/**
 * Open loop: `rate` events/s for `duration` s, each event POSTED ON ITS OWN to /internal/events (keep-alive
 * agent), as a telephony backend does; latency is from sending the request to the sandbox's receipt.
 */
async function latency(ctx: Ctx, label: string, rate: number, duration: number, offset: number): Promise<LatencyRun> {
  const total = Math.max(1, Math.round(rate * duration));
  const events = benchEvents(ctx.seed, total, ctx.users, offset);
  const bodies = events.map((e) => JSON.stringify(e));
  const fifo: Record<PushSystem, Map<string, number[]>> = { apns: new Map(), gcm: new Map() };
  const lat: Record<PushSystem, number[]> = { apns: [], gcm: [] };
  let unmatched = 0;
  const listener = (e: RecordedRequest) => {
    const now = performance.now();
    const system = e.system === 'apns' ? 'apns' : e.system === 'fcm' ? 'gcm' : undefined;
    if (!system) return;
    const t = fifo[system].get(e.token)?.shift();
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
  const agent = keepAliveAgent(64);
  try {
    const cpu0 = await cpuSnapshot(ctx);
    ctx.mark(label, 'start');
    const sent = await openLoop(agent, ctx.api, bodies, rate, (i, now) => {
      const u = ctx.byOwner.get(events[i].owner)!;
      push(fifo.apns, u.apnsToken, now);
      push(fifo.gcm, u.gcmId, now);
    });
    if (sent.failed) console.warn(`[bench] ${label}: ${sent.failed} of ${total} POSTs failed; first: ${sent.firstFailure}`);
    await waitForDeliveries(ctx, ['apns', 'gcm'], base, sent.ok, 30_000 + total * 5, `${label} deliveries`).catch((e: Error) => {
      console.warn(`[bench] ${e.message}; reporting the deliveries seen`);
    });
    ctx.mark(label, 'end');
    const cpu = cpuDelta(cpu0, await cpuSnapshot(ctx));
    const stats = (xs: number[]): LatencyStats => {
      const s = [...xs].sort((p, q) => p - q);
      return {
        samples: s.length, missing: total - s.length,
        p50: round(percentile(s, 50), 2), p95: round(percentile(s, 95), 2), p99: round(percentile(s, 99), 2), max: round(s[s.length - 1] ?? NaN, 2),
      };
    };
    return { rate, label, apns: stats(lat.apns), gcm: stats(lat.gcm), achievedRate: sent.achievedRate, events: total, unmatched, failed: sent.failed, cpuSeconds: cpu };
  } finally {
    agent.destroy();
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

async function runFleetBench(args: Args, res: Resources, redis: ThrowawayRedis, details: Record<string, unknown>, figures: Record<string, number>, windows: PhaseWindows): Promise<Fleet> {
  const profileDir = path.join(ROOT, 'bench-results', 'profiles');
  if (args.profile) fs.mkdirSync(profileDir, { recursive: true });
  const fleet = await startFleet({
    redis,
    verbose: args.verbose,
    nodeArgs: args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : undefined,
    onResource: (name, close) => res.add(name, close),
  });
  for (const c of fleet.children) PIDS[c.name] = c.child.pid ?? 0;
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
  const agent = keepAliveAgent(4);
  res.add('api agent', async () => agent.destroy());

  const seed = randomBytes(6).toString('hex');
  const users = benchUsers(seed, args.users);
  const ctx: Ctx = {
    agent, api: { url: `${fleet.apiUrl}/internal/events`, token: fleet.secrets.internalToken },
    mark: (phase, edge) => { (windows[phase] ??= { from: 0, to: 0 })[edge === 'start' ? 'from' : 'to'] = Number(process.hrtime.bigint() / 1000n); },
    rss: { 'worker-apns': 0, 'worker-gcm': 0 },
    args, res, fleet, admin, queues, producer, users, byOwner: new Map(users.map((u) => [u.userId, u])), seed,
  };
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

  // Warm-up: connections, JWT signing, OAuth grant, JIT.
  const warm = Math.min(1000, Math.max(100, Math.floor(args.events / 10)));
  const wbase = fleet.sandbox.recorder.totals();
  await publishAll(ctx, benchEvents(seed, warm, users, 1_000_000));
  await waitForDeliveries(ctx, ['apns', 'gcm'], wbase, warm, 60_000, 'warm-up deliveries');

  // 2. Throughput, each system alone with its baselines right after it (the machine is shared and noisy:
  // figures that are compared are taken next to each other), then both systems at once.
  const events = benchEvents(seed, args.events, users);
  const sandbox = fleet.sandbox;
  const baselineRun = async <T extends BaselineResult>(mode: T['mode'], params: object, spawnOpts: BaselineSpawn = {}) => {
    const b0 = cpuSeconds();
    const r0 = await redisCpuSeconds(admin);
    const t0 = performance.now();
    const out = await runBaseline<T>(res, mode, params, 120_000 + args.events * 10, spawnOpts);
    const wall = (performance.now() - t0) / 1000;
    return { out, sandboxCpuSeconds: round(cpuSeconds() - b0), redisCpuSeconds: round((await redisCpuSeconds(admin)) - r0), wallSeconds: round(wall) };
  };
  const common = { seed, users: args.users, events: args.events, warmup: warm };
  const apnsKey = {
    port: sandbox.apns.developmentPort, caFile: sandbox.caFile, topic: 'de.cospace.app', inflight: args.apnsInflight,
    keyFile: path.join(fleet.dir, `AuthKey_${fleet.secrets.apnsKey.keyId}.p8`), keyId: fleet.secrets.apnsKey.keyId, teamId: fleet.secrets.apnsKey.teamId,
  };
  // The same in-flight requests worker-gcm allows (connections x streams per connection).
  const fcmInflight = fleet.gcmEnv.GCM_CONNECTIONS * fleet.gcmEnv.GCM_MAX_INFLIGHT;
  const preload = path.join(ROOT, 'scripts/dist/bench/fcm-preload.js');
  const fcmSpawn: BaselineSpawn = { nodeArgs: ['--require', preload], env: { BENCH_GOOGLE_PORT: String(sandbox.google.port), BENCH_CA_FILE: sandbox.caFile } };

  type ApnsBaseline = Extract<BaselineResult, { mode: 'apns' }>;
  type RawBaseline = Extract<BaselineResult, { mode: 'h2raw' }>;
  type FcmBaseline = Extract<BaselineResult, { mode: 'fcm-admin' }>;
  type Run<T extends BaselineResult> = Awaited<ReturnType<typeof baselineRun<T>>>;
  const rounds: Round[] = [];
  for (let r = 1; r <= args.rounds; r++) {
    const of = args.rounds > 1 ? ` (round ${r}/${args.rounds})` : '';
    log(`throughput: ${args.events} events posted in batches, APNs alone${of}`);
    const apns = await throughput(ctx, r === 1 ? 'apns-full' : `apns-full-${r}`, ['apns'], events);
    log(`baseline: node-apn, a send per event, ${args.apnsInflight} outstanding; then one notification to 1000 tokens${of}`);
    const nodeApn: Run<ApnsBaseline> = await baselineRun<ApnsBaseline>('apns', { ...common, ...apnsKey });
    log(`baseline: raw node:http2, prebuilt requests, ${args.apnsInflight} outstanding${of}`);
    const h2raw: Run<RawBaseline> = await baselineRun<RawBaseline>('h2raw', { ...common, ...apnsKey });
    log(`throughput: ${args.events} events posted in batches, FCM v1 alone${of}`);
    const gcm = await throughput(ctx, r === 1 ? 'gcm-full' : `gcm-full-${r}`, ['gcm'], events);
    log(`baseline: firebase-admin messaging().send(), ${fcmInflight} outstanding${of}`);
    const fcmAdmin: Run<FcmBaseline> = await baselineRun<FcmBaseline>('fcm-admin', { ...common, serviceAccountFile: fleet.fcm.serviceAccountFile, projectId: fleet.fcm.projectId, inflight: fcmInflight }, fcmSpawn);
    rounds.push({ apns, nodeApn: nodeApn.out, h2raw: h2raw.out, gcm, fcmAdmin: fcmAdmin.out });
    for (const [name, run] of [['node-apn', nodeApn.out.run], ['node-apn 1000 tokens', nodeApn.out.multicast], ['raw http2', h2raw.out.run], ['firebase-admin', fcmAdmin.out.run]] as [string, MeasuredRun][]) {
      if (run.failed) console.warn(`[bench] baseline ${name}: ${run.failed} of ${run.items} failed: ${run.failures.join('; ')}`);
    }
  }
  log('info: legacy GCM through node-gcm (Google shut that API down; not compared)');
  const nodeGcm = await baselineRun<Extract<BaselineResult, { mode: 'gcm' }>>('gcm', {
    ...common, url: sandbox.google.legacyUrl, apiKey: fleet.secrets.gcmApiKey, inflight: fleet.gcmEnv.GCM_CONCURRENCY, multicastInflight: 10,
  });
  log(`baseline: BullMQ addBulk + no-op worker, concurrency ${fleet.apnsEnv.APNS_CONCURRENCY}`);
  const bMq = await baselineRun<Extract<BaselineResult, { mode: 'bullmq' }>>('bullmq', {
    seed, users: args.users, jobs: args.events, redisUrl: redis.url, prefix: 'bench-baseline', concurrency: fleet.apnsEnv.APNS_CONCURRENCY,
  });
  log(`throughput: ${args.events} events, both systems at once`);
  const tBoth = await throughput(ctx, 'both', ['apns', 'gcm'], events);
  Object.assign(details, { rounds, nodeGcm: nodeGcm.out, both: tBoth, bullmq: bMq.out });

  // 3. Latency with events posted one per request: at the rate, then at a tenth of it (light load).
  log(`latency: ${args.rate} events/s for ${args.duration} s, one event per POST`);
  const lat = await latency(ctx, 'per-request', args.rate, args.duration, 2_000_000);
  const lowRate = Math.max(1, Math.round(args.rate / 10));
  const lowDuration = Math.min(args.duration, 5);
  log(`latency: ${lowRate} events/s for ${lowDuration} s, one event per POST`);
  const latLow = await latency(ctx, 'per-request-light', lowRate, lowDuration, 2_500_000);
  details.latency = { atRate: lat, atLowRate: latLow };

  // 4. Redis bytes per queued event.
  log(`memory: ${args.queued} events queued on paused queues`);
  details.queuedMemory = await queuedMemory(ctx);

  // 5. Ingestion.
  log(`ingestion: ${args.ingestEvents} events x ${args.ingestRounds} round(s), producer vs raw addBulk`);
  const ing = await runIngest(redis.url, args);
  details.ingest = ing;

  // 6. Registry size: APNs alone with the bench's tokens only, then with `registry` more tokens registered.
  log(`registry: APNs alone with ${args.users * 2} registered tokens, then with ${args.registry} more`);
  const regSmall = await throughput(ctx, 'registry-small', ['apns'], events);
  const fillSeconds = await fillRegistry(ctx, args.registry);
  const regLarge = await throughput(ctx, 'registry-large', ['apns'], events);
  details.registry = { small: regSmall, large: regLarge, extraTokens: args.registry, fillSeconds };

  // 7. Backlog: deliveries/s of the first events while a small vs a large backlog is queued.
  log(`backlog: draining ${args.backlogSmall} vs ${args.backlog} queued events (${args.events} deliveries measured each)`);
  details.backlog = await backlogPhase(ctx, args.backlogSmall, args.backlog, args.events);

  // 8. The API and Redis alone (workers stopped): one event per request, vs a bare HTTP server.
  log(`api alone: ${args.apiRequests} single-event POSTs, ${args.apiConcurrency} outstanding, workers stopped; then a bare node:http server`);
  details.apiAlone = await apiAlonePhase(ctx, args.apiRequests, args.apiConcurrency);
  details.rss = ctx.rss;
  details.windows = windows;

  Object.assign(figures, fleetFigures(details as unknown as FleetDetails), ingestFigures(ing));
  return fleet;
}

/** Fleet process name -> pid, to find each one's .cpuprofile (named CPU.<date>.<time>.<pid>...). */
const PIDS: Record<string, number> = {};

/** Which process is profiled in which phase: the workers under full, one-event-per-request and light load, the API under the second. */
const PROFILED: [string, string][] = [
  ['worker-apns', 'apns-full'], ['worker-gcm', 'gcm-full'], ['api', 'apns-full'],
  ['worker-apns', 'per-request'], ['worker-gcm', 'per-request'], ['api', 'per-request'], ['api', 'api-alone'],
  ['worker-apns', 'per-request-light'], ['worker-gcm', 'per-request-light'],
];

function profilesOf(windows: PhaseWindows, since: number): Record<string, ProfileSummary> {
  const dir = path.join(ROOT, 'bench-results', 'profiles');
  const out: Record<string, ProfileSummary> = {};
  for (const [proc, phase] of PROFILED) {
    const file = newestProfile(dir, since, `.${PIDS[proc]}.`);
    const w = windows[phase];
    if (!file || !w) { console.warn(`[bench] --profile: no profile of ${proc} or no ${phase} phase`); continue; }
    out[`${proc}@${phase}`] = summarizeProfile(file, 25, { from: w.from, to: w.to, absoluteUs: true });
    console.log(`\n${proc} during ${phase} (${path.relative(ROOT, file)}):\n${formatProfile(out[`${proc}@${phase}`])}`);
  }
  return out;
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
  const budgetMs = args.quick ? 170_000 : 30 * 60_000;
  setTimeout(() => abort(`the bench did not finish within ${budgetMs / 1000} s`, 1), budgetMs).unref();

  const figures: Record<string, number> = {};
  const details: Record<string, unknown> = {};
  const windows: PhaseWindows = {};
  let machine: Results['machine'];
  let failed: unknown;
  try {
    if (args.cluster) {
      const cluster = await runClusterBench({ users: args.users, events: args.events, verbose: args.verbose });
      const out = args.json ? path.resolve(args.json) : path.join(ROOT, 'bench-results', `bench-cluster-${stamp}.json`);
      fs.mkdirSync(path.dirname(out), { recursive: true });
      fs.writeFileSync(out, `${JSON.stringify({ command: `bench ${process.argv.slice(2).join(' ')}`, startedAt: new Date(started).toISOString(), loadavg1: os.loadavg()[0], cluster }, null, 2)}\n`);
      console.log(`\nwrote ${path.relative(process.cwd(), out) || out}`);
      process.exit(0);
    }
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
      await runFleetBench(args, res, redis, details, figures, windows);
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
    command: `node scripts/dist/bench/main.js ${process.argv.slice(2).join(' ')}`.trim(),
    startedAt: new Date(started).toISOString(),
    machine: machine!,
    params: { ...args, seconds: round((Date.now() - started) / 1000, 1) },
    figures,
    targets: targetsFor(figures),
    rows: rowsFor(figures, { ...args }),
    details,
  };
  if (args.profile) results.profiles = profilesOf(windows, started);
  results.machine.loadavg1AtEnd = round(os.loadavg()[0], 2);
  const bad = Object.entries(figures).filter(([, v]) => !Number.isFinite(v));
  const m = results.machine;
  console.log(`\npushfleet bench: ${m.nproc} cores (${m.cpu}), node ${m.node}, redis ${m.redis}, ${results.startedAt}, ${results.params.seconds} s, load ${m.loadavg1} -> ${m.loadavg1AtEnd}`);
  console.log(formatTable(results.rows, results.targets, args.only ? 1 : args.rounds));
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
