import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import { Registry } from 'prom-client';
import { generateServiceAccount, Sandbox, startSandbox } from '@pushfleet/sandbox';
import { FCM_SCOPE, FcmAuth, FcmAuthError, parseServiceAccount, serviceAccountSchema } from './auth';
import { createDeliveryMetrics } from '../metrics';
import { MAX_PROVIDER_BODY_BYTES } from '../limits';
import { writeEndlessBody } from '../../../../test/support/endless-body';

let sandbox: Sandbox;
let account: ReturnType<typeof generateServiceAccount>;
const auths: FcmAuth[] = [];

function auth(over: Partial<ReturnType<typeof generateServiceAccount>['json']> = {}, registry = new Registry()): FcmAuth {
  const a = new FcmAuth({ serviceAccount: serviceAccountSchema.parse({ ...account.json, ...over }), ca: sandbox.caPem, metrics: createDeliveryMetrics(registry) });
  auths.push(a);
  return a;
}

beforeAll(async () => {
  sandbox = await startSandbox();
  account = generateServiceAccount({ projectId: 'pushfleet-test', tokenUri: sandbox.google.tokenUri });
  sandbox.credentials.addFcmServiceAccount({ clientEmail: account.clientEmail, publicKeyPem: account.publicKeyPem, projectId: 'pushfleet-test' });
});
afterEach(() => sandbox.reset());
afterAll(async () => {
  for (const a of auths) a.close();
  await sandbox.close();
});

test('the grant assertion: RS256, kid = private_key_id, iss, scope, aud = token_uri, exp = iat + 3600', async () => {
  const assertions: string[] = [];
  const a = auth();
  // Capture what reaches the token endpoint by wrapping the sandbox's grant.
  const grant = sandbox.credentials.grantAccessToken.bind(sandbox.credentials);
  sandbox.credentials.grantAccessToken = (form: string, now?: number) => {
    assertions.push(new URLSearchParams(form).get('assertion') ?? '');
    expect(new URLSearchParams(form).get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    return grant(form, now);
  };
  try {
    expect(await a.token()).toMatch(/^ya29\./);
  } finally {
    sandbox.credentials.grantAccessToken = grant;
  }
  expect(assertions).toHaveLength(1);
  const jwt = assertions[0];
  expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS256', typ: 'JWT', kid: account.json.private_key_id });
  const claims = decodeJwt(jwt);
  expect(claims).toEqual({ scope: FCM_SCOPE, iss: account.clientEmail, aud: sandbox.google.tokenUri, iat: expect.any(Number), exp: expect.any(Number) });
  expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
  await jwtVerify(jwt, await importSPKI(account.publicKeyPem, 'RS256'), { issuer: account.clientEmail, audience: sandbox.google.tokenUri });
});

test('one grant serves many callers: concurrent callers share the grant in flight, later ones the cache', async () => {
  const a = auth();
  const tokens = await Promise.all(Array.from({ length: 50 }, () => a.token()));
  expect(new Set(tokens).size).toBe(1);
  expect(await a.token()).toBe(tokens[0]);
  expect(sandbox.recorder.oauthGrants).toBe(1);
  expect(a.grants).toBe(1);
});

test('the cached token is replaced 60 s before it expires', async () => {
  const a = auth();
  const first = await a.token();
  // The sandbox grants for 3600 s: still cached 3539 s later, renewed at 3541 s.
  expect(await a.token(Date.now() + 3_539_000)).toBe(first);
  const second = await a.token(Date.now() + 3_541_000);
  expect(second).not.toBe(first);
  expect(sandbox.recorder.oauthGrants).toBe(2);
});

test('invalidate(stale) is idempotent: a burst of 401s on one token makes one new grant', async () => {
  const a = auth();
  const stale = await a.token();
  a.invalidate(stale);
  const fresh = await a.token();
  a.invalidate(stale); // a late 401 from a stream that used the old token
  expect(await a.token()).toBe(fresh);
  expect(sandbox.recorder.oauthGrants).toBe(2);
  a.invalidate();
  expect(await a.token()).not.toBe(fresh);
});

test('a refused grant is a typed, permanent error and counts as a credential failure', async () => {
  const registry = new Registry();
  const a = auth({ client_email: 'nobody@pushfleet-test.iam.gserviceaccount.com' }, registry);
  const err = await a.token().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FcmAuthError);
  expect(err).toMatchObject({ transient: false, status: 400, message: expect.stringContaining('invalid_grant') });
  expect(await registry.metrics()).toMatch(/pushfleet_credential_refresh_failures_total\{system="gcm"\} 1/);
});

test('an unreachable token endpoint is transient', async () => {
  const a = auth({ token_uri: 'https://127.0.0.1:1/token' });
  await expect(a.token()).rejects.toMatchObject({ name: 'FcmAuthError', transient: true });
});

test('parseServiceAccount names what is wrong and never echoes the key', () => {
  expect(() => parseServiceAccount('{')).toThrow(/not valid JSON/);
  expect(() => parseServiceAccount(JSON.stringify({ client_email: 'a@b', private_key: 'secret-material' }), 'sa.json')).toThrow(/^sa\.json: private_key: must be a PEM private key$/);
  expect(parseServiceAccount(JSON.stringify(account.json)).token_uri).toBe(sandbox.google.tokenUri);
});

test('a token endpoint answer over the body cap is aborted: transient, never buffered whole', async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    void writeEndlessBody(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const a = auth({ token_uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token` });
    await expect(a.token()).rejects.toMatchObject({ name: 'FcmAuthError', transient: true, message: `OAuth token endpoint answer over ${MAX_PROVIDER_BODY_BYTES} bytes` });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
