import apn from '@parse/node-apn';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../../../test/support/env';
import { Behaviours } from './behaviours';
import { ConfigError, loadConfig } from './config';
import { generateApnsKey, generateServiceAccount, h2Request, RecordedRequest, Sandbox, signApnsProviderToken, startSandbox } from './index';

const hex = (n: number) => n.toString(16).padStart(64, '0');

describe('admin API', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    // A raw client that signs per request and opens streams freely: the strict rules are tested in apns-limits.test.ts.
    sandbox = await startSandbox({ strict: false });
  });
  afterAll(() => sandbox.close());

  const admin = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${sandbox.adminUrl}${p}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const parsed: any = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
    return { status: res.status, body: parsed };
  };

  it('listens on 127.0.0.1', () => {
    expect(sandbox.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('registers an APNs key, scripts a behaviour, and reports deliveries and stats', async () => {
    const key = generateApnsKey();
    expect((await admin('POST', '/apns-keys', { keyId: key.keyId, teamId: key.teamId, privateKeyPem: key.privateKeyPem })).status).toBe(201);
    const created = await admin('POST', '/behaviours', { system: 'apns', token: hex(2), reason: 'Unregistered', timestamp: 1234 });
    expect(created.status).toBe(201);
    const provider = new apn.Provider({ token: { key: key.privateKeyPem, keyId: key.keyId, teamId: key.teamId }, production: true, address: 'localhost', port: sandbox.apns.productionPort, ca: [sandbox.caPem], connectionRetryLimit: 0 });
    try {
      const res = await provider.send(Object.assign(new apn.Notification({ alert: 'x' }), { topic: 'com.example.app' }), [hex(1), hex(2)]);
      expect(res.sent.map((s) => s.device)).toEqual([hex(1)]);
      expect(res.failed[0]).toMatchObject({ device: hex(2), status: 410, response: { reason: 'Unregistered', timestamp: 1234 } });
    } finally {
      provider.shutdown();
    }
    const deliveries = (await admin('GET', `/deliveries?system=apns&token=${hex(2)}`)).body as RecordedRequest[];
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({ system: 'apns', endpoint: 'production', token: hex(2), status: 410, reason: 'Unregistered' });
    expect((await admin('GET', '/deliveries?limit=1')).body).toHaveLength(1);
    const stats = (await admin('GET', '/stats')).body;
    expect(stats).toMatchObject({ requests: { apns: 2 }, succeeded: { apns: 1 }, byStatus: { 200: 1, 410: 1 }, byReason: { Unregistered: 1 } });
    const listed = (await admin('GET', '/behaviours')).body;
    expect(listed).toEqual([{ rule: expect.objectContaining({ id: created.body.id, token: hex(2) }), hits: 1 }]);
    expect((await admin('DELETE', `/behaviours/${created.body.id}`)).status).toBe(200);
    expect((await admin('GET', '/behaviours')).body).toEqual([]);
  });

  it('rejects a malformed behaviour with a kebab-case status', async () => {
    const res = await admin('POST', '/behaviours', { token: 'a', tokenPrefix: 'b' });
    expect(res.status).toBe(400);
    expect(res.body.status).toBe('invalid-behaviour');
    expect((await admin('POST', '/behaviours', { ratio: 2 })).status).toBe(400);
    expect((await admin('POST', '/behaviours', { bogus: true })).status).toBe(400);
  });

  it('registers legacy keys and service accounts, issues client certificates, serves ca.pem', async () => {
    expect((await admin('POST', '/gcm-api-keys', { key: 'k1' })).status).toBe(201);
    const sa = generateServiceAccount({ projectId: 'p1', tokenUri: sandbox.google.tokenUri });
    expect((await admin('POST', '/fcm-service-accounts', sa.json)).body).toEqual({ clientEmail: sa.clientEmail });
    expect((await admin('GET', '/fcm-service-accounts')).body).toEqual([{ clientEmail: sa.clientEmail, projectId: 'p1', publicKeyPem: expect.stringContaining('BEGIN PUBLIC KEY') }]);
    const cert = (await admin('POST', '/apns-client-certificates', { topic: 'com.example.app' })).body;
    expect(cert.certPem).toContain('BEGIN CERTIFICATE');
    expect((await admin('GET', '/ca.pem')).body).toBe(sandbox.caPem);
  });

  it('POST /reset forgets deliveries, counts and behaviours', async () => {
    await admin('POST', '/behaviours', { status: 503 });
    expect(sandbox.recorder.totals().apns).toBeGreaterThan(0);
    expect((await admin('POST', '/reset')).status).toBe(200);
    expect(sandbox.recorder.totals()).toEqual({ apns: 0, gcm: 0, fcm: 0 });
    expect(sandbox.recorder.deliveries()).toEqual([]);
    expect(sandbox.behaviours.size).toBe(0);
  });

  it('answers 404 with a kebab-case status for unknown routes', async () => {
    expect(await admin('GET', '/nope')).toEqual({ status: 404, body: expect.objectContaining({ status: 'not-found' }) });
  });
});

describe('Behaviours', () => {
  it('prefers an exact token over the longest prefix over a global rule, newest first among equals', () => {
    const b = new Behaviours();
    b.set({ status: 500 });
    b.set({ status: 503 });
    b.set({ tokenPrefix: 'ab', status: 400 });
    b.set({ tokenPrefix: 'abc', status: 410 });
    b.set({ token: 'abcd', status: 429 });
    expect(b.match('apns', 'production', 'abcd')?.status).toBe(429);
    expect(b.match('apns', 'production', 'abce')?.status).toBe(410);
    expect(b.match('apns', 'production', 'abx')?.status).toBe(400);
    expect(b.match('apns', 'production', 'zzz')?.status).toBe(503);
  });

  it('falls through once times are used up, and filters by system and endpoint', () => {
    const b = new Behaviours();
    b.set({ token: 't', status: 503, times: 2, system: 'apns', endpoint: 'development' });
    expect(b.match('apns', 'production', 't')).toBeUndefined();
    expect(b.match('fcm', 'v1', 't')).toBeUndefined();
    expect([1, 2, 3].map(() => b.match('apns', 'development', 't')?.status)).toEqual([503, 503, undefined]);
    expect(b.list()[0]).toMatchObject({ hits: 2, remaining: 0 });
  });

  it('spreads a ratio evenly, or pseudo-randomly and reproducibly with a seed', () => {
    const even = new Behaviours();
    even.set({ status: 503, ratio: 0.25 });
    expect(Array.from({ length: 8 }, () => (even.match('gcm', 'legacy', 'x') ? 1 : 0))).toEqual([0, 0, 0, 1, 0, 0, 0, 1]);
    const run = () => {
      const b = new Behaviours();
      b.set({ status: 503, ratio: 0.5, seed: 42 });
      return Array.from({ length: 1000 }, () => (b.match('gcm', 'legacy', 'x') ? 1 : 0));
    };
    const a = run();
    expect(run()).toEqual(a);
    const hits = a.reduce<number>((s, v) => s + v, 0);
    expect(hits).toBeGreaterThan(400);
    expect(hits).toBeLessThan(600);
  });
});

describe('data dir, accept-any mode and env config', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-datadir-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes ca.pem to the data dir and loads the same CA next time', async () => {
    const a = await startSandbox({ dataDir: dir, serverNames: ['sandbox.internal'] });
    await a.close();
    expect(a.caFile).toBe(path.join(dir, 'ca.pem'));
    expect(fs.readFileSync(a.caFile, 'utf8')).toBe(a.caPem);
    const serverPem = fs.readFileSync(path.join(dir, 'server.pem'), 'utf8');
    expect(new X509Certificate(serverPem).subjectAltName).toContain('DNS:sandbox.internal');
    const b = await startSandbox({ dataDir: dir, serverNames: ['sandbox.internal'] });
    await b.close();
    expect(b.caPem).toBe(a.caPem);
    expect(fs.readFileSync(path.join(dir, 'server.pem'), 'utf8')).toBe(serverPem);
    expect(fs.existsSync(dir)).toBe(true);
  });

  it('accepts any well-formed provider token in accept-any mode, but still checks its age', async () => {
    const sb = await startSandbox({ acceptAnyApnsKey: true });
    const s = http2.connect(sb.apns.developmentUrl, { ca: sb.caPem });
    try {
      const k = generateApnsKey();
      const req = (iat?: number) => h2Request(s, { ':path': `/3/device/${hex(9)}`, authorization: `bearer ${signApnsProviderToken(k, iat)}`, 'apns-topic': 'a.b' }, '{}');
      expect((await req()).status).toBe(200);
      expect(JSON.parse((await req(Math.floor(Date.now() / 1000) - 4000)).body)).toEqual({ reason: 'ExpiredProviderToken' });
      await waitFor(() => sb.recorder.countFor(hex(9)) === 2);
    } finally {
      s.close();
      await sb.close();
    }
  });

  it('parses the environment and reports every problem at once', () => {
    const keyFile = path.join(dir, 'keys.json');
    const key = generateApnsKey();
    fs.writeFileSync(keyFile, JSON.stringify([{ keyId: key.keyId, teamId: key.teamId, privateKeyPem: key.privateKeyPem }]));
    const cfg = loadConfig({ SANDBOX_APNS_KEYS_FILE: keyFile, SANDBOX_GCM_API_KEYS: 'a, b', SANDBOX_ACCEPT_ANY_KEY: '1' });
    expect(cfg.options).toMatchObject({ apnsProductionPort: 2197, apnsDevelopmentPort: 2198, googlePort: 4443, adminPort: 4000, gcmApiKeys: ['a', 'b'], acceptAnyApnsKey: true });
    expect(cfg.options.apnsKeys?.[0].publicKeyPem).toBe(key.publicKeyPem);
    let problems: string[] = [];
    try {
      loadConfig({ SANDBOX_GOOGLE_PORT: '99999', SANDBOX_BEHAVIOURS_FILE: path.join(dir, 'missing.json') });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/SANDBOX_GOOGLE_PORT[\s\S]*SANDBOX_BEHAVIOURS_FILE/);
  });

  it('reads the hard settings: SANDBOX_STRICT and a SANDBOX_HARD JSON object', () => {
    expect(loadConfig({}).options).toMatchObject({ strict: true, hard: {} });
    const cfg = loadConfig({ SANDBOX_STRICT: '1', SANDBOX_HARD: '{"apnsIdleTimeoutMs":5000,"fcmDeviceQuotaPerMinute":0}' });
    expect(cfg.options).toMatchObject({ strict: true, hard: { apnsIdleTimeoutMs: 5000, fcmDeviceQuotaPerMinute: 0 } });
    expect(() => loadConfig({ SANDBOX_HARD: '{"apnsIdleTimeoutMs":"soon"}' })).toThrow(/SANDBOX_HARD/);
  });
});
