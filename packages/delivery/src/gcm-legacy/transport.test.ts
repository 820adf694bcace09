import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { DEFAULT_POLICIES, PushEvent } from '@pushfleet/events';
import type { GcmDevice } from '@pushfleet/registry';
import { Sandbox, startSandbox } from '@pushfleet/sandbox';
import { GCM_LEGACY_MAX_IDS, GcmLegacyTransport, resetDeprecatedApiWarning } from './transport';
import { createDeliveryMetrics } from '../metrics';
import type { SendContext } from '../transport';
import { writeEndlessBody } from '../../../../test/support/endless-body';

const API_KEY = 'AIzaSy-test-server-key';
const OWNER = '2f5e1a57-8f3c-4b6e-9a0d-1c2b3d4e5f60';
const EVENT: PushEvent = { message: 'recording_new', owner: OWNER, recording: '8a1d7c3e-0b4f-4e2a-9c6d-5f7e8a9b0c1d', phone: '+4930123456' };

let sandbox: Sandbox;
let transport: GcmLegacyTransport;
const metricsRegistry = new Registry();
const logLines: Array<{ msg: string }> = [];

const entries = (ids: string[]): GcmDevice[] => ids.map((token) => ({ token, app: 'gcm', registeredAt: 1 }));
const ids = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}-${String(i).padStart(5, '0')}`);
const ctx = (over: Partial<SendContext> = {}): SendContext => ({
  policy: DEFAULT_POLICIES.recording_new, expiresAt: Date.now() + 3600_000, ...over,
});
/** Distinct HTTP requests the sandbox saw for these ids (legacy entries of one request share the body). */
const requestsFor = (list: string[]) => {
  const wanted = new Set(list);
  const bodies = new Set(sandbox.recorder.deliveries({ system: 'gcm' }).filter((d) => wanted.has(d.token)).map((d) => d.body));
  return [...bodies].map((b) => JSON.parse(b) as { registration_ids: string[]; data: Record<string, string>; priority: string; time_to_live: number });
};

function makeTransport(over: Partial<ConstructorParameters<typeof GcmLegacyTransport>[0]> = {}): GcmLegacyTransport {
  return new GcmLegacyTransport({
    apiKey: API_KEY,
    url: sandbox.google.legacyUrl,
    requestTimeoutMs: 5000,
    maxSockets: 8,
    metrics: createDeliveryMetrics(new Registry()),
    logger: pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { logLines.push(JSON.parse(String(chunk)) as { msg: string }); cb(); } })),
    ...over,
  });
}

beforeAll(async () => {
  sandbox = await startSandbox({ gcmApiKeys: [API_KEY] });
  transport = makeTransport({ metrics: createDeliveryMetrics(metricsRegistry) });
});
afterEach(() => sandbox.reset());
afterAll(async () => {
  await transport.close();
  await sandbox.close();
});

test('one POST with the spec GCM content (all strings), priority and time_to_live left until expiry', async () => {
  const list = ids('basic', 3);
  const out = await transport.send(EVENT, entries(list), ctx({ expiresAt: Date.now() + 600_500 }));
  expect(out.map((o) => [o.token, o.action, o.reason, o.app])).toEqual(list.map((t) => [t, 'delivered', 'Success', 'gcm']));
  const reqs = requestsFor(list);
  expect(reqs).toHaveLength(1);
  expect(reqs[0]).toEqual({
    registration_ids: list,
    priority: 'normal',
    time_to_live: 600,
    data: { owner: OWNER, message: 'recording_new', recording: EVENT.recording, phone: '+4930123456' },
  });
  const d = sandbox.recorder.deliveries({ token: list[0] })[0];
  expect(d.headers.authorization).toBe(`key=${API_KEY}`);
});

test('1001 ids -> 2 requests, 2500 -> 3 (1000, 1000, 500), one outcome per id', async () => {
  for (const [n, sizes] of [[1001, [1000, 1]], [2500, [1000, 1000, 500]]] as const) {
    const list = ids(`chunk${n}`, n);
    const out = await transport.send(EVENT, entries(list), ctx());
    expect(out.map((o) => o.token)).toEqual(list);
    expect(out.every((o) => o.action === 'delivered')).toBe(true);
    expect(requestsFor(list).map((r) => r.registration_ids.length).sort((a, b) => b - a)).toEqual(sizes);
    expect(list.every((t) => sandbox.recorder.countFor(t, 'gcm') === 1)).toBe(true);
  }
  expect(GCM_LEGACY_MAX_IDS).toBe(1000);
});

test('every per-result answer maps, in request order, to its outcome', async () => {
  const list = ['ok-1', 'canon-1', 'dead-1', 'invalid-1', 'mismatch-1', 'unavail-1', 'ise-1', 'rate-1', 'big-1', 'same-1', 'ok-2'];
  sandbox.behaviours.set({ system: 'gcm', token: 'canon-1', canonicalId: 'canon-1-new' });
  sandbox.behaviours.set({ system: 'gcm', token: 'same-1', canonicalId: 'same-1' }); // "canonical" = the id sent
  sandbox.behaviours.set({ system: 'gcm', token: 'dead-1', reason: 'NotRegistered' });
  sandbox.behaviours.set({ system: 'gcm', token: 'invalid-1', reason: 'InvalidRegistration' });
  sandbox.behaviours.set({ system: 'gcm', token: 'mismatch-1', reason: 'MismatchSenderId' });
  sandbox.behaviours.set({ system: 'gcm', token: 'unavail-1', reason: 'Unavailable' });
  sandbox.behaviours.set({ system: 'gcm', token: 'ise-1', reason: 'InternalServerError' });
  sandbox.behaviours.set({ system: 'gcm', token: 'rate-1', reason: 'DeviceMessageRateExceeded' });
  sandbox.behaviours.set({ system: 'gcm', token: 'big-1', reason: 'MessageTooBig' });
  const out = await transport.send(EVENT, entries(list), ctx());
  expect(out.map((o) => ({ token: o.token, action: o.action, reason: o.reason, ...(o.canonicalToken ? { canonicalToken: o.canonicalToken } : {}), ...(o.retryAfterMs ? { retryAfterMs: o.retryAfterMs } : {}) }))).toEqual([
    { token: 'ok-1', action: 'delivered', reason: 'Success' },
    { token: 'canon-1', action: 'replace', reason: 'CanonicalId', canonicalToken: 'canon-1-new' },
    { token: 'dead-1', action: 'prune', reason: 'NotRegistered' },
    { token: 'invalid-1', action: 'prune', reason: 'InvalidRegistration' },
    { token: 'mismatch-1', action: 'fail', reason: 'MismatchSenderId' },
    { token: 'unavail-1', action: 'retry', reason: 'Unavailable' },
    { token: 'ise-1', action: 'retry', reason: 'InternalServerError' },
    { token: 'rate-1', action: 'retry', reason: 'DeviceMessageRateExceeded', retryAfterMs: 60_000 },
    { token: 'big-1', action: 'fail', reason: 'MessageTooBig' },
    { token: 'same-1', action: 'delivered', reason: 'Success' },
    { token: 'ok-2', action: 'delivered', reason: 'Success' },
  ]);
  // node-gcm's own retries are off: nothing was sent twice.
  expect(list.every((t) => sandbox.recorder.countFor(t, 'gcm') === 1)).toBe(true);
});

test('HTTP-level answers decide for every id of the request; Retry-After is captured through axios', async () => {
  const cases: Array<[object, string, string, number | undefined]> = [
    [{ status: 503, retryAfter: 7 }, 'retry', '503', 7000],
    [{ status: 500 }, 'retry', '500', undefined],
    [{ status: 502, body: '<html>bad gateway</html>' }, 'retry', '502', undefined],
    [{ status: 429, retryAfter: 120 }, 'retry', '429', 120_000],
    [{ status: 400, body: 'Number of messages on bulk (1001) exceeds maximum allowed (1000)\n' }, 'fail', '400', undefined],
    [{ status: 200, body: '' }, 'retry', 'InvalidResponse', undefined],
    [{ status: 200, body: 'not json' }, 'retry', 'InvalidResponse', undefined],
  ];
  for (const [rule, action, reason, wait] of cases) {
    sandbox.behaviours.clear();
    sandbox.behaviours.set({ system: 'gcm', endpoint: 'legacy', ...rule });
    const out = await transport.send(EVENT, entries(['h-1', 'h-2']), ctx());
    expect(out.map((o) => [o.token, o.action, o.reason, o.retryAfterMs])).toEqual([['h-1', action, reason, wait], ['h-2', action, reason, wait]]);
  }
  sandbox.behaviours.clear();
  // A 200 with a Retry-After header and a per-result Unavailable: the header applies to the retried results.
  sandbox.behaviours.set({ system: 'gcm', endpoint: 'legacy', retryAfter: 3 });
  sandbox.behaviours.set({ system: 'gcm', token: 'ra-1', reason: 'Unavailable' });
  const out = await transport.send(EVENT, entries(['ra-1', 'ra-2']), ctx());
  expect(out.map((o) => [o.action, o.retryAfterMs])).toEqual([['retry', 3000], ['delivered', undefined]]);
});

test('a wrong server key is a configuration failure (401, HTML body), never a prune', async () => {
  const bad = makeTransport({ apiKey: 'wrong' });
  const out = await bad.send(EVENT, entries(['k-1']), ctx());
  await bad.close();
  expect(out).toEqual([{ token: 'k-1', action: 'fail', reason: '401', app: 'gcm' }]);
});

test('no answer: a black hole times out, a refused connection fails over to retry', async () => {
  const slow = makeTransport({ requestTimeoutMs: 200 });
  sandbox.behaviours.set({ system: 'gcm', endpoint: 'legacy', blackHole: true });
  const out = await slow.send(EVENT, entries(['bh-1']), ctx());
  await slow.close();
  expect(out).toEqual([{ token: 'bh-1', action: 'retry', reason: 'timeout', app: 'gcm' }]);
  const down = makeTransport({ url: 'http://127.0.0.1:1/fcm/send' });
  expect(await down.send(EVENT, entries(['down-1']), ctx())).toEqual([{ token: 'down-1', action: 'retry', reason: 'connection', app: 'gcm' }]);
  await down.close();
});

test('DeprecatedApi fails (keeps the ids) and logs the switch to fcm-v1 once per process', async () => {
  resetDeprecatedApiWarning();
  logLines.length = 0;
  sandbox.behaviours.set({ system: 'gcm', tokenPrefix: 'dep-', reason: 'DeprecatedApi' });
  const a = await transport.send(EVENT, entries(['dep-1', 'dep-2']), ctx());
  const b = await transport.send(EVENT, entries(['dep-3']), ctx());
  expect([...a, ...b].map((o) => [o.action, o.reason])).toEqual([['fail', 'DeprecatedApi'], ['fail', 'DeprecatedApi'], ['fail', 'DeprecatedApi']]);
  const warnings = logLines.filter((l) => /GCM_TRANSPORT=fcm-v1/.test(l.msg));
  expect(warnings).toHaveLength(1);
});

test('a payload that cannot fit is dropped without a request; a shortened one is reported', async () => {
  const chat: PushEvent = {
    message: 'chat_message', owner: OWNER, chat: EVENT.recording, uuid: EVENT.recording, time: 1, user: OWNER,
    user_name: 'A', type: 'text', text: 'x'.repeat(10_000),
  };
  const out = await transport.send(chat, entries(['tr-1']), ctx({ policy: DEFAULT_POLICIES.chat_message }));
  expect(out[0]).toMatchObject({ action: 'delivered', truncated: true });
  expect((await transport.send(EVENT, entries(['tr-2']), ctx()))[0].truncated).toBeUndefined();
  const body = requestsFor(['tr-1'])[0];
  expect(Buffer.byteLength(JSON.stringify(body.data))).toBeLessThanOrEqual(4096);
  expect(body.priority).toBe('high');
  // Built around the schema (a 5000-character phone): nothing can be shortened, so no request at all.
  const huge: PushEvent = { ...EVENT, phone: 'x'.repeat(5000) } as PushEvent;
  expect(await transport.send(huge, entries(['drop-1']), ctx())).toEqual([{ token: 'drop-1', action: 'drop', reason: 'PayloadTooLarge', app: 'gcm' }]);
  expect(sandbox.recorder.countFor('drop-1')).toBe(0);
});

test('provider duration and in-flight metrics are recorded', async () => {
  await transport.send(EVENT, entries(['m-1']), ctx());
  const text = await metricsRegistry.metrics();
  expect(text).toMatch(/pushfleet_provider_request_duration_seconds_count\{system="gcm",status="200"\} [1-9]/);
  expect(text).toMatch(/pushfleet_provider_inflight_requests\{system="gcm"\} 0/);
});

test('an answer over the body cap is aborted and every id of the request is retried (body-too-large)', async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    void writeEndlessBody(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const t = makeTransport({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/gcm/send` });
  try {
    const list = ids('endless', 3);
    const out = await t.send(EVENT, entries(list), ctx());
    expect(out.map((o) => [o.token, o.action, o.reason])).toEqual(list.map((id) => [id, 'retry', 'body-too-large']));
  } finally {
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
