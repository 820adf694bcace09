#!/usr/bin/env node
// One baseline of `npm run bench`, in its own process so its CPU time is its own:
//
//   node scripts/dist/bench/baseline.js apns   '<json params>'   direct @parse/node-apn, no queue
//   node scripts/dist/bench/baseline.js gcm    '<json params>'   direct node-gcm (per event, and multicast)
//   node scripts/dist/bench/baseline.js bullmq '<json params>'   BullMQ addBulk + a no-op Worker
//   ... h2raw | fcm-admin | http: see scripts/bench/baseline-more.ts
//
// The users and events are rebuilt from the seed (scripts/bench/data.ts), so a baseline sends exactly
// what pushfleet sent. Prints one JSON line with its results, including its own process.cpuUsage().
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import apn from '@parse/node-apn';
import { Message, Sender } from 'node-gcm';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { buildApnsPayload, buildGcmData, DEFAULT_JOB_OPTIONS, DEFAULT_POLICIES, PushJobData } from '@pushfleet/events';
import { benchEvents, benchUsers } from './data';
import { cpuSeconds, pool, round } from './util';
import { fcmAdminBaseline, FcmAdminParams, H2RawParams, h2RawBaseline, httpBaseline } from './baseline-more';

/** What every baseline reports for its measured section. */
export interface MeasuredRun {
  items: number;
  ok: number;
  failed: number;
  seconds: number;
  perSecond: number;
  cpuSeconds: number;
  cpuSecondsPer10k: number;
  /** Up to 5 distinct failure descriptions. */
  failures: string[];
}

export interface ApnsBaselineParams {
  seed: string; users: number; events: number; warmup: number;
  port: number; caFile: string; keyFile: string; keyId: string; teamId: string; topic: string;
  /** Sends outstanding at once (node-apn itself has no cap). */
  inflight: number;
}
export interface GcmBaselineParams {
  seed: string; users: number; events: number; warmup: number;
  url: string; apiKey: string;
  /** Per-event sends outstanding at once. */
  inflight: number;
  /** Multicast requests (1000 ids each) outstanding at once. */
  multicastInflight: number;
}
export interface BullmqBaselineParams {
  seed: string; users: number; jobs: number;
  redisUrl: string; prefix: string; concurrency: number;
}

export type BaselineResult =
  | { mode: 'apns'; inflight: number; run: MeasuredRun; multicast: MeasuredRun; cpuUsage: NodeJS.CpuUsage }
  | Awaited<ReturnType<typeof h2RawBaseline>>
  | Awaited<ReturnType<typeof fcmAdminBaseline>>
  | Awaited<ReturnType<typeof httpBaseline>>
  | { mode: 'gcm'; inflight: number; multicastInflight: number; perEvent: MeasuredRun; multicast: MeasuredRun & { requests: number }; cpuUsage: NodeJS.CpuUsage }
  | { mode: 'bullmq'; concurrency: number; addBulk: MeasuredRun; drain: MeasuredRun; cpuUsage: NodeJS.CpuUsage };

function measured(items: number, ok: number, failures: Map<string, number>, seconds: number, cpu: number): MeasuredRun {
  const failed = [...failures.values()].reduce((a, b) => a + b, 0);
  return {
    items, ok, failed,
    seconds: round(seconds, 4),
    perSecond: Math.round(items / seconds),
    cpuSeconds: round(cpu, 4),
    cpuSecondsPer10k: round((cpu / items) * 10_000, 4),
    failures: [...failures.keys()].slice(0, 5),
  };
}

async function timed(fn: () => Promise<void>): Promise<{ seconds: number; cpu: number }> {
  const c0 = cpuSeconds();
  const t0 = process.hrtime.bigint();
  await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpu: cpuSeconds() - c0 };
}

// --- (a) node-apn, what Parse's push adapter does: provider.send(note, token) per notification ---------

