import http from 'node:http';
import { SignJWT } from 'jose';
import { loadApiEnv, ConfigError } from '@pushfleet/config';
import { tokenRef } from '@pushfleet/observability';
import { createUserAuthenticator } from '../src/auth';
import { SlidingWindowLimiter } from '../src/limits';
import { startTestApi, call, TestApi, TEST_INTERNAL_TOKEN } from '../../../test/support/api';
import { userToken, TEST_AUTH, TEST_AUTH_ENV, TEST_JWT_SECRET } from '../../../test/support/jwt';
import { freePort } from '../../../test/support/redis-server';

const now = () => Math.floor(Date.now() / 1000);
const statusOf = async (api: TestApi, token: string) => (await call(api, 'GET', '/api/push', { headers: { authorization: `Bearer ${token}` } })).status;

describe('JWT strictness', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi({ name: 'jwt' }); });
  afterAll(() => api.close());

  test('a token of the configured issuer and audience passes', async () => {
    expect(await statusOf(api, await userToken('strict-user'))).toBe(200);
  });

  test.each([
    ['another audience', { audience: 'another-service' }],
    ['another issuer', { issuer: 'https://evil.example' }],
    ['no audience', { audience: null }],
    ['no issuer', { issuer: null }],
    ['no iat', { issuedAt: null }],
    ['a 100-year lifetime', { expiresIn: now() + 100 * 365 * 86_400 }],
    ['iat older than the maximum age', { issuedAt: now() - 2 * 86_400, expiresIn: now() + 600 }],
    ['iat in the future beyond the skew', { issuedAt: now() + 120, expiresIn: now() + 3600 }],
  ])('%s -> 401', async (_name, opts) => {
    expect(await statusOf(api, await userToken('strict-user', opts))).toBe(401);
  });

  test('iat a few seconds ahead (within the 30 s skew) passes', async () => {
    expect(await statusOf(api, await userToken('strict-user', { issuedAt: now() + 10 }))).toBe(200);
  });

  test.each(['bearer', 'BEARER', 'BeArEr'])('the scheme in any case: %s', async (scheme) => {
    const res = await call(api, 'GET', '/api/push', { headers: { authorization: `${scheme} ${await userToken('strict-user')}` } });
    expect(res.status).toBe(200);
  });

  test('issuer and audience are required unless the development switch says otherwise', async () => {
    expect(() => createUserAuthenticator({ secret: TEST_JWT_SECRET })).toThrow(/issuer and audience are required/);
    let problems: string[] = [];
    try { loadApiEnv({ AUTH_JWT_SECRET: TEST_JWT_SECRET }); } catch (e) { problems = (e as ConfigError).problems; }
    expect(problems).toEqual([expect.stringMatching(/^AUTH_JWT_ISSUER: required/), expect.stringMatching(/^AUTH_JWT_AUDIENCE: required/)]);
    expect(loadApiEnv({ ...TEST_AUTH_ENV }).AUTH_MAX_TOKEN_AGE_SECONDS).toBe(86_400);
    expect(loadApiEnv({ AUTH_JWT_SECRET: TEST_JWT_SECRET, AUTH_ALLOW_ANY_ISSUER_AUDIENCE: 'true' }).AUTH_ALLOW_ANY_ISSUER_AUDIENCE).toBe(true);
    const lax = createUserAuthenticator({ secret: TEST_JWT_SECRET, allowAnyIssuerAudience: true });
    expect(await lax(`Bearer ${await userToken('dev-user', { issuer: 'anyone', audience: null })}`)).toBe('dev-user');
  });

  test('DEDUPE_TTL: a duration, default 24 h', () => {
    expect(loadApiEnv({ ...TEST_AUTH_ENV }).DEDUPE_TTL).toBe(86_400_000);
    expect(loadApiEnv({ ...TEST_AUTH_ENV, DEDUPE_TTL: '90s' }).DEDUPE_TTL).toBe(90_000);
    expect(loadApiEnv({ ...TEST_AUTH_ENV, DEDUPE_TTL: '3600' }).DEDUPE_TTL).toBe(3_600_000);
    expect(() => loadApiEnv({ ...TEST_AUTH_ENV, DEDUPE_TTL: '0' })).toThrow(/DEDUPE_TTL/);
  });

  test('a smaller AUTH_MAX_TOKEN_AGE_SECONDS bounds exp - iat', async () => {
    const short = createUserAuthenticator({ ...TEST_AUTH, maxTokenAgeSeconds: 600 });
    await expect(short(`Bearer ${await userToken('u', { expiresIn: '1h' })}`)).rejects.toThrow(/lifetime exceeds/);
    await expect(short(`Bearer ${await userToken('u', { expiresIn: '5m' })}`)).resolves.toBe('u');
  });
});

