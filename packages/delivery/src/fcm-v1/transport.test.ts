import { Registry } from 'prom-client';
import { DEFAULT_POLICIES, PushEvent } from '@pushfleet/events';
import type { GcmDevice } from '@pushfleet/registry';
import { generateServiceAccount, Sandbox, startSandbox } from '@pushfleet/sandbox';
import { FcmAuth, serviceAccountSchema } from './auth';
import { FcmV1Transport } from './transport';
import { createDeliveryMetrics } from '../metrics';
import type { SendContext } from '../transport';

const PROJECT = 'pushfleet-v1-test';
const OWNER = '2f5e1a57-8f3c-4b6e-9a0d-1c2b3d4e5f60';
const EVENT: PushEvent = { message: 'dialplan_callreverse_start', owner: OWNER, phone_from: '+4930111', phone_to: '+4930222' };

let sandbox: Sandbox;
let account: ReturnType<typeof generateServiceAccount>;
let transport: FcmV1Transport;
let auth: FcmAuth;
const metricsRegistry = new Registry();
const extra: FcmV1Transport[] = [];

const entries = (ids: string[]): GcmDevice[] => ids.map((token) => ({ token, app: 'gcm', registeredAt: 1 }));
const ctx = (over: Partial<SendContext> = {}): SendContext => ({
  policy: DEFAULT_POLICIES.dialplan_callreverse_start, expiresAt: Date.now() + 59_500, ...over,
});
const view = (o: { token: string; action: string; reason: string; retryAfterMs?: number }) => ({ token: o.token, action: o.action, reason: o.reason, ...(o.retryAfterMs ? { retryAfterMs: o.retryAfterMs } : {}) });

function make(over: Partial<ConstructorParameters<typeof FcmV1Transport>[0]> = {}): FcmV1Transport {
  const t = new FcmV1Transport({
    auth: new FcmAuth({ serviceAccount: serviceAccountSchema.parse(account.json), ca: sandbox.caPem }),
    projectId: PROJECT,
    baseUrl: sandbox.google.fcmBaseUrl,
    ca: sandbox.caPem,
    connections: 2,
    maxInflightPerConnection: 50,
    requestTimeoutMs: 5000,
    metrics: createDeliveryMetrics(new Registry()),
    ...over,
  });
  extra.push(t);
  return t;
}

beforeAll(async () => {
  sandbox = await startSandbox();
  account = generateServiceAccount({ projectId: PROJECT, tokenUri: sandbox.google.tokenUri });
  sandbox.credentials.addFcmServiceAccount({ clientEmail: account.clientEmail, publicKeyPem: account.publicKeyPem, projectId: PROJECT });
  auth = new FcmAuth({ serviceAccount: serviceAccountSchema.parse(account.json), ca: sandbox.caPem });
  transport = make({ auth, metrics: createDeliveryMetrics(metricsRegistry) });
});
afterEach(() => sandbox.reset());
afterAll(async () => {
  for (const t of extra) await t.close();
  await sandbox.close();
});

test('one messages:send per token with the spec data (all strings), android priority and ttl, over HTTP/2', async () => {
  const out = await transport.send(EVENT, entries(['tok-a', 'tok-b']), ctx());
  expect(out.map(view)).toEqual([{ token: 'tok-a', action: 'delivered', reason: 'Success' }, { token: 'tok-b', action: 'delivered', reason: 'Success' }]);
  const recs = sandbox.recorder.deliveries({ system: 'fcm' });
  expect(recs.map((r) => r.token).sort()).toEqual(['tok-a', 'tok-b']);
  for (const r of recs) {
    expect(r.headers[':path']).toBe(`/v1/projects/${PROJECT}/messages:send`);
    expect(r.headers[':method']).toBe('POST');
    expect(r.headers.authorization).toMatch(/^Bearer ya29\./);
    expect(JSON.parse(r.body)).toEqual({
      message: {
        token: r.token,
        data: { owner: OWNER, message: 'dialplan_callreverse_start', phone_from: '+4930111', phone_to: '+4930222' },
        android: { priority: 'HIGH', ttl: '59s' },
      },
    });
  }
  const normal = await transport.send(EVENT, entries(['tok-c']), ctx({ policy: { ttlSeconds: 604_800, gcmPriority: 'normal' }, expiresAt: Date.now() + 40 * 86_400_000 }));
  expect(normal[0].action).toBe('delivered');
  expect(JSON.parse(sandbox.recorder.deliveries({ token: 'tok-c' })[0].body).message.android).toEqual({ priority: 'NORMAL', ttl: '2419200s' });
});

