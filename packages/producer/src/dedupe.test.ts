import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { PushEventInput, PushJobData, PUSH_SYSTEMS, QUEUE_NAMES } from '@pushfleet/events';
import { testRedisUrl, uniquePrefix, waitFor } from '../../../test/support/env';
import { createProducer, dedupeKey } from './index';

const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const fax = (id: string) =>
  ({ id, owner: OWNER, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: 2 }) as PushEventInput;

let redis: Redis;
beforeAll(() => { redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null }); });
afterAll(() => redis.quit());

/** No-op workers on both queues that complete every job (retention then removes them, as in production). */
function completeEverything(prefix: string): Worker[] {
  return PUSH_SYSTEMS.map((s) => new Worker<PushJobData>(QUEUE_NAMES[s], async () => undefined, { connection: redis, prefix, concurrency: 200 }));
}

test('an id republished after 20,000 other events (its job long removed by retention) is still deduplicated', async () => {
  const prefix = uniquePrefix('dedupe-many');
  const producer = createProducer({ connection: redis, prefix }); // default retention: completed jobs 1 h / last 10,000
  const queues = PUSH_SYSTEMS.map((s) => new Queue<PushJobData>(QUEUE_NAMES[s], { connection: redis, prefix }));
  const workers = completeEverything(prefix);
  try {
    await producer.publish(fax('first-fax'));
    for (let b = 0; b < 20; b++) await producer.publishMany(Array.from({ length: 1000 }, (_, i) => fax(`other-${b}-${i}`)));
    // Retention keeps the last 10,000 completed jobs: the first one is gone from both queues.
    await waitFor(async () => (await Promise.all(queues.map((q) => q.getJob('first-fax')))).every((j) => j === undefined), { timeoutMs: 90_000, intervalMs: 200, what: 'the first job removed by retention' });

    expect(await producer.publish(fax('first-fax'))).toEqual({ id: 'first-fax' });
    for (const q of queues) expect(await q.getJob('first-fax')).toBeUndefined();
    expect(await redis.pttl(dedupeKey(prefix, QUEUE_NAMES.apns, 'first-fax'))).toBeGreaterThan(23 * 3600 * 1000);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(queues.map((q) => q.close()));
    await producer.close();
  }
}, 120_000);

test('DEDUPE_TTL alone bounds the window: deduplicated while it lasts (job gone or not), accepted again after', async () => {
  const prefix = uniquePrefix('dedupe-ttl');
  // Jobs are removed the moment they complete: the marker is all that remembers the id.
  const producer = createProducer({ connection: redis, prefix, dedupeTtlMs: 1500, jobOptions: { removeOnComplete: true } });
  const queues = PUSH_SYSTEMS.map((s) => new Queue<PushJobData>(QUEUE_NAMES[s], { connection: redis, prefix }));
  const workers = completeEverything(prefix);
  const completed: string[] = [];
  for (const w of workers) w.on('completed', (job) => completed.push(String(job.id)));
  try {
    await producer.publish(fax('short-lived'));
    await waitFor(() => completed.filter((id) => id === 'short-lived').length === 2, { what: 'both jobs completed' });
    await producer.publish(fax('short-lived'));
    for (const q of queues) expect(await q.getJob('short-lived')).toBeUndefined();

    await waitFor(async () => (await redis.exists(...queues.map((q) => dedupeKey(prefix, q.name, 'short-lived')))) === 0, { timeoutMs: 10_000, what: 'the markers expired' });
    await producer.publish(fax('short-lived'));
    await waitFor(() => completed.filter((id) => id === 'short-lived').length === 4, { what: 'the republished event delivered again' });
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(queues.map((q) => q.close()));
    await producer.close();
  }
});
