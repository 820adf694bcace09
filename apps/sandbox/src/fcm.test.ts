import { importPKCS8, SignJWT } from 'jose';
import https from 'node:https';
import http2 from 'node:http2';
import { generateServiceAccount, GeneratedServiceAccount, h2Request, Sandbox, startSandbox } from './index';

const PROJECT = 'pushfleet-test';
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
let sandbox: Sandbox;
let account: GeneratedServiceAccount;
/** A service account the sandbox does not know. */
let stranger: GeneratedServiceAccount;
let session: http2.ClientHttp2Session;
let accessToken: string;

async function assertion(sa: GeneratedServiceAccount, claims: { aud?: string; scope?: string; iat?: number; exp?: number } = {}): Promise<string> {
  const key = await importPKCS8(sa.json.private_key, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: claims.scope ?? SCOPE })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: sa.json.private_key_id })
    .setIssuer(sa.clientEmail)
    .setAudience(claims.aud ?? sa.json.token_uri)
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 3600)
    .sign(key);
}

/** HTTPS/1.1 request (node:https only offers http/1.1 in ALPN). */
function https1(path: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, unknown>; text: string; httpVersion: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${sandbox.google.fcmBaseUrl}${path}`, { method: 'POST', headers, ca: sandbox.caPem }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, httpVersion: res.httpVersion }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function grant(sa: GeneratedServiceAccount, claims?: Parameters<typeof assertion>[1]) {
  const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: await assertion(sa, claims) });
  const res = await https1(new URL(sandbox.google.tokenUri).pathname, { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
  return { status: res.status, body: JSON.parse(res.text) as Record<string, unknown> };
}

function v1(message: object, opts: { token?: string; project?: string; extra?: object } = {}) {
  return h2Request(session, {
    ':path': `/v1/projects/${opts.project ?? PROJECT}/messages:send`,
    authorization: `Bearer ${opts.token ?? accessToken}`,
    'content-type': 'application/json',
  }, JSON.stringify({ message, ...opts.extra }));
}

const message = (token: string) => ({ token, data: { kind: 'call', callId: '42' }, android: { priority: 'HIGH', ttl: '30s' } });

beforeAll(async () => {
  sandbox = await startSandbox();
  account = generateServiceAccount({ projectId: PROJECT, tokenUri: sandbox.google.tokenUri });
  sandbox.credentials.addFcmServiceAccount(account);
  stranger = generateServiceAccount({ projectId: PROJECT, tokenUri: sandbox.google.tokenUri });
  session = http2.connect(sandbox.google.fcmBaseUrl, { ca: sandbox.caPem });
  const g = await grant(account);
  expect(g.status).toBe(200);
  accessToken = g.body.access_token as string;
}, 90_000); // two RSA key pairs: slow when the box is busy
afterEach(() => sandbox.behaviours.clear());
afterAll(async () => {
  session.close();
  await sandbox.close();
});

describe('OAuth2 token endpoint', () => {
  it('grants a Bearer token for an RS256 assertion signed by the service account', async () => {
    const before = sandbox.recorder.oauthGrants;
    const g = await grant(account);
    expect(g).toEqual({ status: 200, body: { access_token: expect.stringMatching(/^ya29\./), expires_in: 3600, token_type: 'Bearer' } });
    expect(sandbox.recorder.oauthGrants).toBe(before + 1);
  });

  it.each<[string, () => Promise<{ status: number; body: Record<string, unknown> }>, string]>([
    ['signed by another key', () => grant({ ...stranger, clientEmail: account.clientEmail }, { aud: account.json.token_uri }), 'invalid_grant'],
    ['unknown account', () => grant(stranger, { aud: account.json.token_uri }), 'invalid_grant'],
    ['wrong audience', () => grant(account, { aud: 'https://example.com/token' }), 'invalid_grant'],
    ['longer than an hour', () => grant(account, { exp: Math.floor(Date.now() / 1000) + 7200 }), 'invalid_grant'],
    ['no scope', () => grant(account, { scope: '' }), 'invalid_scope'],
  ])('refuses an assertion %s with 400 %s', async (_n, run, error) => {
    const before = sandbox.recorder.oauthGrants;
    const g = await run();
    expect(g.status).toBe(400);
    expect(g.body.error).toBe(error);
    expect(sandbox.recorder.oauthGrants).toBe(before);
  });
});

describe('OAuth2 token endpoint behind another name (compose: https://sandbox:4443/token)', () => {
  it('accepts assertions addressed to a name in serverNames, still refuses other audiences', async () => {
    const named = await startSandbox({ serverNames: ['sandbox'] });
    try {
      const port = new URL(named.google.tokenUri).port;
      const sa = generateServiceAccount({ projectId: PROJECT, tokenUri: `https://sandbox:${port}/token` });
      named.credentials.addFcmServiceAccount(sa);
      const post = async (aud: string) => {
        const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: await assertion(sa, { aud }) }).toString();
        return new Promise<number>((resolve, reject) => {
          const req = https.request(named.google.tokenUri, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, ca: named.caPem }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
          req.on('error', reject);
          req.end(form);
        });
      };
      expect(await post(`https://sandbox:${port}/token`)).toBe(200);
      expect(await post(`https://elsewhere:${port}/token`)).toBe(400);
    } finally {
      await named.close();
    }
  });
});

