import fc from 'fast-check';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import { TokenRegistry } from '@pushfleet/registry';
import { generateApnsKey } from '@pushfleet/sandbox';
import { call, TEST_APP_ID, TEST_INTERNAL_TOKEN } from '../support/api';
import { startApiProcess, writePushApps, FleetProcess } from '../support/fleet';
import { userToken, TEST_JWT_SECRET } from '../support/jwt';
import { reportFigure, testRedisUrl, uniquePrefix } from '../support/env';
import { QUEUE_NAMES } from '@pushfleet/events';
import { Queue } from 'bullmq';

// Hostile requests against the compiled API process and a real Redis: never a 5xx, nothing changed by a
// rejected request, the process's memory bounded, nothing secret in its logs or (admin) its answers. Per
// endpoint (/api/push, /internal/events, /admin/*): 1000 runs by default, PUSHFLEET_FUZZ_RUNS=5000 in CI.
const RUNS = Number(process.env.PUSHFLEET_FUZZ_RUNS ?? 1000);
const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const SECRET_TEXT = 'never-log-this-chat-text';
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
const DEVICE_TOKEN = 'b7'.repeat(32);
let proc: FleetProcess;
let api: { url: string };
let redis: Redis;
let registry: TokenRegistry;
let jwt: string;
let queue: Queue;

beforeAll(async () => {
  const prefix = uniquePrefix('hostile');
  proc = await startApiProcess({ redisUrl: testRedisUrl(), prefix, pushAppsFile: writePushApps(generateApnsKey()), jwtSecret: TEST_JWT_SECRET, internalToken: TEST_INTERNAL_TOKEN, env: { ADMIN_TOKENS: ADMIN_TOKEN } });
  api = { url: `http://127.0.0.1:${proc.port}` };
  redis = new Redis(testRedisUrl());
  registry = new TokenRegistry(redis, { prefix });
  jwt = await userToken(OWNER);
  queue = new Queue(QUEUE_NAMES.apns, { connection: redis, prefix });
  await call(api, 'POST', '/api/push', { token: jwt, body: { system: 'gcm', action: 'add', registration_id: 'existing-registration-id' } });
  // A dead-letter-shaped job the admin fuzz must neither change nor show the text or token of.
  await queue.add('chat_message', { events: [{ id: 'admin-fuzz-job', enqueuedAt: Date.now(), tokens: [DEVICE_TOKEN], event: { message: 'chat_message', owner: OWNER, text: SECRET_TEXT } }] } as never, { jobId: 'admin-fuzz-job', delay: 3_600_000 });
});
afterAll(async () => { await queue.close(); await proc.stop(); redis.disconnect(); });

/** Resident memory of the API process (kB), from /proc. */
const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'))?.[1] ?? 0);
const indexSize = async () => ((await registry.keys.allIndexBuckets().reduce((p, k) => p.hlen(k), redis.pipeline()).exec()) ?? []).reduce((n, [, v]) => n + Number(v), 0);
const registryState = async () => JSON.stringify([await redis.hgetall(registry.keys.user(OWNER)), await indexSize()]);
const queued = async () => { const c = await queue.getJobCounts('wait', 'delayed', 'prioritized'); return c.wait + c.delayed + c.prioritized; };