describe('JWKS endpoint unreachable', () => {
  const sign = async () => {
    const { generateKeyPair } = await import('jose');
    const { privateKey } = await generateKeyPair('ES256');
    return new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('jwks-user').setIssuer(TEST_AUTH.issuer).setAudience(TEST_AUTH.audience).setIssuedAt().setExpirationTime('5m').sign(privateKey);
  };

  test('connection refused or a 5xx from the JWKS -> 503 unavailable (not 401)', async () => {
    const broken = http.createServer((_q, s) => { s.statusCode = 502; s.end('bad gateway'); });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    const urls = [`http://127.0.0.1:${await freePort()}/jwks.json`, `http://127.0.0.1:${(broken.address() as { port: number }).port}/jwks.json`];
    try {
      for (const jwksUrl of urls) {
        const local = await startTestApi({ name: 'jwks-down', auth: { jwksUrl, issuer: TEST_AUTH.issuer, audience: TEST_AUTH.audience } });
        try {
          const res = await call(local, 'GET', '/api/push', { token: await sign() });
          expect(res.status).toBe(503);
          expect(res.body).toEqual({ status: 'unavailable' });
          expect(res.headers.get('retry-after')).toBe('1');
        } finally {
          await local.close();
        }
      }
    } finally {
      broken.close();
    }
  });
});

describe('sliding window', () => {
  test('no double burst at a window boundary (a fixed window would allow 2x)', async () => {
    const api = await startTestApi({ name: 'sliding' });
    try {
      const l = new SlidingWindowLimiter(api.redis, { prefix: api.prefix, name: 'unit', limit: 10, windowMs: 60_000 });
      const t0 = Math.floor(Date.now() / 60_000) * 60_000 + 60_000 * 5;
      for (let i = 0; i < 10; i++) expect(await l.hit('s', t0 + 59_000)).toBe(0);
      expect(await l.hit('s', t0 + 59_500)).toBeGreaterThan(0);
      // Just past the boundary the previous window still counts almost fully.
      expect(await l.hit('s', t0 + 61_000)).toBeGreaterThan(0);
      // Most of a window later it has slid out.
      expect(await l.hit('s', t0 + 115_000)).toBe(0);
      expect(await l.check('other', t0)).toBe(0);
    } finally {
      await api.close();
    }
  });
});

