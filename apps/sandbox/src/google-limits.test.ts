import { importPKCS8, SignJWT } from 'jose';
import http2 from 'node:http2';
import { generateServiceAccount, GeneratedServiceAccount, h2Request, RefusalReport, Sandbox, startSandbox } from './index';

/** The hard Google behaviours, each asserted on the wire (node:http2, fetch) and on the admin API's refusal report. */

const PROJECT = 'hard-project';
const LEGACY_KEY = 'AAAA-hard-legacy-key';
const FcmError = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
let sandbox: Sandbox;
let account: GeneratedServiceAccount;
let session: http2.ClientHttp2Session;

async function admin<T>(method: string, path: string, body?: object): Promise<T> {
  const res = await fetch(`${sandbox.adminUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as T;
}

const refusals = () => admin<RefusalReport>('GET', '/refusals');

async function grant(): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Record<string, unknown> }> {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ scope: 'https://www.googleapis.com/auth/firebase.messaging' })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(account.clientEmail).setAudience(account.json.token_uri).setIssuedAt(now).setExpirationTime(now + 3600)
    .sign(await importPKCS8(account.json.private_key, 'RS256'));
  const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
  const res = await h2Request(session, { ':path': '/token', 'content-type': 'application/x-www-form-urlencoded' }, form);
  return { status: res.status, headers: res.headers, body: JSON.parse(res.body) as Record<string, unknown> };
}

async function accessToken(): Promise<string> {
  const g = await grant();
  expect(g.status).toBe(200);
  return g.body.access_token as string;
}

function v1(bearer: string, token: string, project = PROJECT) {
  return h2Request(session, { ':path': `/v1/projects/${project}/messages:send`, authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    JSON.stringify({ message: { token, data: { kind: 'call' } } }));
}

function rpcError(code: number, status: string, message: string, errorCode?: string): object {
  return { error: { code, message, status, ...(errorCode ? { details: [{ '@type': FcmError, errorCode }] } : {}) } };
}

beforeAll(async () => {
  sandbox = await startSandbox({ gcmApiKeys: [{ key: LEGACY_KEY, projectId: PROJECT }] });
  account = generateServiceAccount({ projectId: PROJECT, tokenUri: sandbox.google.tokenUri });
  sandbox.credentials.addFcmServiceAccount(account);
  session = http2.connect(sandbox.google.fcmBaseUrl, { ca: sandbox.caPem });
});
afterEach(() => admin('POST', '/reset'));
afterAll(async () => {
  session.close();
  await sandbox.close();
});

test('a registration token of another project answers 403 SENDER_ID_MISMATCH', async () => {
  const bearer = await accessToken();
  const foreign = (await admin<{ token: string }>('POST', '/device-tokens', { system: 'fcm', projectId: 'other-project' })).token;
  const own = sandbox.devices.issueFcmToken(PROJECT);
  const res = await v1(bearer, foreign);
  expect(res.status).toBe(403);
  expect(JSON.parse(res.body)).toEqual(rpcError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH'));
  expect((await v1(bearer, own)).status).toBe(200);
  expect((await v1(bearer, 'never-issued-token')).status).toBe(200);
  expect((await refusals()).byRule['sender-id']).toEqual({ SENDER_ID_MISMATCH: 1 });
  sandbox.hard.set({ fcmSenderId: false });
  expect((await v1(bearer, foreign)).status).toBe(200);
});

test('legacy: a token of another project than the server key answers MismatchSenderId', async () => {
  const foreign = sandbox.devices.issueFcmToken('other-project');
  const own = sandbox.devices.issueFcmToken(PROJECT);
  const res = await fetch(sandbox.google.legacyUrl, {
    method: 'POST', headers: { authorization: `key=${LEGACY_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ registration_ids: [foreign, own], data: { kind: 'call' } }),
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  expect(text).toMatch(/"success":1,"failure":1,"canonical_ids":0,"results":\[\{"error":"MismatchSenderId"\},\{"message_id":"0:/);
  expect((await refusals()).byRule['sender-id']).toEqual({ MismatchSenderId: 1 });
});

test('legacy: past the per-device rate a result answers DeviceMessageRateExceeded', async () => {
  sandbox.hard.set({ fcmDeviceQuotaPerMinute: 1 });
  const post = () => fetch(sandbox.google.legacyUrl, {
    method: 'POST', headers: { authorization: `key=${LEGACY_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ registration_ids: ['legacy-busy'], data: { kind: 'call' } }),
  }).then((r) => r.text());
  expect(await post()).toMatch(/"results":\[\{"message_id":/);
  expect(await post()).toMatch(/"success":0,"failure":1,"canonical_ids":0,"results":\[\{"error":"DeviceMessageRateExceeded"\}\]/);
  expect((await refusals()).byRule['device-quota']).toEqual({ DeviceMessageRateExceeded: 1 });
});

test('429 QUOTA_EXCEEDED with Retry-After past the per-project rate', async () => {
  const bearer = await accessToken();
  await admin('POST', '/hard', { fcmProjectQuotaPerMinute: 2 });
  expect((await v1(bearer, 'a')).status).toBe(200);
  expect((await v1(bearer, 'b')).status).toBe(200);
  const res = await v1(bearer, 'c');
  expect(res.status).toBe(429);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
  expect(JSON.parse(res.body)).toEqual(rpcError(429, 'RESOURCE_EXHAUSTED', expect.stringContaining('Quota exceeded') as unknown as string, 'QUOTA_EXCEEDED'));
  expect((await refusals()).byRule['project-quota']).toEqual({ QUOTA_EXCEEDED: 1 });
});

test('429 QUOTA_EXCEEDED past 240 messages per device per minute (tunable); other devices still pass', async () => {
  const bearer = await accessToken();
  for (let i = 0; i < 240; i++) expect((await v1(bearer, 'busy-device')).status).toBe(200);
  const res = await v1(bearer, 'busy-device');
  expect([res.status, JSON.parse(res.body).error.details]).toEqual([429, [{ '@type': FcmError, errorCode: 'QUOTA_EXCEEDED' }]]);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect((await v1(bearer, 'quiet-device')).status).toBe(200);
  sandbox.hard.set({ fcmDeviceQuotaPerMinute: 0 });
  expect((await v1(bearer, 'busy-device')).status).toBe(200);
  expect((await refusals()).byRule['device-quota']).toEqual({ QUOTA_EXCEEDED: 1 });
});

test('401 UNAUTHENTICATED once the access token has expired (short lifetime)', async () => {
  await admin('POST', '/hard', { fcmAccessTokenTtlSeconds: 0 });
  const g = await grant();
  expect([g.status, g.body.expires_in]).toEqual([200, 0]);
  const res = await v1(g.body.access_token as string, 'any');
  expect(res.status).toBe(401);
  expect(JSON.parse(res.body)).toEqual(rpcError(401, 'UNAUTHENTICATED', expect.stringContaining('invalid authentication credentials') as unknown as string));
  const report = await refusals();
  expect(report.byRule['access-token-expired']).toEqual({ UNAUTHENTICATED: 1 });
  expect(report.recent[0]).toMatchObject({ system: 'fcm', endpoint: 'v1', status: 401 });
});

test('the token endpoint rate-limits grants (429 rate_limit_exceeded)', async () => {
  sandbox.hard.set({ fcmGrantsPerMinute: 2 });
  expect((await grant()).status).toBe(200);
  expect((await grant()).status).toBe(200);
  const res = await grant();
  expect([res.status, res.body]).toEqual([429, { error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' }]);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect((await refusals()).byRule['token-grant-rate']).toEqual({ rate_limit_exceeded: 1 });
});

test('GET /hard reports the defaults; strict switches every strict rule; reset restores', async () => {
  const defaults = await admin<Record<string, unknown>>('GET', '/hard');
  expect(defaults).toMatchObject({ apnsStreamsUntilToken: true, apnsTeamTokenUpdates: true, apnsEnvironments: true, fcmSenderId: true, fcmDeviceQuotaPerMinute: 240 });
  expect(await admin('POST', '/hard', { strict: false })).toMatchObject({ apnsStreamsUntilToken: false, apnsTeamTokenUpdates: false });
  const bad = await fetch(`${sandbox.adminUrl}/hard`, { method: 'POST', body: JSON.stringify({ fcmSenderId: 'yes' }) });
  expect([bad.status, ((await bad.json()) as { status: string }).status]).toEqual([400, 'invalid-hard-settings']);
  await admin('POST', '/reset');
  expect(await admin('GET', '/hard')).toEqual(defaults);
});