const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({
    system: fc.oneof(fc.constantFrom('gcm', 'apns', 'GCM', ''), fc.string(), fc.integer()),
    action: fc.oneof(fc.constantFrom('add', 'delete', 'ADD'), fc.string(), fc.constant(null)),
    device_token: fc.oneof(fc.stringMatching(/^[0-9a-g]{63,65}$/), fc.string(), fc.integer()),
    registration_id: fc.oneof(fc.string({ maxLength: 300 }), fc.constant('\n'.repeat(20))),
    application_id: fc.oneof(fc.constant(TEST_APP_ID), fc.string(), fc.constant('39JSDKGJ38xde.cospace.app')),
    apns_topic: fc.oneof(fc.string(), fc.constant('a b c d e')),
    sandbox: fc.oneof(fc.boolean(), fc.string(), fc.constant(1)),
    message: fc.constantFrom('fax_new', 'chat_message', 'recording_new', 'nope'),
    owner: fc.oneof(fc.constant(OWNER), fc.uuid(), fc.string()),
    text: fc.constant(SECRET_TEXT),
    page_count: fc.oneof(fc.integer(), fc.string(), fc.double()),
    events: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  }, { requiredKeys: [] }),
);
const rawBody = fc.oneof(jsonish.map((v) => JSON.stringify(v) ?? 'null'), fc.string({ maxLength: 200 }), fc.constant('{"system":'), fc.constant('\u0000\u0001'));
const query = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }).map((s) => `?${encodeURIComponent(s)}=${encodeURIComponent(s)}`), fc.constant('?__proto__[x]=1&constructor=2'));
const contentType = fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', '');
const authHeader = (good: string) => fc.oneof(
  fc.constant(`Bearer ${good}`), fc.constant(`Bearer ${good}x`), fc.constant(`bearer ${good}`), fc.constant(''), fc.string({ maxLength: 80 }), fc.constant(`Basic ${good}`),
);

test(`fuzz: ${RUNS} hostile requests per endpoint — no 5xx, nothing changed by a rejection, memory bounded, no secrets in logs`, async () => {
  const rssBefore = rssKb();
  let tried = 0;
  const statuses = new Map<number, number>();
  const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);

  await fc.assert(fc.asyncProperty(rawBody, query, contentType, authHeader(jwt), fc.constantFrom('POST', 'GET', 'PUT', 'DELETE'), async (body, q, ct, auth, method) => {
    const before = await registryState();
    const headers: Record<string, string> = {};
    if (ct) headers['content-type'] = ct;
    if (auth) headers.authorization = auth;
    const res = await call(api, method, `/api/push${q}`, { rawBody: method === 'GET' ? undefined : body, headers });
    tried++;
    count(res.status);
    expect(res.status).toBeLessThan(500);
    if (res.status !== 200 || method === 'GET') expect(await registryState()).toBe(before);
  }), { numRuns: RUNS });

  await fc.assert(fc.asyncProperty(rawBody, query, contentType, authHeader(TEST_INTERNAL_TOKEN), async (body, q, ct, auth) => {
    const before = await queued();
    const headers: Record<string, string> = {};
    if (ct) headers['content-type'] = ct;
    if (auth) headers.authorization = auth;
    const res = await call(api, 'POST', `/internal/events${q}`, { rawBody: body, headers });
    tried++;
    count(res.status);
    expect(res.status).toBeLessThan(500);
    if (res.status !== 202) expect(await queued()).toBe(before);
  }), { numRuns: RUNS });

  const adminJob = async () => JSON.stringify((await queue.getJob('admin-fuzz-job'))?.data);
  const adminBefore = await adminJob();
  const adminPath = fc.oneof(
    fc.constantFrom('/admin/queues', '/admin/queues/api/queues', '/admin/queues/api/redis/stats', '/admin/nothing', '/admin/queues/static/x.js'),
    fc.tuple(fc.constantFrom(encodeURIComponent('{apns}'), encodeURIComponent('{gcm}'), 'nope', '..%2F..'), fc.constantFrom('admin-fuzz-job', 'x', ''),
      fc.constantFrom('retry', 'clean', 'promote', 'update-data', 'logs', 'flow', 'add', 'empty', 'obliterate', 'pause', 'retry/failed', 'retry/completed', ''))
      .map(([q, j, a]) => `/admin/queues/api/queues/${q}/${j}${a ? `/${a}` : ''}`.replace(/\/+$/, '')),
    fc.string({ maxLength: 60 }).map((x) => `/admin/${encodeURIComponent(x)}`),
  );
  const adminAuth = fc.oneof(fc.constant(`Bearer ${ADMIN_TOKEN}`), fc.constant(`Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}`), authHeader(ADMIN_TOKEN));
  await fc.assert(fc.asyncProperty(adminPath, rawBody, query, adminAuth, fc.constantFrom('GET', 'PUT', 'POST', 'PATCH', 'DELETE'), async (p, body, q, auth, method) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (auth) headers.authorization = auth;
    const res = await fetch(`${api.url}${p}${q}`, { method, headers, body: method === 'GET' ? undefined : body });
    const text = await res.text();
    tried++;
    count(res.status);
    expect(res.status).toBeLessThan(500);
    expect(text).not.toContain(SECRET_TEXT);
    expect(text).not.toContain(DEVICE_TOKEN);
    expect(await adminJob()).toBe(adminBefore);
  }), { numRuns: RUNS });

  const rssGrowthMb = (rssKb() - rssBefore) / 1024;
  expect(rssGrowthMb).toBeLessThan(100);
  reportFigure('fuzz: API process RSS growth MB', Math.round(rssGrowthMb));
  reportFigure('fuzz: hostile requests tried', tried);
  reportFigure('fuzz: 5xx answers', [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0));
  reportFigure('fuzz: statuses', JSON.stringify(Object.fromEntries(statuses)));

  const logs = proc.logs.join('\n');
  expect(logs).not.toContain(jwt);
  expect(logs).not.toContain(TEST_INTERNAL_TOKEN);
  expect(logs).not.toContain(SECRET_TEXT);
  expect(logs).not.toContain('existing-registration-id');
  expect(logs).not.toContain(ADMIN_TOKEN);
  expect(logs).not.toContain(DEVICE_TOKEN);
}, 420_000);