describe('abuse limits', () => {
  test('per user on every route, GET too: 429 rate-limited with Retry-After; other users unaffected', async () => {
    const api = await startTestApi({ name: 'userlimit', limits: { userPerMinute: 3 } });
    try {
      const t = await userToken('hasty');
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(api, 'GET', '/api/push', { token: t })).status);
      const post = await call(api, 'POST', '/api/push', { token: t, body: { system: 'gcm', action: 'add', registration_id: 'hasty-registration-1' } });
      const get = await call(api, 'GET', '/api/push', { token: t });
      expect([...statuses, post.status, get.status]).toEqual([200, 200, 200, 429, 429]);
      expect(get.body).toEqual({ status: 'rate-limited' });
      expect(Number(get.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await api.registry.ownerOf('gcm', 'hasty-registration-1')).toBeNull();
      expect((await call(api, 'GET', '/api/push', { token: await userToken('calm') })).status).toBe(200);
    } finally {
      await api.close();
    }
  });

  test('failed authentication per client address: 429 past the limit, even with good credentials; logged sampled', async () => {
    const api = await startTestApi({ name: 'authfail', limits: { authFailuresPerMinute: 5 }, trustProxy: true });
    try {
      const good = await userToken('victim-of-a-neighbour');
      const from = (ip: string, authorization: string) => ({ headers: { authorization, 'x-forwarded-for': ip } });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(api, 'GET', '/api/push', from('203.0.113.7', 'Bearer not.a.jwt'))).status);
      for (let i = 0; i < 2; i++) statuses.push((await call(api, 'POST', '/internal/events', from('203.0.113.7', 'Bearer wrong-internal-token'))).status);
      statuses.push((await call(api, 'GET', '/api/push', from('203.0.113.7', `Bearer ${good}`))).status);
      statuses.push((await call(api, 'POST', '/internal/events', from('203.0.113.7', `Bearer ${TEST_INTERNAL_TOKEN}`))).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      // Another address (TRUST_PROXY: X-Forwarded-For counts) is not affected.
      expect((await call(api, 'GET', '/api/push', from('198.51.100.1', `Bearer ${good}`))).status).toBe(200);
      const warnings = api.logs.filter((l) => l.includes('authentication failed'));
      expect(warnings).toHaveLength(1);
      expect(api.logs.join('')).not.toContain('wrong-internal-token');
    } finally {
      await api.close();
    }
  });

  test('an address remembered as under the limit is refused as soon as its failures here pass the limit', async () => {
    const api = await startTestApi({ name: 'authfail-clean', limits: { authFailuresPerMinute: 2 }, trustProxy: true });
    try {
      const from = (authorization: string) => ({ headers: { authorization, 'x-forwarded-for': '203.0.113.9' } });
      const ok = from(`Bearer ${TEST_INTERNAL_TOKEN}`);
      const statuses = [];
      // Accepted (the address is now remembered as clean), then two failures and the good token again.
      statuses.push((await call(api, 'POST', '/internal/events', ok)).status === 429 ? 429 : 'not limited');
      for (let i = 0; i < 2; i++) statuses.push((await call(api, 'POST', '/internal/events', from('Bearer wrong'))).status);
      statuses.push((await call(api, 'POST', '/internal/events', ok)).status);
      expect(statuses).toEqual(['not limited', 401, 401, 429]);
    } finally {
      await api.close();
    }
  });
});

describe('token moves', () => {
  test('counted, logged with the short reference, capped per user per hour (429, the token stays)', async () => {
    const api = await startTestApi({ name: 'moves', limits: { tokenMovesPerHour: 2 } });
    try {
      const alice = await userToken('move-alice');
      const mallory = await userToken('move-mallory');
      const ids = [1, 2, 3].map((i) => `APA91b-victim-registration-${i}`);
      for (const id of ids) expect((await call(api, 'POST', '/api/push', { token: alice, body: { system: 'gcm', action: 'add', registration_id: id } })).status).toBe(200);
      const apnsToken = 'e'.repeat(64);
      const add = (t: string, id: string) => call(api, 'POST', '/api/push', { token: t, body: { system: 'gcm', action: 'add', registration_id: id } });
      expect((await add(mallory, ids[0])).status).toBe(200);
      expect((await add(mallory, ids[0])).status).toBe(200); // already hers: not a move
      expect((await add(mallory, ids[1])).status).toBe(200);
      const third = await add(mallory, ids[2]);
      expect(third.status).toBe(429);
      expect(third.body).toEqual({ status: 'rate-limited' });
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await api.registry.ownerOf('gcm', ids[2])).toBe('move-alice');
      // Her own new tokens are not moves and still register.
      expect((await call(api, 'POST', '/api/push', { token: mallory, body: { system: 'apns', action: 'add', device_token: apnsToken, application_id: '39JSDKGJ38.de.cospace.app' } })).status).toBe(200);

      const metrics = await (await fetch(`${api.opsUrl}/metrics`)).text();
      expect(metrics).toMatch(/^pushfleet_token_moves_total\{system="gcm"\} 2$/m);
      const moved = api.logs.filter((l) => l.includes('token moved to another user'));
      expect(moved).toHaveLength(2);
      expect(moved[0]).toContain(tokenRef(ids[0]));
      expect(api.logs.join('')).not.toContain(ids[0]);
    } finally {
      await api.close();
    }
  });
});
