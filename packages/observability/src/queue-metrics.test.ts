import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { testRedisUrl, uniquePrefix, waitFor } from '../../../test/support/env';
import { queueSnapshot, registerQueueMetrics } from './queue-metrics';

let redis: Redis;
let prefix: string;
let apns: Queue;
let gcm: Queue;
const workers: Worker[] = [];

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  prefix = uniquePrefix('queue-metrics');
  apns = new Queue('{apns}', { connection: redis, prefix });
  gcm = new Queue('{gcm}', { connection: redis, prefix });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close(true)));
  await apns.close();
  await gcm.close();
  await redis.quit();
});

/** The value of one sample of one metric from a fresh scrape (undefined when the series is absent). */
async function sample(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const all = await registry.getMetricsAsJSON();
  const metric = all.find((m) => m.name === name);
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value;
}

function newRegistry(queues = [{ name: 'apns', queue: apns }, { name: 'gcm', queue: gcm }], opts = { cacheMs: 0 }): Registry {
  const registry = new Registry();
  registerQueueMetrics(registry, queues, opts);
  return registry;
}

test('an empty queue: every state 0, oldest age 0, readable', async () => {
  const registry = newRegistry();
  for (const state of ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed', 'paused']) {
    expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'apns', state })).toBe(0);
  }
  expect(await sample(registry, 'pushfleet_queue_oldest_waiting_age_seconds', { queue: 'apns' })).toBe(0);
  expect(await sample(registry, 'pushfleet_dead_letter_jobs', { queue: 'apns' })).toBe(0);
  expect(await sample(registry, 'pushfleet_queue_paused', { queue: 'apns' })).toBe(0);
  expect(await sample(registry, 'pushfleet_queue_metrics_ok', { queue: 'apns' })).toBe(1);
  // The exposition text is what Prometheus parses: one line per series, names as catalogued.
  const text = await registry.metrics();
  expect(text).toMatch(/^pushfleet_queue_jobs\{queue="gcm",partition="0",state="waiting"\} 0$/m);
});

test('waiting, delayed and prioritized counts, and the age of the job next in line (the oldest)', async () => {
  const now = Date.now();
  await apns.add('chat_message', { n: 1 }, { timestamp: now - 90_000 });
  await apns.add('chat_message', { n: 2 }, { timestamp: now - 30_000 });
  await apns.add('fax_new', { n: 3 });
  await apns.add('fax_new', { n: 4 }, { delay: 600_000 });
  await apns.add('fax_new', { n: 5 }, { priority: 3 });
  const registry = newRegistry();
  expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'apns', state: 'waiting' })).toBe(3);
  expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'apns', state: 'delayed' })).toBe(1);
  expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'apns', state: 'prioritized' })).toBe(1);
  const age = await sample(registry, 'pushfleet_queue_oldest_waiting_age_seconds', { queue: 'apns' });
  expect(age).toBeGreaterThanOrEqual(90);
  expect(age).toBeLessThan(120);
  // The other queue is untouched.
  expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'gcm', state: 'waiting' })).toBe(0);
  await apns.drain(true);
});

test('active, completed and failed (dead-letter) jobs', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  const worker = new Worker('{gcm}', async (job: Job) => {
    if (job.name === 'bad') throw new UnrecoverableError('configuration: 2 token(s) still owed after 1 attempt(s)');
    if (job.name === 'hold') await held;
  }, { connection: redis, prefix, concurrency: 5 });
  workers.push(worker);
  await gcm.add('ok', {});
  await gcm.add('bad', {});
  await gcm.add('bad', {});
  await gcm.add('hold', {});
  const registry = newRegistry();
  await waitFor(async () => (await sample(registry, 'pushfleet_dead_letter_jobs', { queue: 'gcm' })) === 2, { what: 'two dead-lettered jobs' });
  await waitFor(async () => (await sample(registry, 'pushfleet_queue_jobs', { queue: 'gcm', state: 'active' })) === 1, { what: 'one active job' });
  expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'gcm', state: 'failed' })).toBe(2);
  expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'gcm', state: 'completed' })).toBe(1);
  release();
  await waitFor(async () => (await sample(registry, 'pushfleet_queue_jobs', { queue: 'gcm', state: 'completed' })) === 2, { what: 'held job completed' });
  expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'gcm', state: 'active' })).toBe(0);
  await worker.close();
});

test('a paused queue reports its backlog as paused, not waiting', async () => {
  await apns.add('fax_new', {});
  await apns.add('fax_new', {});
  await apns.pause();
  try {
    const registry = newRegistry();
    expect(await sample(registry, 'pushfleet_queue_paused', { queue: 'apns' })).toBe(1);
    expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'apns', state: 'paused' })).toBe(2);
    expect(await sample(registry, 'pushfleet_queue_jobs', { queue: 'apns', state: 'waiting' })).toBe(0);
  } finally {
    await apns.resume();
  }
  const snap = await queueSnapshot(apns);
  expect(snap.paused).toBe(false);
  expect(snap.counts.waiting).toBe(2);
  await apns.drain(true);
});

test('one scrape reads Redis once for all gauges; readings are reused for cacheMs', async () => {
  const spy = jest.spyOn(apns, 'getJobCounts');
  try {
    const registry = newRegistry([{ name: 'apns', queue: apns }], { cacheMs: 60_000 });
    await registry.metrics();
    expect(spy).toHaveBeenCalledTimes(1);
    await registry.metrics();
    expect(spy).toHaveBeenCalledTimes(1);
    const fresh = newRegistry([{ name: 'apns', queue: apns }], { cacheMs: 0 });
    await fresh.metrics();
    await fresh.metrics();
    expect(spy).toHaveBeenCalledTimes(3);
  } finally {
    spy.mockRestore();
  }
});

test('a queue Redis cannot answer: /metrics still answers in time, queue_metrics_ok 0 and no stale numbers', async () => {
  // BullMQ waits for a reconnecting client instead of failing (and reconnects it even after a disconnect),
  // so a Redis that is away is simulated at the Queue: one read that hangs, one that fails.
  const hanging = new Queue('{apns}', { connection: redis, prefix });
  const failing = new Queue('{gcm}', { connection: redis, prefix });
  jest.spyOn(hanging, 'getJobCounts').mockReturnValue(new Promise(() => undefined));
  jest.spyOn(failing, 'getJobCounts').mockRejectedValue(new Error('Connection is closed.'));
  const healthy = new Queue('{other}', { connection: redis, prefix });
  try {
    const registry = new Registry();
    registerQueueMetrics(registry, [{ name: 'apns', queue: hanging }, { name: 'gcm', queue: failing }, { name: 'other', queue: healthy }], { cacheMs: 0, timeoutMs: 300 });
    const started = Date.now();
    const text = await registry.metrics();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(text).toMatch(/^pushfleet_queue_metrics_ok\{queue="apns",partition="0"\} 0$/m);
    expect(text).toMatch(/^pushfleet_queue_metrics_ok\{queue="gcm",partition="0"\} 0$/m);
    expect(text).toMatch(/^pushfleet_queue_metrics_ok\{queue="other",partition="0"\} 1$/m);
    expect(text).not.toMatch(/^pushfleet_queue_jobs\{queue="(apns|gcm)"/m);
    expect(text).not.toMatch(/^pushfleet_dead_letter_jobs\{queue="(apns|gcm)"/m);
    expect(text).toMatch(/^pushfleet_queue_jobs\{queue="other",partition="0",state="waiting"\} 0$/m);
  } finally {
    await Promise.all([hanging.close(), failing.close(), healthy.close()]);
  }
});
