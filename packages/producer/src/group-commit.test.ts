import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { PushEventInput, PushJobData, QUEUE_NAMES } from '@pushfleet/events';
import { testRedisUrl, uniquePrefix } from '../../../test/support/env';
import { GroupCommit } from './group-commit';
import { InvalidEventsError, createProducer } from './index';

const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const fax = (extra: Record<string, unknown> = {}) =>
  ({ owner: OWNER, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: '2', ...extra }) as PushEventInput;

describe('GroupCommit', () => {
  it('writes the submissions of one event-loop turn as one batch, in order', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number>(async (items) => { batches.push(items); }, 100);
    await Promise.all([gc.submit([1, 2]), gc.submit([3]), gc.submit([4, 5])]);
    await gc.submit([6]);
    expect(batches).toEqual([[1, 2, 3, 4, 5], [6]]);
  });

  it('never puts more than maxItems in a batch (a larger submission is a batch of its own)', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number>(async (items) => { batches.push(items); }, 3);
    await Promise.all([gc.submit([1, 2]), gc.submit([3, 4]), gc.submit([5]), gc.submit([6, 7, 8, 9])]);
    expect(batches).toEqual([[1, 2], [3, 4, 5], [6, 7, 8, 9]]);
  });

  it('rejects exactly the submissions of a failed batch', async () => {
    let fail = true;
    const gc = new GroupCommit<string>(async (items) => {
      if (fail) throw new Error(`redis gone (${items.join(',')})`);
    }, 10);
    const first = [gc.submit(['a']), gc.submit(['b'])].map((p) => p.then(() => 'ok', (e: Error) => e.message));
    await new Promise((resolve) => setImmediate(resolve)); // the first batch has been handed to commit
    fail = false;
    const later = gc.submit(['c']).then(() => 'ok');
    expect(await Promise.all(first)).toEqual(['redis gone (a,b)', 'redis gone (a,b)']);
    expect(await later).toBe('ok');
  });

  it('turns a commit that throws synchronously into rejections', async () => {
    const gc = new GroupCommit<number>(() => { throw new Error('sync'); }, 10);
    await expect(gc.submit([1])).rejects.toThrow('sync');
  });
});

describe('producer group commit against a real Redis', () => {
  it('concurrent single-event publishes share jobs, each resolving with its own id; an invalid one fails alone', async () => {
    const prefix = uniquePrefix('group');
    const producer = createProducer({ connection: testRedisUrl(), prefix });
    const redis = new Redis(testRedisUrl());
    const apns = new Queue<PushJobData>(QUEUE_NAMES.apns, { connection: redis, prefix });
    try {
      const calls = Array.from({ length: 30 }, () => producer.publish(fax()));
      const bad = producer.publish(fax({ fax: 'nope' })).then(() => 'accepted', (e: unknown) => e);
      const keyed = producer.publish(fax({ id: 'group-keyed-1' }));
      const ids = (await Promise.all(calls)).map((r) => r.id);
      expect((await keyed).id).toBe('group-keyed-1');
      expect(await bad).toBeInstanceOf(InvalidEventsError);
      expect(new Set(ids).size).toBe(30);

      const jobs = await apns.getWaiting(0, -1);
      // 30 id-less events, 20 to a job, plus the keyed event's job of its own.
      expect(jobs.map((j) => j.data.events.length).sort((a, b) => a - b)).toEqual([1, 10, 20]);
      expect(jobs.find((j) => j.id === 'group-keyed-1')?.data.events.map((e) => e.id)).toEqual(['group-keyed-1']);
      const queued = jobs.filter((j) => j.id !== 'group-keyed-1').flatMap((j) => j.data.events.map((e) => e.id));
      expect(queued.sort()).toEqual([...ids].sort());
    } finally {
      await producer.close();
      await apns.close();
      await redis.quit();
    }
  });
});