async function apnsBaseline(p: ApnsBaselineParams): Promise<BaselineResult> {
  const users = benchUsers(p.seed, p.users);
  const events = benchEvents(p.seed, p.events, users);
  const warm = benchEvents(p.seed, p.warmup, users, 1_000_000);
  const provider = new apn.Provider({
    token: { key: fs.readFileSync(p.keyFile, 'utf8'), keyId: p.keyId, teamId: p.teamId },
    production: false,
    address: 'localhost',
    port: p.port,
    ca: [fs.readFileSync(p.caFile, 'utf8')],
    connectionRetryLimit: 0,
  });
  const byOwner = new Map(users.map((u) => [u.userId, u]));
  let ok = 0;
  const failures = new Map<string, number>();
  const sendOne = async (event: (typeof events)[number]) => {
    const note = new apn.Notification();
    note.rawPayload = buildApnsPayload(event);
    note.topic = p.topic;
    note.pushType = 'background';
    note.priority = 5;
    note.expiry = Math.floor(Date.now() / 1000) + DEFAULT_POLICIES[event.message].ttlSeconds;
    const r = await provider.send(note, byOwner.get(event.owner)!.apnsToken);
    ok += r.sent.length;
    for (const f of r.failed) {
      const why = f.response?.reason ?? (f.status ? String(f.status) : f.error?.message ?? 'unknown');
      failures.set(why, (failures.get(why) ?? 0) + 1);
    }
  };
  await pool(warm.length, p.inflight, (i) => sendOne(warm[i])); // TLS, JWT signing, JIT
  ok = 0;
  failures.clear();
  const t = await timed(() => pool(events.length, p.inflight, (i) => sendOne(events[i])));
  const run = measured(events.length, ok, failures, t.seconds, t.cpu);

  // Its cheapest case: one notification (the first event of each chunk) to 1000 tokens per send().
  const tokens = events.map((e) => byOwner.get(e.owner)!.apnsToken);
  ok = 0;
  failures.clear();
  const tm = await timed(async () => {
    for (let i = 0; i < tokens.length; i += 1000) {
      const note = new apn.Notification();
      note.rawPayload = buildApnsPayload(events[i]);
      note.topic = p.topic;
      note.pushType = 'background';
      note.priority = 5;
      note.expiry = Math.floor(Date.now() / 1000) + DEFAULT_POLICIES[events[i].message].ttlSeconds;
      const r = await provider.send(note, tokens.slice(i, i + 1000));
      ok += r.sent.length;
      for (const f of r.failed) {
        const why = f.response?.reason ?? (f.status ? String(f.status) : f.error?.message ?? 'unknown');
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
    }
  });
  const multicast = measured(tokens.length, ok, failures, tm.seconds, tm.cpu);
  await provider.shutdown();
  return { mode: 'apns', inflight: p.inflight, run, multicast, cpuUsage: process.cpuUsage() };
}

// --- (b) node-gcm: the same messages to the same ids ---------------------------------------------------

function gcmSend(sender: Sender, message: Message, ids: string[]): Promise<{ ok: number; failed: Map<string, number> }> {
  return new Promise((resolve) => {
    sender.send(message, { registrationTokens: ids }, 0, (err, body) => {
      const failed = new Map<string, number>();
      if (err || !body || !Array.isArray(body.results)) {
        failed.set(`request: ${typeof err === 'number' ? err : (err as Error | undefined)?.message ?? 'no results'}`, ids.length);
        resolve({ ok: 0, failed });
        return;
      }
      let ok = 0;
      for (const r of body.results) {
        if (r.error) failed.set(r.error, (failed.get(r.error) ?? 0) + 1);
        else ok++;
      }
      resolve({ ok, failed });
    });
  });
}

async function gcmBaseline(p: GcmBaselineParams): Promise<BaselineResult> {
  const users = benchUsers(p.seed, p.users);
  const events = benchEvents(p.seed, p.events, users);
  const warm = benchEvents(p.seed, p.warmup, users, 1_000_000);
  const byOwner = new Map(users.map((u) => [u.userId, u]));
  // As a direct caller would: one Sender, node-gcm's own HTTP client (axios, Node's global keep-alive agent).
  const sender = new Sender(p.apiKey, { uri: p.url } as ConstructorParameters<typeof Sender>[1]);
  const messageOf = (e: (typeof events)[number]) => new Message({
    priority: DEFAULT_POLICIES[e.message].gcmPriority,
    timeToLive: DEFAULT_POLICIES[e.message].ttlSeconds,
    data: buildGcmData(e),
  });

  // Per event: each event's message to its owner's registration ids (one each here), as pushfleet sends it.
  let ok = 0;
  const failures = new Map<string, number>();
  const sendEvent = async (e: (typeof events)[number]) => {
    const r = await gcmSend(sender, messageOf(e), [byOwner.get(e.owner)!.gcmId]);
    ok += r.ok;
    for (const [k, v] of r.failed) failures.set(k, (failures.get(k) ?? 0) + v);
  };
  await pool(warm.length, p.inflight, (i) => sendEvent(warm[i]));
  ok = 0;
  failures.clear();
  const t1 = await timed(() => pool(events.length, p.inflight, (i) => sendEvent(events[i])));
  const perEvent = measured(events.length, ok, failures, t1.seconds, t1.cpu);

  // Multicast: the same ids, 1000 per request (the legacy API's limit), each request carrying one message
  // (the first event of its chunk). Only a broadcast of one message can be sent like this.
  const ids = events.map((e) => byOwner.get(e.owner)!.gcmId);
  const chunks: { message: Message; ids: string[] }[] = [];
  for (let i = 0; i < ids.length; i += 1000) chunks.push({ message: messageOf(events[i]), ids: ids.slice(i, i + 1000) });
  let mok = 0;
  const mfail = new Map<string, number>();
  const t2 = await timed(() => pool(chunks.length, p.multicastInflight, async (i) => {
    const r = await gcmSend(sender, chunks[i].message, chunks[i].ids);
    mok += r.ok;
    for (const [k, v] of r.failed) mfail.set(k, (mfail.get(k) ?? 0) + v);
  }));
  const multicast = { ...measured(ids.length, mok, mfail, t2.seconds, t2.cpu), requests: chunks.length };
  return { mode: 'gcm', inflight: p.inflight, multicastInflight: p.multicastInflight, perEvent, multicast, cpuUsage: process.cpuUsage() };
}

// --- (c) BullMQ alone: addBulk the same jobs, then a no-op Worker drains them ---------------------------

async function bullmqBaseline(p: BullmqBaselineParams): Promise<BaselineResult> {
  const users = benchUsers(p.seed, p.users);
  const events = benchEvents(p.seed, p.jobs, users);
  const connection = new Redis(p.redisUrl, { maxRetriesPerRequest: null });
  const name = `{bench-noop-${randomUUID().slice(0, 8)}}`;
  const queue = new Queue<PushJobData>(name, { connection, prefix: p.prefix });
  let worker: Worker | undefined;
  try {
    await queue.waitUntilReady();
    const enqueuedAt = Date.now();
    const jobs = events.map((event) => {
      const id = randomUUID();
      const data: PushJobData = { events: [{ id, event, enqueuedAt }] };
      return { name: event.message, data, opts: { ...DEFAULT_JOB_OPTIONS, jobId: id } };
    });
    const ta = await timed(async () => {
      for (let i = 0; i < jobs.length; i += 1000) await queue.addBulk(jobs.slice(i, i + 1000));
    });
    const addBulk = measured(jobs.length, jobs.length, new Map(), ta.seconds, ta.cpu);

    let completed = 0;
    let failed = 0;
    worker = new Worker(name, async () => undefined, { connection, prefix: p.prefix, concurrency: p.concurrency, autorun: false });
    worker.on('error', () => undefined);
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no-op worker drained ${completed}/${jobs.length} jobs in 120 s`)), 120_000);
      const check = () => { if (completed + failed >= jobs.length) { clearTimeout(timer); resolve(); } };
      worker!.on('completed', () => { completed++; check(); });
      worker!.on('failed', () => { failed++; check(); });
    });
    const td = await timed(async () => {
      void worker!.run();
      await done;
    });
    const drain = measured(jobs.length, completed, failed ? new Map([['failed', failed]]) : new Map(), td.seconds, td.cpu);
    return { mode: 'bullmq', concurrency: p.concurrency, addBulk, drain, cpuUsage: process.cpuUsage() };
  } finally {
    await worker?.close().catch(() => undefined);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close().catch(() => undefined);
    await connection.quit().catch(() => connection.disconnect());
  }
}

async function main(): Promise<void> {
  const [mode, raw] = process.argv.slice(2);
  if (!mode || !raw) throw new Error('usage: baseline <apns|gcm|bullmq|h2raw|fcm-admin|http> <json-params>');
  const params = JSON.parse(raw) as unknown;
  let result: BaselineResult;
  if (mode === 'apns') result = await apnsBaseline(params as ApnsBaselineParams);
  else if (mode === 'gcm') result = await gcmBaseline(params as GcmBaselineParams);
  else if (mode === 'bullmq') result = await bullmqBaseline(params as BullmqBaselineParams);
  else if (mode === 'h2raw') result = await h2RawBaseline(params as H2RawParams, measured, timed);
  else if (mode === 'fcm-admin') result = await fcmAdminBaseline(params as FcmAdminParams, measured, timed);
  else if (mode === 'http') result = await httpBaseline();
  else throw new Error(`unknown mode ${mode}`);
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

if (require.main === module) {
  // A hard stop, whatever happens: the parent also kills us, but we must never outlive it.
  setTimeout(() => { process.stderr.write('bench-baseline: gave up after 300 s\n'); process.exit(1); }, 300_000).unref();
  main().catch((e) => {
    process.stdout.write(`${JSON.stringify({ error: (e as Error).message ?? String(e) })}\n`, () => process.exit(1));
  });
}