describe('FCM HTTP v1', () => {
  it('accepts a message over HTTP/2 and records it; the access token is reused', async () => {
    const grants = sandbox.recorder.oauthGrants;
    for (let i = 0; i < 5; i++) {
      const res = await v1(message(`fcm-token-${i}`));
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body).name).toMatch(new RegExp(`^projects/${PROJECT}/messages/0:\\d+%[0-9a-f]+$`));
    }
    expect(sandbox.recorder.oauthGrants).toBe(grants);
    const [d] = sandbox.recorder.deliveries({ token: 'fcm-token-3' });
    expect(d).toMatchObject({ system: 'fcm', endpoint: 'v1', status: 200 });
    expect(JSON.parse(d.body).message.android).toEqual({ priority: 'HIGH', ttl: '30s' });
  });

  it('accepts a message over HTTPS/1.1 on the same port', async () => {
    const res = await https1(`/v1/projects/${PROJECT}/messages:send`, { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, JSON.stringify({ message: message('h1-token') }));
    expect(res.httpVersion).toBe('1.1');
    expect(res.status).toBe(200);
    expect(sandbox.recorder.countFor('h1-token', 'fcm')).toBe(1);
  });

  it('answers 401 UNAUTHENTICATED without an FcmError for a bad bearer token', async () => {
    const res = await v1(message('x'), { token: 'ya29.not-a-token' });
    expect(res.status).toBe(401);
    const body = JSON.parse(res.body);
    expect(body.error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
    expect(body.error.details).toBeUndefined();
  });

  it('expires access tokens after the configured lifetime', async () => {
    sandbox.credentials.accessTokenTtlSeconds = 0;
    try {
      const g = await grant(account);
      expect(g.body.expires_in).toBe(0);
      expect((await v1(message('x'), { token: g.body.access_token as string })).status).toBe(401);
    } finally {
      sandbox.credentials.accessTokenTtlSeconds = 3600;
    }
  });

  it('answers 403 PERMISSION_DENIED for another project', async () => {
    const res = await v1(message('x'), { project: 'someone-else' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.status).toBe('PERMISSION_DENIED');
  });

  it('rejects non-string data values with 400 INVALID_ARGUMENT', async () => {
    const res = await v1({ token: 'x', data: { count: 3 } });
    expect(res.status).toBe(400);
    const err = JSON.parse(res.body).error;
    expect(err).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    expect(err.message).toContain("message.data[0].value");
  });

  it('rejects a bad android priority and ttl', async () => {
    expect((await v1({ token: 'x', android: { priority: 'URGENT' } })).status).toBe(400);
    expect((await v1({ token: 'x', android: { ttl: '3600' } })).status).toBe(400);
  });

  it('flags an invalid registration token with a message.token field violation', async () => {
    const res = await v1({ token: 'has spaces' });
    const err = JSON.parse(res.body).error;
    expect(res.status).toBe(400);
    expect(err.details).toEqual(expect.arrayContaining([
      { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'INVALID_ARGUMENT' },
      expect.objectContaining({ fieldViolations: [expect.objectContaining({ field: 'message.token' })] }),
    ]));
  });

  it.each([
    ['UNREGISTERED', 404, 'NOT_FOUND'],
    ['SENDER_ID_MISMATCH', 403, 'PERMISSION_DENIED'],
    ['QUOTA_EXCEEDED', 429, 'RESOURCE_EXHAUSTED'],
    ['UNAVAILABLE', 503, 'UNAVAILABLE'],
    ['INTERNAL', 500, 'INTERNAL'],
    ['THIRD_PARTY_AUTH_ERROR', 401, 'UNAUTHENTICATED'],
  ])('scripted %s answers %i %s in the google.rpc shape', async (errorCode, status, rpc) => {
    sandbox.behaviours.set({ system: 'fcm', token: 'scripted', reason: errorCode, retryAfter: 30 });
    const res = await v1(message('scripted'));
    expect(res.status).toBe(status);
    expect(res.headers['retry-after']).toBe('30');
    expect(JSON.parse(res.body)).toEqual({
      error: { code: status, message: expect.any(String), status: rpc, details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] },
    });
  });

  it('can answer an HTML 502 from the front end', async () => {
    sandbox.behaviours.set({ system: 'fcm', status: 502, body: '<html><body>Bad Gateway</body></html>' });
    const res = await v1(message('x'));
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/text\/html/);
  });

  it('storms 503 UNAVAILABLE on every second request', async () => {
    sandbox.behaviours.set({ system: 'fcm', status: 503, ratio: 0.5 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await v1(message(`storm-${i}`))).status);
    expect(statuses).toEqual([200, 503, 200, 503]);
  });

  it('answers validate_only with a fake message id', async () => {
    const res = await v1(message('dry'), { extra: { validate_only: true } });
    expect(JSON.parse(res.body).name).toBe(`projects/${PROJECT}/messages/fake_message_id`);
  });

  it('sends GOAWAY over HTTP/2 when scripted', async () => {
    const s = http2.connect(sandbox.google.fcmBaseUrl, { ca: sandbox.caPem });
    s.on('error', () => undefined);
    const goaway = new Promise<string>((resolve) => s.on('goaway', (_c, _l, data) => resolve(data?.toString() ?? '')));
    sandbox.behaviours.set({ system: 'fcm', token: 'ga', goaway: { reason: 'maintenance' } });
    const req = h2Request(s, { ':path': `/v1/projects/${PROJECT}/messages:send`, authorization: `Bearer ${accessToken}` }, JSON.stringify({ message: message('ga') }));
    await expect(req).rejects.toBeDefined();
    expect(await goaway).toBe('{"reason":"maintenance"}');
    s.destroy();
  });
});
