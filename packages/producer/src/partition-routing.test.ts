import { randomUUID } from 'node:crypto';
import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { jobEvents, partitionOf, partitionQueueName, partitionQueueNames, PushEventInput, PushJobData } from '@pushfleet/events';
import { testRedisUrl, uniquePrefix, waitFor } from '../../../test/support/env';
import { createProducer, dedupeKey } from './index';

const fax = (owner: string, seq: number, id?: string) =>
  ({ ...(id ? { id } : {}), owner, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: seq }) as PushEventInput;

let redis: Redis;
beforeAll(() => { redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null }); });
afterAll(() => redis.quit());

test('QUEUE_PARTITIONS=4: every event of an owner goes to that owner\'s partition of both systems, and arrives in order', async () => {
  const prefix = uniquePrefix('partitions');
  const producer = createProducer({ connection: redis, prefix, partitions: 4 });
  const owners = Array.from({ length: 24 }, () => randomUUID());
  // Consumers with concurrency 1 per partition see each partition's jobs in queue order.
  const seen: { system: string; partition: number; owner: string; seq: number }[] = [];
  const workers = (['apns', 'gcm'] as const).flatMap((system) => partitionQueueNames(system, 4).map((name, partition) =>
    new Worker<PushJobData>(name, async (job: Job<PushJobData>) => {
      for (const q of jobEvents(job.data) ?? []) seen.push({ system, partition, owner: q.event.owner, seq: (q.event as { page_count: number }).page_count });
    }, { connection: redis, prefix, concurrency: 1 })));
  try {
    const expected = new Map<string, number[]>();
    for (let round = 0; round < 6; round++) {
      // Owners interleaved within each batch; every third round with caller ids (one job per event).
      const batch = owners.map((o, i) => fax(o, round * 100 + i, round % 3 === 2 ? `r${round}-${i}` : undefined));
      for (const e of batch) expected.set(e.owner, [...(expected.get(e.owner) ?? []), (e as { page_count: number }).page_count]);
      await producer.publishMany(batch);
    }
    await waitFor(() => seen.length === 2 * 6 * owners.length, { timeoutMs: 20_000, what: 'every event consumed on both systems' });
    const used = new Set<number>();
    for (const system of ['apns', 'gcm']) {
      for (const o of owners) {
        const mine = seen.filter((s) => s.system === system && s.owner === o);
        expect(new Set(mine.map((s) => s.partition))).toEqual(new Set([partitionOf(o, 4)]));
        expect(mine.map((s) => s.seq)).toEqual(expected.get(o));
        used.add(partitionOf(o, 4));
      }
    }
    expect(used.size).toBe(4); // 24 owners cover every partition
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await producer.close();
  }
}, 40_000);

test('the dedupe marker lives with the owner\'s partition, and a republished id is a no-op there', async () => {
  const prefix = uniquePrefix('partitions-dedupe');
  const producer = createProducer({ connection: redis, prefix, partitions: 4 });
  const owner = randomUUID();
  const p = partitionOf(owner, 4);
  const queues = (['apns', 'gcm'] as const).map((s) => new Queue<PushJobData>(partitionQueueName(s, p, 4), { connection: redis, prefix }));
  try {
    await producer.publish(fax(owner, 1, 'the-fax'));
    await producer.publish(fax(owner, 2, 'the-fax'));
    for (const q of queues) {
      expect(await redis.exists(dedupeKey(prefix, q.name, 'the-fax'))).toBe(1);
      expect(await q.getWaitingCount()).toBe(1);
      expect((await q.getJob('the-fax'))?.data.events[0].event).toMatchObject({ page_count: 1 });
    }
    const others = [0, 1, 2, 3].filter((x) => x !== p).map((x) => dedupeKey(prefix, partitionQueueName('apns', x, 4), 'the-fax'));
    expect(await redis.exists(...others)).toBe(0);
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    await producer.close();
  }
});

test('one partition (the default) keeps the unpartitioned queue names', async () => {
  const prefix = uniquePrefix('partitions-one');
  const producer = createProducer({ connection: redis, prefix });
  const queue = new Queue<PushJobData>('{apns}', { connection: redis, prefix });
  try {
    await producer.publish(fax(randomUUID(), 1));
    expect(await queue.getWaitingCount()).toBe(1);
  } finally {
    await queue.close();
    await producer.close();
  }
});
