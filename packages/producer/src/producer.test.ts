import net from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { EVENTS_PER_JOB, PushEventInput, PushJobData, QUEUE_NAMES } from '@pushfleet/events';
import { testRedisUrl, uniquePrefix, waitFor } from '../../../test/support/env';
import { freePort } from '../../../test/support/redis-server';
import { InvalidEventsError, Producer, QueueUnavailableError, createProducer } from './index';

const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const fax = (extra: Partial<Record<string, unknown>> = {}) =>
  ({ owner: OWNER, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: '2', ...extra }) as PushEventInput;
const chat = (text: string, extra: Partial<Record<string, unknown>> = {}) =>
  ({
    owner: OWNER, message: 'chat_message', chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0',
    time: 1362407297, user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text', text, ...extra,
  }) as PushEventInput;

/** Reads what a worker would see, through BullMQ on a separate connection. */
class Inspector {
  readonly redis = new Redis(testRedisUrl());
  readonly apns: Queue<PushJobData>;
  readonly gcm: Queue<PushJobData>;
  constructor(readonly prefix: string) {
    this.apns = new Queue(QUEUE_NAMES.apns, { connection: this.redis, prefix });
    this.gcm = new Queue(QUEUE_NAMES.gcm, { connection: this.redis, prefix });
  }
  async counts(): Promise<[number, number]> {
    return [await this.apns.getWaitingCount(), await this.gcm.getWaitingCount()];
  }
  async close() {
    await this.apns.close();
    await this.gcm.close();
    await this.redis.quit();
  }
}

async function expectRejects<T extends Error>(p: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as T;
  }
  throw new Error(`expected a ${type.name}`);
}