test('every error code maps to its outcome; Retry-After and the QUOTA_EXCEEDED floor apply to retries', async () => {
  const rules: Array<[string, object]> = [
    ['unreg', { reason: 'UNREGISTERED' }],
    ['mismatch', { reason: 'SENDER_ID_MISMATCH' }],
    ['quota', { reason: 'QUOTA_EXCEEDED', retryAfter: 5 }],
    ['quota-long', { reason: 'QUOTA_EXCEEDED', retryAfter: 90 }],
    ['unavail', { reason: 'UNAVAILABLE', retryAfter: 2 }],
    ['internal', { reason: 'INTERNAL' }],
    ['thirdparty', { reason: 'THIRD_PARTY_AUTH_ERROR' }],
    ['badarg', { reason: 'INVALID_ARGUMENT' }],
    ['html502', { status: 502, body: '<html><body>502 Bad Gateway</body></html>' }],
    ['reset', { reset: 11 }],
  ];
  for (const [token, rule] of rules) sandbox.behaviours.set({ system: 'fcm', token, ...rule });
  const out = await transport.send(EVENT, entries([...rules.map(([t]) => t), 'ok', 'bad token with spaces']), ctx());
  expect(out.map(view)).toEqual([
    { token: 'unreg', action: 'prune', reason: 'UNREGISTERED' },
    { token: 'mismatch', action: 'fail', reason: 'SENDER_ID_MISMATCH' },
    { token: 'quota', action: 'retry', reason: 'QUOTA_EXCEEDED', retryAfterMs: 60_000 },
    { token: 'quota-long', action: 'retry', reason: 'QUOTA_EXCEEDED', retryAfterMs: 90_000 },
    { token: 'unavail', action: 'retry', reason: 'UNAVAILABLE', retryAfterMs: 2000 },
    { token: 'internal', action: 'retry', reason: 'INTERNAL' },
    { token: 'thirdparty', action: 'fail', reason: 'THIRD_PARTY_AUTH_ERROR' },
    // The sandbox's INVALID_ARGUMENT for a token rule says "The registration token is not a valid FCM registration token".
    { token: 'badarg', action: 'prune', reason: 'INVALID_ARGUMENT' },
    { token: 'html502', action: 'retry', reason: '502' },
    { token: 'reset', action: 'retry', reason: 'stream-reset' },
    { token: 'ok', action: 'delivered', reason: 'Success' },
    // Rejected by the server's own token check: field violation on message.token.
    { token: 'bad token with spaces', action: 'prune', reason: 'INVALID_ARGUMENT' },
  ]);
});

test('INVALID_ARGUMENT about the payload (not the token) fails and keeps the token', async () => {
  const body = JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: "Invalid value at 'message.data[0].value' (TYPE_STRING), 2", details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'message.data[0].value', description: 'Invalid value' }] }] } });
  sandbox.behaviours.set({ system: 'fcm', token: 'payload-1', status: 400, body, contentType: 'application/json; charset=UTF-8' });
  expect((await transport.send(EVENT, entries(['payload-1']), ctx())).map(view)).toEqual([{ token: 'payload-1', action: 'fail', reason: 'INVALID_ARGUMENT' }]);
});

