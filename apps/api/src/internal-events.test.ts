import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { EVENTS_PER_JOB, PushJobData, QUEUE_NAMES } from '@pushfleet/events';
import { createProducer, Producer } from '@pushfleet/producer';
import { testRedisUrl, uniquePrefix } from '../../../test/support/env';
import { freePort } from '../../../test/support/redis-server';
import { errorHandler } from './http';
import { internalEventsRouter } from './internal-events';
import { createAuthFailures } from './limits';

const TOKEN = 'internal-token-0123456789abcdef';
const OTHER_TOKEN = 'second-internal-token-fedcba9876543210';
const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const SECRET_TEXT = 'the secret lunch plan';

const fax = (extra: Record<string, unknown> = {}) =>
  ({ owner: OWNER, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: 2, ...extra });
const chat = (text: string, extra: Record<string, unknown> = {}) => ({
  owner: OWNER, message: 'chat_message', chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0',
  time: '1362407297', user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text', text, ...extra,
});

interface Api {
  url: string;
  logs: string[];
  close(): Promise<void>;
}

async function startApi(producer: Producer, internalTokens = [TOKEN, OTHER_TOKEN]): Promise<Api> {
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } }));
  const app = express();
  // The failed-auth limit is off here (limits are tested in apps/api/test/limits.test.ts): no Redis used.
  const authFailures = createAuthFailures(new Redis({ lazyConnect: true }), 'unused', 0, logger);
  app.use(internalEventsRouter({ producer, internalTokens, logger, authFailures }));
  app.use(errorHandler(logger));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/events`,
    logs,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* keep text */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

describe('POST /internal/events', () => {
  let prefix: string;
  let producer: Producer;
  let api: Api;
  let redis: Redis;
  let apns: Queue<PushJobData>;
  let gcm: Queue<PushJobData>;
  const counts = async () => [await apns.getWaitingCount(), await gcm.getWaitingCount()];

  beforeAll(async () => {
    prefix = uniquePrefix('internal-events');
    producer = createProducer({ connection: testRedisUrl(), prefix });
    api = await startApi(producer);
    redis = new Redis(testRedisUrl());
    apns = new Queue(QUEUE_NAMES.apns, { connection: redis, prefix });
    gcm = new Queue(QUEUE_NAMES.gcm, { connection: redis, prefix });
  });

  afterAll(async () => {
    await api.close();
    await producer.close();
    await apns.close();
    await gcm.close();
    await redis.quit();
  });

  beforeEach(async () => {
    await apns.drain();
    await gcm.drain();
  });

  describe('authentication', () => {
    it.each([
      ['no Authorization header', { authorization: '' }],
      ['a wrong token', { authorization: 'Bearer not-the-token-0123456789' }],
      ['a user JWT', { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl' }],
      ['the token with another scheme', { authorization: `Basic ${TOKEN}` }],
      ['the token without a scheme', { authorization: TOKEN }],
      ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
      ['the token with a suffix', { authorization: `Bearer ${TOKEN}x` }],
    ])('refuses %s with 401 before reading the body', async (_name, headers) => {
      const r = await post(api.url, fax(), headers);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ status: 'unauthorized' });
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      const bad = await post(api.url, '{not json', headers);
      expect(bad.status).toBe(401);
      expect(await counts()).toEqual([0, 0]);
    });

    it('accepts any configured token, case-insensitive scheme', async () => {
      expect((await post(api.url, fax(), { authorization: `Bearer ${OTHER_TOKEN}` })).status).toBe(202);
      expect((await post(api.url, fax(), { authorization: `bearer ${TOKEN}` })).status).toBe(202);
    });

    it('refuses everyone when no token is configured', async () => {
      const closed = await startApi(producer, []);
      try {
        const r = await post(closed.url, fax());
        expect(r.status).toBe(401);
      } finally {
        await closed.close();
      }
    });
  });

  it('accepts one event: 202 with its id, one job per queue', async () => {
    const r = await post(api.url, fax({ id: 'fax-http-1' }));
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ ids: ['fax-http-1'] });
    const job = await apns.getJob('fax-http-1');
    expect(job!.data).toEqual({ events: [{ id: 'fax-http-1', event: fax(), enqueuedAt: expect.any(Number) }] });
    expect((await gcm.getJob('fax-http-1'))!.name).toBe('fax_new');
  });

  it('accepts a batch: ids in order, generated where missing', async () => {
    const r = await post(api.url, { events: [chat('a', { id: 'b-1' }), fax(), chat('c')] });
    expect(r.status).toBe(202);
    expect(r.body.ids).toHaveLength(3);
    expect(r.body.ids[0]).toBe('b-1');
    expect(r.body.ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    // The event with an id has its own job (named by it); the two without share one, named by the first.
    expect(await counts()).toEqual([2, 2]);
    expect((await gcm.getJob('b-1'))!.data.events.map((q) => q.id)).toEqual(['b-1']);
    const shared = (await gcm.getJob(r.body.ids[1]))!.data.events;
    expect(shared.map((q) => q.id)).toEqual([r.body.ids[1], r.body.ids[2]]);
    expect(shared[1].event).toMatchObject({ text: 'c', time: 1362407297 });
  });

  it('delivers an id once when the backend retries', async () => {
    expect((await post(api.url, chat('x', { id: 'retry-1' }))).body).toEqual({ ids: ['retry-1'] });
    expect((await post(api.url, chat('x', { id: 'retry-1' }))).body).toEqual({ ids: ['retry-1'] });
    expect(await counts()).toEqual([1, 1]);
  });

  it('takes a 1000-event batch of long chat texts (far over 16 KiB)', async () => {
    const events = Array.from({ length: 1000 }, (_, i) => chat(`${i} ${'lorem ipsum '.repeat(60)}`));
    const body = JSON.stringify({ events });
    expect(body.length).toBeGreaterThan(700_000);
    const r = await post(api.url, body);
    expect(r.status).toBe(202);
    expect(r.body.ids).toHaveLength(1000);
    const jobs = Math.ceil(1000 / EVENTS_PER_JOB); // no ids given: the events share jobs
    expect(await counts()).toEqual([jobs, jobs]);
  });

  it('refuses an invalid batch whole, with index, path and message', async () => {
    const r = await post(api.url, { events: [fax(), fax({ page_count: '2.5' }), chat(SECRET_TEXT, { extra: 1 }), fax({ id: 'a:b' })] });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      status: 'invalid-request',
      errors: [
        { index: 1, path: 'page_count', message: expect.stringMatching(/non-negative integer/) },
        { index: 2, path: 'extra', message: 'unknown field' },
        { index: 3, path: 'id', message: expect.any(String) },
      ],
    });
    expect(await counts()).toEqual([0, 0]);
  });

  it('refuses an invalid single event at index 0', async () => {
    const r = await post(api.url, { message: 'fax_new', owner: OWNER });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual(expect.arrayContaining([{ index: 0, path: 'fax', message: 'is required' }]));
  });

  it.each([
    ['not JSON', '{"events": [', ''],
    ['a JSON string', '"fax_new"', ''],
    ['an empty body', '', ''],
    ['an empty object', {}, ''],
    ['an empty batch', { events: [] }, 'events'],
    ['a batch of 1001', { events: Array.from({ length: 1001 }, () => fax()) }, 'events'],
    ['events not an array', { events: fax() }, 'events'],
    ['a batch with another key', { events: [fax()], priority: 'high' }, 'priority'],
  ])('answers 400 invalid-request to %s', async (_name, body, path) => {
    const r = await post(api.url, body);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ status: 'invalid-request', errors: [{ path, message: expect.any(String) }] });
    expect(await counts()).toEqual([0, 0]);
  });

  it('answers 400 to a top-level array and to a form body', async () => {
    expect((await post(api.url, [fax()])).body).toEqual({ status: 'invalid-request', errors: [{ index: 0, path: '', message: 'must be a JSON object' }] });
    const form = await post(api.url, 'message=fax_new', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(400);
    expect(form.body.status).toBe('invalid-request');
  });

  it('answers 413 payload-too-large as JSON above 1 MB', async () => {
    const events = Array.from({ length: 20 }, () => chat('x'.repeat(60_000)));
    const r = await post(api.url, { events });
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ status: 'payload-too-large' });
  });

  it('logs neither the token nor message texts', async () => {
    await post(api.url, chat(SECRET_TEXT));
    await post(api.url, { events: [chat(SECRET_TEXT, { bad: 1 })] });
    await post(api.url, chat(SECRET_TEXT), { authorization: 'Bearer wrong-token-secret-value' });
    const all = api.logs.join('');
    expect(all).toContain('internal events');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('wrong-token-secret-value');
    expect(all).not.toContain(SECRET_TEXT);
  });
});

describe('POST /internal/events when Redis is down', () => {
  it('answers 503 unavailable within a second', async () => {
    const port = await freePort();
    const producer = createProducer({ connection: `redis://127.0.0.1:${port}`, prefix: uniquePrefix('internal-down') });
    const api = await startApi(producer);
    try {
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        const r = await post(api.url, { events: [fax(), chat('x')] });
        expect(Date.now() - t0).toBeLessThan(1000);
        expect(r.status).toBe(503);
        expect(r.body).toEqual({ status: 'unavailable' });
        expect(r.headers.get('retry-after')).toBe('1');
      }
      // validation still answers 400 first: a bad batch is refused without touching Redis
      expect((await post(api.url, { events: [fax({ fax: 'x' })] })).status).toBe(400);
    } finally {
      await api.close();
      await producer.close();
    }
  });
});
