import http from 'node:http';
import { AddressInfo } from 'node:net';
import express from 'express';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { tokenRef } from '@pushfleet/observability';
import { adminRouter, adminTokenMatcher, presentedAdminSecret, redactJobData } from '../src/admin';
import { createAuthFailures } from '../src/limits';
import { testRedisUrl, uniquePrefix } from '../../../test/support/env';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const OTHER_TOKEN = 'second-admin-token-fedcba9876543210';
const DEVICE_TOKEN = 'a6461732069737d42065496e' + '0'.repeat(35) + 'f39ad';
const SECRET_TEXT = 'the quarterly numbers are in the attachment';
const REG_ID = 'APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx-full-registration-id';
const PHONE = '+492215587412';
const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
/** Today's job shape, dead-lettered by a worker: events with their retry state and the tokens still owed. */
const deadJob = (id: string, tokens: string[]) => ({
  events: [{
    id, enqueuedAt: Date.now(), tokens, attempt: 8, failed: 'attempts_exhausted',
    event: { message: 'chat_message', owner: OWNER, chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0', time: 1362407297, user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text', text: SECRET_TEXT },
  }],
});

interface Server { url: string; logs: string[]; close(): Promise<void> }

let redis: Redis;
let apns: Queue;
let gcm: Queue;

async function serve(adminTokens: string[]): Promise<Server> {
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(s); } });
  const app = express();
  const authFailures = createAuthFailures(redis, uniquePrefix('admin-af'), 0, logger);
  app.use(adminRouter({ queues: [{ name: 'apns', queue: apns }, { name: 'gcm', queue: gcm }], adminTokens, logger, authFailures }));
  app.use((_req, res) => { res.status(404).json({ status: 'not-found' }); });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); },
  };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function get(s: Server, path: string, authorization?: string) {
  const res = await fetch(s.url + path, { headers: authorization ? { authorization } : {} });
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* HTML */ }
  return { status: res.status, headers: res.headers, text, body };
}

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  const prefix = uniquePrefix('admin');
  apns = new Queue('{apns}', { connection: redis, prefix });
  gcm = new Queue('{gcm}', { connection: redis, prefix });
  await apns.add('chat_message', deadJob('evt-1', [DEVICE_TOKEN]), { jobId: 'evt-1' });
  // A shape no version ever wrote, with secrets where an allow-list would never look.
  await gcm.add('fax_new', { payload: { body: SECRET_TEXT, to: REG_ID }, registration_ids: [REG_ID], phone: PHONE, [REG_ID]: SECRET_TEXT }, { jobId: 'odd-1' });
});

afterAll(async () => {
  await apns.close();
  await gcm.close();
  await redis.quit();
});

