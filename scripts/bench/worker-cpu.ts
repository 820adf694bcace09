#!/usr/bin/env node
// A focused CPU benchmark of the worker's per-delivery path, without Redis, BullMQ's fetch loop or HTTP/2:
// DeliveryWorker.process() on job data as the producer writes it (EVENTS_PER_JOB events, one user, one
// token each), the registry's read path over a fake client that answers stored values, the real APNs
// or FCM v1 transport over a pool whose request() answers 200 on the next tick, real prom-client metrics.
//
//   node scripts/dist/bench/worker-cpu.js apns|gcm [--jobs N] [--inflight K] [--rounds R]
//
// Prints CPU-s per 10k deliveries for each round (the minimum is the figure: the box is shared).
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import { DEFAULT_POLICIES, EVENTS_PER_JOB, PushJobData } from '@pushfleet/events';
import { encodeToken, encodeUser, TokenRegistry } from '@pushfleet/registry';
import { ApnsTransport, createDeliveryMetrics, DeliveryWorker, FcmAuth, FcmV1Transport } from '@pushfleet/delivery';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { H2Pool } = require('@pushfleet/delivery/dist/h2/pool') as { H2Pool: { prototype: { request: unknown } } };
import { benchEvents, benchUsers } from './data';

const system = process.argv[2] === 'gcm' ? 'gcm' : 'apns';
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const JOBS = arg('--jobs', 1000);
const INFLIGHT = arg('--inflight', 25);
const ROUNDS = arg('--rounds', 5);
const APP = 'ABCDE12345.com.pushfleet.bench';

const ok = { status: 200, headers: {}, body: '' };
H2Pool.prototype.request = function request(): Promise<unknown> {
  return new Promise((resolve) => setImmediate(resolve, ok));
};

const users = benchUsers('micro', 500);
const blobs = new Map<string, string>();
for (const u of users) {
  const at = Date.now().toString(36);
  const a = `=a,1,${at},${APP};0;,${encodeToken('apns', u.apnsToken)}`;
  const g = `=g,1,${at},,${encodeToken('gcm', u.gcmId)}`;
  blobs.set(encodeUser(u.userId), `${a}\n${g}`);
}
// A client that answers READ_USERS (pfReadUsers: the keys, then the stored user fields) from memory.
const fakeRedis = {
  isCluster: false,
  pfIndexClaim() { /* defined: the registry then defines no scripts */ },
  pfReadUsers(n: number, ...args: string[]) {
    return Promise.resolve(args.slice(n).map((f) => blobs.get(f) ?? null));
  },
};
const tokens = new TokenRegistry(fakeRedis as unknown as Redis);
const metrics = createDeliveryMetrics(new Registry());
const logger = pino({ level: 'silent' });

function transport() {
  if (system === 'apns') {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const apps = new Map([[APP, { applicationId: APP, bundleId: APP.slice(11), credentials: { kind: 'token' as const, keyPem, keyId: 'KEY1234567', teamId: 'TEAM123456' } }]]);
    return new ApnsTransport({ apps, productionUrl: 'https://127.0.0.1:1', sandboxUrl: 'https://127.0.0.1:1', connectionsPerEndpoint: 1, maxInflightPerConnection: 1000, requestTimeoutMs: 10_000, metrics });
  }
  const auth = { token: () => Promise.resolve('ya29.bench-access-token'), invalidate() {}, close() {} } as unknown as FcmAuth;
  return new FcmV1Transport({ auth, projectId: 'bench', baseUrl: 'https://127.0.0.1:1', connections: 1, maxInflightPerConnection: 1000, requestTimeoutMs: 10_000, metrics });
}

const worker = new DeliveryWorker({
  system,
  connection: new Redis({ lazyConnect: true, port: 1, maxRetriesPerRequest: null, retryStrategy: () => null }),
  tokens,
  transport: transport() as never,
  policies: DEFAULT_POLICIES,
  retry: { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 },
  concurrency: 1,
  metrics,
  logger,
  autorun: false,
});
const processJob = (worker as unknown as { process(job: Job): Promise<void> }).process.bind(worker);

function jobs(n: number, offset: number): Job[] {
  const events = benchEvents('micro', n * EVENTS_PER_JOB, users, offset);
  const out: Job[] = [];
  const now = Date.now();
  for (let j = 0; j < n; j++) {
    const data: PushJobData = { events: [] };
    for (let k = 0; k < EVENTS_PER_JOB; k++) data.events.push({ id: `e${offset + j * EVENTS_PER_JOB + k}x`, event: events[j * EVENTS_PER_JOB + k], enqueuedAt: now });
    // What BullMQ hands the processor: data parsed from the JSON in Redis.
    out.push({ id: `j${offset + j}`, data: JSON.parse(JSON.stringify(data)) } as unknown as Job);
  }
  return out;
}

async function round(list: Job[]): Promise<number> {
  let next = 0;
  const started = process.cpuUsage();
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (next < list.length) await processJob(list[next++]);
  }));
  const used = process.cpuUsage(started);
  return ((used.user + used.system) / 1e6) * (10_000 / (JOBS * EVENTS_PER_JOB));
}

async function main(): Promise<void> {
  // All jobs built before measuring (their garbage is not the worker's).
  const lists = Array.from({ length: ROUNDS + 1 }, (_, r) => jobs(JOBS, r * JOBS * EVENTS_PER_JOB));
  await round(lists[0]); // warm-up
  const per10k: number[] = [];
  for (let r = 1; r <= ROUNDS; r++) per10k.push(await round(lists[r]));
  const delivered = await metrics.deliveries.get();
  const total = delivered.values.reduce((a, v) => a + v.value, 0);
  process.stdout.write(`${system}: CPU-s per 10k deliveries, ${ROUNDS} rounds: ${per10k.map((x) => x.toFixed(3)).join(' ')}  min ${Math.min(...per10k).toFixed(3)}  (deliveries counted: ${total})\n`);
  process.exit(0);
}

void main();