test('one OAuth grant serves many sends; a 401 refreshes the token once and resends', async () => {
  const t = make();
  const tokens = Array.from({ length: 200 }, (_, i) => `many-${i}`);
  const first = await t.send(EVENT, entries(tokens), ctx());
  expect(first.every((o) => o.action === 'delivered')).toBe(true);
  await t.send(EVENT, entries(tokens.slice(0, 10)), ctx());
  expect(sandbox.recorder.oauthGrants).toBe(1);

  // Google forgets every access token: each of the 200 concurrent streams gets 401, one new grant follows.
  sandbox.credentials.revokeAccessTokens();
  const again = await t.send(EVENT, entries(tokens), ctx());
  expect(again.every((o) => o.action === 'delivered')).toBe(true);
  expect(sandbox.recorder.oauthGrants).toBe(2);
  expect(sandbox.recorder.countFor('many-0', 'fcm')).toBe(4); // 200 ok, 200 ok, 401, 200 ok
  expect(sandbox.recorder.stats().byReason.UNAUTHENTICATED).toBe(200);
});

test('a 401 that persists after the refresh fails (configuration), it does not loop', async () => {
  sandbox.behaviours.set({ system: 'fcm', token: 'always-401', status: 401, reason: 'UNAUTHENTICATED' });
  const out = await transport.send(EVENT, entries(['always-401']), ctx());
  expect(out.map(view)).toEqual([{ token: 'always-401', action: 'fail', reason: 'UNAUTHENTICATED' }]);
  expect(sandbox.recorder.countFor('always-401', 'fcm')).toBe(2);
});

test('a refused OAuth grant fails every token without a send; an unreachable token endpoint retries', async () => {
  const refused = make({ auth: new FcmAuth({ serviceAccount: serviceAccountSchema.parse({ ...account.json, client_email: 'nobody@x.iam.gserviceaccount.com' }), ca: sandbox.caPem }) });
  expect((await refused.send(EVENT, entries(['r-1', 'r-2']), ctx())).map(view)).toEqual([
    { token: 'r-1', action: 'fail', reason: 'oauth-rejected' }, { token: 'r-2', action: 'fail', reason: 'oauth-rejected' },
  ]);
  const down = make({ auth: new FcmAuth({ serviceAccount: serviceAccountSchema.parse({ ...account.json, token_uri: 'https://127.0.0.1:1/token' }) }) });
  expect((await down.send(EVENT, entries(['d-1']), ctx())).map(view)).toEqual([{ token: 'd-1', action: 'retry', reason: 'oauth-unavailable' }]);
  expect(sandbox.recorder.totals().fcm).toBe(0);
});

test('no answer: black hole -> timeout, GOAWAY -> retry, and the pool reconnects afterwards', async () => {
  const t = make({ requestTimeoutMs: 300 });
  sandbox.behaviours.set({ system: 'fcm', token: 'hole', blackHole: true });
  sandbox.behaviours.set({ system: 'fcm', token: 'away', goaway: true });
  const out = await t.send(EVENT, entries(['hole', 'away']), ctx());
  expect(out.map((o) => [o.token, o.action])).toEqual([['hole', 'retry'], ['away', 'retry']]);
  expect(out[0].reason).toBe('timeout');
  expect(['goaway', 'stream-reset', 'connection']).toContain(out[1].reason);
  sandbox.behaviours.clear();
  expect((await t.send(EVENT, entries(['after']), ctx())).map(view)).toEqual([{ token: 'after', action: 'delivered', reason: 'Success' }]);
});

test('provider duration and in-flight metrics are recorded', async () => {
  await transport.send(EVENT, entries(['m-1']), ctx());
  const text = await metricsRegistry.metrics();
  expect(text).toMatch(/pushfleet_provider_request_duration_seconds_count\{system="gcm",status="200"\} [1-9]/);
  expect(text).toMatch(/pushfleet_provider_inflight_requests\{system="gcm"\} 0/);
});