describe('with admin tokens configured', () => {
  let s: Server;
  beforeAll(async () => { s = await serve([ADMIN_TOKEN, OTHER_TOKEN]); });
  afterAll(() => s.close());

  test.each([
    ['no authorization header', undefined],
    ['a wrong bearer token', `Bearer ${ADMIN_TOKEN}x`],
    ['a prefix of the token', `Bearer ${ADMIN_TOKEN.slice(0, 10)}`],
    ['an empty bearer', 'Bearer '],
    ['basic with a wrong password', basic('ops', 'nope')],
    ['basic with the token as user name', basic(ADMIN_TOKEN, '')],
    ['basic without a colon', `Basic ${Buffer.from(ADMIN_TOKEN).toString('base64')}`],
    ['another scheme', `Token ${ADMIN_TOKEN}`],
  ])('%s -> 401 with a Basic challenge', async (_name, authorization) => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/static/js/main.js', '/admin/anything']) {
      const res = await get(s, path, authorization);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ status: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="pushfleet admin"');
    }
  });

  test('a wrong token is logged (sampled: one line per interval) without any part of it', async () => {
    await get(s, '/admin/queues', `Bearer wrong-${ADMIN_TOKEN}`);
    const all = s.logs.join('');
    expect(all).toContain('wrong admin token');
    expect(s.logs.filter((l) => l.includes('authentication failed'))).toHaveLength(1);
    expect(all).not.toContain('wrong-');
    expect(all).not.toContain(ADMIN_TOKEN.slice(0, 6));
  });

  test('the bearer token opens the dashboard', async () => {
    const res = await get(s, '/admin/queues', `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.text).toContain('/admin/queues');
  });

  test('basic auth with any user name and the token as password (what a browser sends), and the second token', async () => {
    expect((await get(s, '/admin/queues', basic('alice', ADMIN_TOKEN))).status).toBe(200);
    expect((await get(s, '/admin/queues', basic('', OTHER_TOKEN))).status).toBe(200);
    expect((await get(s, '/admin/queues', `Bearer ${OTHER_TOKEN}`)).status).toBe(200);
  });

  test('the dashboard API lists both queues and never shows message text, phone numbers or full tokens', async () => {
    const res = await get(s, `/admin/queues/api/queues?activeQueue=${encodeURIComponent('{apns}')}&status=waiting&page=1&jobsPerPage=10`, `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(200);
    const queues = (res.body as { queues: { name: string; displayName?: string; counts: Record<string, number> }[] }).queues;
    expect(queues.map((q) => q.displayName).sort()).toEqual(['apns', 'gcm']);
    expect(queues.find((q) => q.displayName === 'apns')?.counts.waiting).toBe(1);
    expect(res.text).toContain('evt-1');
    expect(res.text).toContain(OWNER);
    expect(res.text).toContain('bytes not shown');
    expect(res.text).toContain(tokenRef(DEVICE_TOKEN));
    for (const secret of [SECRET_TEXT, DEVICE_TOKEN, 'John Doe']) expect(res.text).not.toContain(secret);
  });

  test('a job shape never seen before shows nothing of its data (list and single job)', async () => {
    for (const path of [`/admin/queues/api/queues?activeQueue=${encodeURIComponent('{gcm}')}&status=waiting&page=1&jobsPerPage=10`, `/admin/queues/api/queues/${encodeURIComponent('{gcm}')}/odd-1`]) {
      const res = await get(s, path, `Bearer ${ADMIN_TOKEN}`);
      expect(res.status).toBe(200);
      expect(res.text).toContain('odd-1');
      expect(res.text).toContain('unknown job shape');
      for (const secret of [SECRET_TEXT, REG_ID, REG_ID.slice(0, 20), PHONE]) expect(res.text).not.toContain(secret);
    }
  });

  test('Retry replays a dead-lettered job for real: retry state cleared, waiting again with the tokens still owed', async () => {
    await apns.add('chat_message', deadJob('evt-retry', [DEVICE_TOKEN]), { jobId: 'evt-retry', lifo: true });
    const worker = new Worker(apns.name, null, { connection: redis, prefix: apns.opts.prefix, autorun: false });
    const job = (await worker.getNextJob('lock-1'))!;
    expect(job.id).toBe('evt-retry');
    await job.moveToFailed(new Error('attempts_exhausted: 1 token(s) of 1 event(s) still owed after 8 attempt(s)'), 'lock-1', false);
    await worker.close();
    expect(await job.getState()).toBe('failed');
    const path = `/admin/queues/api/queues/${encodeURIComponent('{apns}')}/evt-retry/retry`;
    const res = await fetch(s.url + path, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(204);
    const after = (await apns.getJob('evt-retry'))!;
    expect(await after.getState()).toBe('waiting');
    expect(after.attemptsMade).toBe(0);
    expect(after.data.events).toEqual([expect.objectContaining({ id: 'evt-retry', tokens: [DEVICE_TOKEN] })]);
    expect(after.data.events[0]).not.toHaveProperty('failed');
    expect(after.data.events[0]).not.toHaveProperty('attempt');
    // Only the dead-letter set: a waiting (or completed) job is not sent again from here.
    expect((await fetch(s.url + path, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(403);
    expect((await fetch(s.url + `/admin/queues/api/queues/${encodeURIComponent('{apns}')}/retry/completed`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(403);
    await after.remove();
  });

  test.each([
    ['POST', `/api/queues/${encodeURIComponent('{apns}')}/add`, { name: 'chat_message', data: {} }],
    ['PATCH', `/api/queues/${encodeURIComponent('{apns}')}/evt-1/update-data`, { data: { events: [] } }],
    ['PATCH', `/api/queues/${encodeURIComponent('{apns}')}/evt-1/priority`, { priority: 1 }],
    ['PUT', `/api/queues/${encodeURIComponent('{apns}')}/evt-1/clean`, undefined],
    ['PUT', `/api/queues/${encodeURIComponent('{apns}')}/empty`, undefined],
    ['PUT', `/api/queues/${encodeURIComponent('{apns}')}/obliterate`, {}],
    ['PUT', `/api/queues/${encodeURIComponent('{apns}')}/clean/waiting`, undefined],
    ['GET', `/api/queues/${encodeURIComponent('{apns}')}/evt-1/logs`, undefined],
  ])('%s %s is refused (read-only dashboard plus replay)', async (method, path, body) => {
    const res = await fetch(`${s.url}/admin/queues${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ status: 'forbidden' });
    expect((await apns.getJob('evt-1'))!.data).toEqual(expect.objectContaining({ events: [expect.objectContaining({ id: 'evt-1' })] }));
    expect(await apns.getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  test('changes from the dashboard itself work; a cross-site change is refused even with the credentials', async () => {
    const path = `/admin/queues/api/queues/${encodeURIComponent('{gcm}')}/pause`;
    const put = (headers: Record<string, string>) => fetch(s.url + path, { method: 'PUT', headers: { authorization: basic('ops', ADMIN_TOKEN), ...headers } });
    const foreign = await put({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toEqual({ status: 'forbidden' });
    expect((await put({ 'sec-fetch-site': 'same-site' })).status).toBe(403);
    expect(await gcm.isPaused()).toBe(false);
    const own = await put({ origin: s.url, 'sec-fetch-site': 'same-origin' });
    expect(own.status).toBe(200);
    expect(await gcm.isPaused()).toBe(true);
    await gcm.resume();
    // Anonymous changes stay 401 whatever the origin.
    expect((await fetch(s.url + path, { method: 'PUT', headers: { origin: s.url } })).status).toBe(401);
  });

  test('an unknown admin path is 404 once authenticated', async () => {
    const res = await get(s, '/admin/nothing-here', `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ status: 'not-found' });
  });

  test('routes outside /admin are not touched', async () => {
    const res = await get(s, '/api/push');
    expect(res.status).toBe(404);
    expect(res.headers.get('www-authenticate')).toBeNull();
  });
});

describe('without admin tokens', () => {
  let s: Server;
  beforeAll(async () => { s = await serve([]); });
  afterAll(() => s.close());

  test('/admin/* answers 404 to everyone, the dashboard is off', async () => {
    for (const auth of [undefined, `Bearer ${ADMIN_TOKEN}`, basic('x', '')]) {
      for (const path of ['/admin', '/admin/queues', '/admin/queues/api/queues']) {
        const res = await get(s, path, auth);
        expect(res.status).toBe(404);
        expect(res.body).toEqual({ status: 'not-found' });
      }
    }
  });
});

describe('helpers', () => {
  test('presentedAdminSecret', () => {
    expect(presentedAdminSecret(undefined)).toBeUndefined();
    expect(presentedAdminSecret('Bearer abc')).toBe('abc');
    expect(presentedAdminSecret('bearer abc')).toBe('abc');
    expect(presentedAdminSecret(basic('u', 'p:with:colons'))).toBe('p:with:colons');
    expect(presentedAdminSecret('Digest abc')).toBeUndefined();
    expect(presentedAdminSecret('Bearer a b')).toBeUndefined();
  });

  test('adminTokenMatcher compares whole tokens, any of several', () => {
    const m = adminTokenMatcher([ADMIN_TOKEN, OTHER_TOKEN]);
    expect(m(ADMIN_TOKEN)).toBe(true);
    expect(m(OTHER_TOKEN)).toBe(true);
    expect(m(ADMIN_TOKEN.slice(0, -1))).toBe(false);
    expect(m(`${ADMIN_TOKEN} `)).toBe(false);
    expect(m('')).toBe(false);
    expect(adminTokenMatcher([])('')).toBe(false);
  });

  test('redactJobData: allow-listed fields only, tokens as references, nothing of an unknown shape', () => {
    const out = redactJobData(deadJob('x', [DEVICE_TOKEN, REG_ID])) as Record<string, any>;
    expect(out).toEqual({ events: [{
      id: 'x', enqueuedAt: expect.any(Number), attempt: 8, failed: 'attempts_exhausted', tokens: [tokenRef(DEVICE_TOKEN), tokenRef(REG_ID)],
      event: { message: 'chat_message', owner: OWNER, chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0', time: 1362407297, user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', text: `[${Buffer.byteLength(SECRET_TEXT)} bytes not shown]` },
    }] });
    expect(JSON.stringify(redactJobData({ events: [{ id: SECRET_TEXT, event: { message: 'fax_new', fax: SECRET_TEXT, phone: PHONE, extra: SECRET_TEXT }, tokens: [{ t: REG_ID }] }] }))).not.toMatch(/quarterly|4922155|APA91/);
    expect(redactJobData(null)).toEqual({ redacted: 'unknown job shape: not shown' });
    expect(redactJobData({ event: { text: SECRET_TEXT }, tokens: [DEVICE_TOKEN] })).toEqual({ redacted: 'unknown job shape: not shown' });
  });
});