test('internal tokens are refused on user routes and user JWTs on internal routes', async () => {
  expect((await call(api, 'GET', '/api/push', { token: TEST_INTERNAL_TOKEN })).status).toBe(401);
  expect((await call(api, 'POST', '/api/push', { token: TEST_INTERNAL_TOKEN, body: { system: 'gcm', action: 'add', registration_id: 'internal-registration' } })).status).toBe(401);
  const res = await call(api, 'POST', '/internal/events', { token: jwt, body: { message: 'recording_new', owner: OWNER, recording: OWNER, phone: '1' } });
  expect(res.status).toBe(401);
  expect(res.body).toEqual({ status: 'unauthorized' });
});

test('object-level access: B can neither read nor delete A\'s entries; only registering the device token moves it', async () => {
  const a = await userToken('5f0c2d2e-0000-4000-8000-00000000000a');
  const b = await userToken('5f0c2d2e-0000-4000-8000-00000000000b');
  const token = '0f'.repeat(32);
  await call(api, 'POST', '/api/push', { token: a, body: { system: 'apns', action: 'add', device_token: token, application_id: TEST_APP_ID } });
  expect((await call(api, 'GET', '/api/push', { token: b })).body.apns.device_tokens).toEqual({});
  expect((await call(api, 'POST', '/api/push', { token: b, body: { system: 'apns', action: 'delete', device_token: token } })).status).toBe(200);
  expect(Object.keys((await call(api, 'GET', '/api/push', { token: a })).body.apns.device_tokens)).toEqual([token]);
  // Query strings or extra fields naming another user change nothing.
  await call(api, 'POST', '/api/push?user=5f0c2d2e-0000-4000-8000-00000000000a', { token: b, body: { system: 'apns', action: 'delete', device_token: token, owner: '5f0c2d2e-0000-4000-8000-00000000000a' } });
  expect(Object.keys((await call(api, 'GET', '/api/push', { token: a })).body.apns.device_tokens)).toEqual([token]);
  // The documented move: B registers the token its device gave it.
  await call(api, 'POST', '/api/push', { token: b, body: { system: 'apns', action: 'add', device_token: token, application_id: TEST_APP_ID } });
  expect((await call(api, 'GET', '/api/push', { token: a })).body.apns.device_tokens).toEqual({});
  expect(Object.keys((await call(api, 'GET', '/api/push', { token: b })).body.apns.device_tokens)).toEqual([token]);
});