// Its own connection: addBulk per queue. An auto-pipelining client (the API's): one command per job.
describe.each([['its own connection', false], ['an auto-pipelining client', true]] as const)('producer against a real Redis, %s', (_name, autoPipelined) => {
  let prefix: string;
  let producer: Producer;
  let inspector: Inspector;
  let registry: Registry;
  let client: Redis | undefined;

  beforeEach(() => {
    prefix = uniquePrefix('producer');
    registry = new Registry();
    client = autoPipelined ? new Redis(testRedisUrl(), { enableAutoPipelining: true }) : undefined;
    producer = createProducer({ connection: client ?? testRedisUrl(), prefix, metrics: registry });
    inspector = new Inspector(prefix);
  });

  afterEach(async () => {
    await producer.close();
    await inspector.close();
    await client?.quit();
  });

  it('keeps the order of concurrent publishes in each queue', async () => {
    // Keyed events (a job each) in one turn, then id-less ones over several turns (sharing jobs).
    const keyed = await Promise.all(Array.from({ length: 150 }, (_, i) => producer.publish(fax({ id: `o-${i}` }))));
    const shared: Promise<{ id: string }>[] = [];
    for (let i = 0; i < 150; i++) {
      shared.push(producer.publish(chat(`o${i}`)));
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const ids = [...keyed, ...(await Promise.all(shared))].map((r) => r.id);
    for (const queue of [inspector.apns, inspector.gcm]) {
      const jobs = await queue.getJobs(['wait'], 0, -1, true); // oldest first
      expect(jobs.flatMap((j) => j.data.events.map((q) => q.id))).toEqual(ids);
    }
  });

  it('enqueues one job per system with the event id as job id and exactly the PushJobData', async () => {
    const before = Date.now();
    const { id } = await producer.publish(fax({ id: 'fax-1' }));
    const after = Date.now();
    expect(id).toBe('fax-1');
    for (const queue of [inspector.apns, inspector.gcm]) {
      const job = await queue.getJob('fax-1');
      expect(job).toBeDefined();
      expect(job!.name).toBe('fax_new');
      expect(job!.id).toBe('fax-1');
      expect(job!.data).toEqual({ events: [{
        id: 'fax-1',
        event: { owner: OWNER, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: 2 },
        enqueuedAt: expect.any(Number),
      }] });
      expect(job!.data.events[0].enqueuedAt).toBeGreaterThanOrEqual(before);
      expect(job!.data.events[0].enqueuedAt).toBeLessThanOrEqual(after);
      expect(job!.opts).toMatchObject({
        attempts: 10,
        removeOnComplete: { age: 3600, count: 10000 },
        removeOnFail: { age: 604800, count: 100000 },
      });
    }
    expect(await inspector.counts()).toEqual([1, 1]);
    // the keys carry the prefix and each queue's hash tag
    expect(await inspector.redis.exists(`${prefix}:{apns}:wait`, `${prefix}:{gcm}:wait`)).toBe(2);
  });

  it('gives an event without id a random UUID', async () => {
    const { id } = await producer.publish(chat('hi'));
    expect(id).toMatch(UUID_RE);
    expect((await inspector.gcm.getJob(id))!.data.events[0].event).toMatchObject({ message: 'chat_message', text: 'hi' });
  });

  it('publishes a batch larger than one addBulk chunk, ids in input order', async () => {
    const inputs = Array.from({ length: 2500 }, (_, i) => (i % 2 ? chat(`m${i}`, { id: `c-${i}` }) : fax({ page_count: i })));
    const { ids } = await producer.publishMany(inputs);
    expect(ids).toHaveLength(2500);
    expect(ids[1]).toBe('c-1');
    expect(ids[0]).toMatch(UUID_RE);
    expect(new Set(ids).size).toBe(2500);
    // 1250 events with ids, one job each; 1250 without, EVENTS_PER_JOB per job.
    const jobs = 1250 + Math.ceil(1250 / EVENTS_PER_JOB);
    expect(await inspector.counts()).toEqual([jobs, jobs]);
    const named = await inspector.apns.getJob('c-2499');
    expect(named!.data.events.map((q) => q.event)).toEqual([expect.objectContaining({ message: 'chat_message', text: 'm2499' })]);
    // Every event is in exactly one job per queue, with its id and content.
    for (const queue of [inspector.apns, inspector.gcm]) {
      const all = (await queue.getJobs(['wait'], 0, -1)).flatMap((j) => j.data.events);
      expect(all.map((q) => q.id).sort()).toEqual([...ids].sort());
      const byId = new Map(all.map((q) => [q.id, q.event]));
      expect(byId.get(ids[2498])).toMatchObject({ message: 'fax_new', page_count: 2498 });
    }
  });

  it('puts events without ids EVENTS_PER_JOB to a job, named by its first event, in input order', async () => {
    const n = 2 * EVENTS_PER_JOB + 3;
    const { ids } = await producer.publishMany(Array.from({ length: n }, (_, i) => chat(`s${i}`)));
    expect(await inspector.counts()).toEqual([3, 3]);
    for (const [start, size] of [[0, EVENTS_PER_JOB], [EVENTS_PER_JOB, EVENTS_PER_JOB], [2 * EVENTS_PER_JOB, 3]]) {
      const job = await inspector.gcm.getJob(ids[start]);
      expect(job!.name).toBe(size === 1 ? 'chat_message' : 'batch');
      expect(job!.data.events.map((q) => q.id)).toEqual(ids.slice(start, start + size));
      expect(job!.data.events.map((q) => (q.event as { text: string }).text)).toEqual(ids.slice(start, start + size).map((_, k) => `s${start + k}`));
    }
  });

  it('delivers an id once: publishing it again (even with other content) is a no-op', async () => {
    await producer.publish(chat('first', { id: 'dup-1' }));
    const again = await producer.publish(chat('second', { id: 'dup-1' }));
    expect(again).toEqual({ id: 'dup-1' });
    const { ids } = await producer.publishMany([chat('a', { id: 'dup-2' }), chat('b', { id: 'dup-2' }), chat('c', { id: 'dup-1' })]);
    expect(ids).toEqual(['dup-2', 'dup-2', 'dup-1']);
    expect(await inspector.counts()).toEqual([2, 2]);
    expect((await inspector.apns.getJob('dup-1'))!.data.events[0].event).toMatchObject({ text: 'first' });
    expect((await inspector.gcm.getJob('dup-2'))!.data.events[0].event).toMatchObject({ text: 'a' });
  });

  it('rejects a batch with invalid events whole, naming index and path, and enqueues nothing', async () => {
    const inputs = [fax(), fax({ page_count: '2.5' }), chat('ok'), { ...chat('x'), extra: true }, 'nonsense', fax({ id: '123' })] as PushEventInput[];
    const err = await expectRejects(producer.publishMany(inputs), InvalidEventsError);
    expect(err.status).toBe('invalid-request');
    expect(err.errors).toEqual([
      { index: 1, path: 'page_count', message: expect.stringMatching(/non-negative integer/) },
      { index: 3, path: 'extra', message: 'unknown field' },
      { index: 4, path: '', message: 'must be a JSON object' },
      { index: 5, path: 'id', message: 'must not be an integer' },
    ]);
    expect(await inspector.counts()).toEqual([0, 0]);
    await expectRejects(producer.publish({ message: 'fax_new' } as PushEventInput), InvalidEventsError);
  });

  it('applies jobOptions over the defaults', async () => {
    const p = createProducer({ connection: testRedisUrl(), prefix, jobOptions: { attempts: 3, removeOnComplete: true } });
    try {
      await p.publish(fax({ id: 'opts-1' }));
      expect((await inspector.apns.getJob('opts-1'))!.opts).toMatchObject({ attempts: 3, removeOnComplete: true, removeOnFail: { age: 604800 } });
    } finally {
      await p.close();
    }
  });

  it('counts accepted and rejected events and times enqueues', async () => {
    await producer.publishMany([fax(), fax(), chat('x')]);
    await expect(producer.publishMany([fax(), fax({ fax: 'nope' })])).rejects.toThrow(InvalidEventsError);
    const text = await registry.metrics();
    expect(text).toContain('pushfleet_events_accepted_total{event="fax_new"} 2');
    expect(text).toContain('pushfleet_events_accepted_total{event="chat_message"} 1');
    expect(text).toContain('pushfleet_events_accepted_total{event="recording_new"} 0');
    expect(text).toContain('pushfleet_events_rejected_total{reason="invalid"} 2');
    expect(text).toContain('pushfleet_events_rejected_total{reason="unavailable"} 0');
    expect(text).toContain('pushfleet_enqueue_duration_seconds_count 1');
  });

  it('fails after close', async () => {
    await producer.close();
    await expectRejects(producer.publish(fax()), QueueUnavailableError);
  });

  it('uses a given ioredis client and leaves it open on close', async () => {
    const client = new Redis(testRedisUrl());
    const p = createProducer({ connection: client, prefix });
    await p.publish(fax({ id: 'shared-1' }));
    await p.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    expect(await inspector.counts()).toEqual([1, 1]);
    await client.quit();
  });
});

describe('producer when Redis is down', () => {
  it('rejects with QueueUnavailableError in well under a second (closed port)', async () => {
    const port = await freePort();
    const registry = new Registry();
    const producer = createProducer({ connection: `redis://127.0.0.1:${port}`, prefix: uniquePrefix('down'), metrics: registry });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const t0 = Date.now();
        const err = await expectRejects(producer.publishMany([fax(), chat('x')]), QueueUnavailableError);
        expect(Date.now() - t0).toBeLessThan(1000);
        expect(err.status).toBe('unavailable');
      }
      expect(await registry.metrics()).toContain('pushfleet_events_rejected_total{reason="unavailable"} 6');
    } finally {
      const t0 = Date.now();
      await producer.close();
      expect(Date.now() - t0).toBeLessThan(1000);
    }
  });

  it('fails fast even with a given client that queues commands offline (default ioredis options)', async () => {
    const port = await freePort();
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, disconnectTimeout: 100 });
    client.on('error', () => {});
    const producer = createProducer({ connection: client, prefix: uniquePrefix('down') });
    try {
      const t0 = Date.now();
      await expectRejects(producer.publish(fax()), QueueUnavailableError);
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await producer.close();
      client.disconnect();
    }
  });

  it('answers 503-fast while Redis is away and recovers when it is back', async () => {
    // A TCP proxy in front of the test Redis stands in for a Redis that goes away and comes back.
    const target = new URL(testRedisUrl());
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as net.AddressInfo).port;
    const prefix = uniquePrefix('flap');
    const producer = createProducer({ connection: `redis://127.0.0.1:${port}`, prefix });
    const inspector = new Inspector(prefix);
    try {
      await producer.publish(fax({ id: 'before' }));

      await new Promise<void>((r) => { proxy.close(() => r()); for (const s of sockets) s.destroy(); });
      const t0 = Date.now();
      await expectRejects(producer.publish(fax({ id: 'during' })), QueueUnavailableError);
      expect(Date.now() - t0).toBeLessThan(1000);

      await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
      await waitFor(() => producer.publish(fax({ id: 'after' })).then(() => true), { timeoutMs: 5000, what: 'publish after Redis is back' });
      expect(await inspector.apns.getJob('after')).toBeDefined();
      expect(await inspector.apns.getJob('during')).toBeUndefined();
    } finally {
      await producer.close();
      await inspector.close();
      await new Promise<void>((r) => { proxy.close(() => r()); for (const s of sockets) s.destroy(); });
    }
  });
});
