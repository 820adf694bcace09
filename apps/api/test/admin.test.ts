import http from 'node:http';
import { AddressInfo } from 'node:net';
import express from 'express';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { adminRouter, adminTokenMatcher, presentedAdminSecret, redactJobData } from '../src/admin';
import { testRedisUrl, uniquePrefix } from '../../../test/support/env';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const OTHER_TOKEN = 'second-admin-token-fedcba9876543210';
const DEVICE_TOKEN = 'a6461732069737d42065496e' + '0'.repeat(35) + 'f39ad';
const SECRET_TEXT = 'the quarterly numbers are in the attachment';

interface Server { url: string; logs: string[]; close(): Promise<void> }

let redis: Redis;
let apns: Queue;
let gcm: Queue;

async function serve(adminTokens: string[]): Promise<Server> {
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(s); } });
  const app = express();
  app.use(adminRouter({ queues: [{ name: 'apns', queue: apns }, { name: 'gcm', queue: gcm }], adminTokens, logger }));
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
  await apns.add('chat_message', {
    id: 'evt-1',
    enqueuedAt: Date.now(),
    tokens: [DEVICE_TOKEN],
    event: { message: 'chat_message', owner: '9aed5e94-3803-11e3-8475-0024e8f90cc0', text: SECRET_TEXT, user_name: 'John Doe' },
  }, { jobId: 'evt-1' });
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

  test('a wrong token is logged without any part of it', async () => {
    s.logs.length = 0;
    await get(s, '/admin/queues', `Bearer wrong-${ADMIN_TOKEN}`);
    const all = s.logs.join('');
    expect(all).toContain('wrong admin token');
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

  test('the dashboard API lists both queues and never shows message text or full device tokens', async () => {
    const res = await get(s, `/admin/queues/api/queues?activeQueue=${encodeURIComponent('{apns}')}&status=waiting&page=1&jobsPerPage=10`, `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(200);
    const queues = (res.body as { queues: { name: string; displayName?: string; counts: Record<string, number> }[] }).queues;
    expect(queues.map((q) => q.displayName).sort()).toEqual(['apns', 'gcm']);
    expect(queues.find((q) => q.displayName === 'apns')?.counts.waiting).toBe(1);
    expect(res.text).toContain('evt-1');
    expect(res.text).toContain('bytes redacted');
    expect(res.text).not.toContain(SECRET_TEXT);
    expect(res.text).not.toContain(DEVICE_TOKEN);
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

  test('redactJobData keeps the event shape, hides text and tokens', () => {
    const out = redactJobData({ id: 'x', tokens: [DEVICE_TOKEN], event: { message: 'chat_message', text: 'héllo' } }) as Record<string, any>;
    expect(out.id).toBe('x');
    expect(out.event.message).toBe('chat_message');
    expect(out.event.text).toBe('[6 bytes redacted]');
    expect(out.tokens[0]).toMatch(/^a64617…#[0-9a-f]{8}$/);
    expect(redactJobData(null)).toBeNull();
  });
});
