import apn from '@parse/node-apn';
import crypto from 'node:crypto';
import http2 from 'node:http2';
import { waitFor } from '../../../test/support/env';
import { generateApnsKey, h2Request, issueClientCertificate, signApnsProviderToken, Sandbox, startSandbox } from './index';

const TOPIC = 'com.example.app';
const key = generateApnsKey({ keyId: 'KEY1234567', teamId: 'TEAM123456' });

let sandbox: Sandbox;
let session: http2.ClientHttp2Session;
const providers: apn.Provider[] = [];

function provider(opts: Partial<apn.ProviderOptions> & { requestTimeout?: number } = {}, k = key): apn.Provider {
  const p = new apn.Provider({
    token: { key: k.privateKeyPem, keyId: k.keyId, teamId: k.teamId },
    production: false,
    address: 'localhost',
    port: sandbox.apns.developmentPort,
    ca: [sandbox.caPem],
    connectionRetryLimit: 0,
    ...opts,
  } as apn.ProviderOptions);
  providers.push(p);
  return p;
}

function note(fields: Partial<apn.Notification> = {}): apn.Notification {
  return Object.assign(new apn.Notification({ alert: 'hello' }), { topic: TOPIC, pushType: 'alert' as const, ...fields });
}

function token(tag: string): string {
  return crypto.createHash('sha256').update(tag).digest('hex');
}

/** A raw HTTP/2 request to the development endpoint with a valid provider token unless overridden. */
function raw(headers: http2.OutgoingHttpHeaders, body: string | undefined = '{"aps":{"alert":"x"}}') {
  return h2Request(session, {
    ':path': `/3/device/${token('raw')}`,
    authorization: `bearer ${signApnsProviderToken(key)}`,
    'apns-topic': TOPIC,
    'apns-push-type': 'alert',
    ...headers,
  }, body);
}

beforeAll(async () => {
  // Raw clients here sign tokens and open streams freely; each strict rule is switched on by the test of it.
  sandbox = await startSandbox({ strict: false, apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] });
  session = http2.connect(sandbox.apns.developmentUrl, { ca: sandbox.caPem });
});

afterEach(() => sandbox.behaviours.clear());

afterAll(async () => {
  for (const p of providers) p.shutdown();
  session.close();
  await sandbox.close();
});

describe('APNs token auth with @parse/node-apn', () => {
  it('accepts a push, answers an apns-id and records what Apple would have seen', async () => {
    const t = token('ok');
    const res = await provider().send(note({ priority: 5, pushType: 'background', contentAvailable: true, alert: undefined } as Partial<apn.Notification>), [t]);
    expect(res.failed).toEqual([]);
    expect(res.sent).toHaveLength(1);
    const apnsId = (res.sent[0] as { 'apns-id'?: string })['apns-id'];
    expect(apnsId).toMatch(/^[0-9a-f-]{36}$/);
    const [d] = sandbox.recorder.deliveries({ token: t });
    expect(d).toMatchObject({ system: 'apns', endpoint: 'development', status: 200 });
    expect(d.headers['apns-topic']).toBe(TOPIC);
    expect(d.headers['apns-push-type']).toBe('background');
    expect(d.headers['apns-priority']).toBe('5');
    expect(JSON.parse(d.body)).toEqual({ aps: { 'content-available': 1 } });
    expect(d.id).toBe(apnsId);
  });

  it('routes production and development to separate ports', async () => {
    const t = token('routing');
    await provider({ production: true, port: sandbox.apns.productionPort }).send(note(), [t]);
    await provider().send(note(), [t]);
    expect(sandbox.recorder.deliveries({ token: t }).map((d) => d.endpoint)).toEqual(['production', 'development']);
  });

  it('rejects a token signed by an unknown key with 403 InvalidProviderToken', async () => {
    const other = generateApnsKey({ keyId: key.keyId, teamId: key.teamId }); // same kid, different key
    const res = await provider({}, other).send(note(), [token('badkey')]);
    expect(res.failed[0]).toMatchObject({ status: 403, response: { reason: 'InvalidProviderToken' } });
  });

  it('fails the TLS handshake when the client does not trust the sandbox CA', async () => {
    const res = await provider({ ca: undefined }).send(note(), [token('untrusted')]);
    expect(res.sent).toEqual([]);
    expect(res.failed[0].error).toBeDefined();
    expect(String(res.failed[0].error?.message)).toMatch(/certificate/i);
    expect(sandbox.recorder.countFor(token('untrusted'))).toBe(0);
  });

  it('answers 410 Unregistered with a timestamp', async () => {
    const t = token('gone');
    sandbox.behaviours.set({ token: t, reason: 'Unregistered', timestamp: 1_700_000_000_000 });
    const res = await provider().send(note(), [t]);
    expect(res.failed[0]).toMatchObject({ status: 410, response: { reason: 'Unregistered', timestamp: 1_700_000_000_000 } });
  });

  it.each([
    ['BadDeviceToken', 400], ['DeviceTokenNotForTopic', 400], ['TooManyRequests', 429], ['InternalServerError', 500],
    ['ServiceUnavailable', 503], ['Shutdown', 503], ['ExpiredToken', 410], ['TooManyProviderTokenUpdates', 429], ['Forbidden', 403],
  ])('scripted reason %s answers %i', async (reason, status) => {
    const t = token(`scripted-${reason}`);
    sandbox.behaviours.set({ token: t, reason });
    const res = await provider().send(note(), [t]);
    if (status === 500) {
      // node-apn reports a final 500 without the body
      expect(res.failed[0]).toMatchObject({ status: 500 });
    } else {
      expect(res.failed[0]).toMatchObject({ status, response: { reason } });
      expect(res.failed[0].response?.timestamp === undefined).toBe(status !== 410);
    }
  });

  it('fails N times then succeeds', async () => {
    const t = token('flaky');
    sandbox.behaviours.set({ token: t, status: 503, times: 2 });
    const p = provider();
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      const r = await p.send(note(), [t]);
      outcomes.push(r.sent.length ? 200 : r.failed[0].status);
    }
    expect(outcomes).toEqual([503, 503, 200]);
    expect(sandbox.recorder.countFor(t, 'apns')).toBe(3);
  });

  it('node-apn times out on a black hole', async () => {
    const t = token('hole');
    sandbox.behaviours.set({ token: t, blackHole: true });
    const res = await provider({ requestTimeout: 300 }).send(note(), [t]);
    expect(res.sent).toEqual([]);
    expect(String(res.failed[0].error?.message)).toMatch(/timeout/i);
    expect(sandbox.recorder.deliveries({ token: t })[0].status).toBe(0);
  });

  it('GOAWAY mid-flight fails the in-flight stream and node-apn reconnects for the next send', async () => {
    const t = token('goaway');
    const waiting = token('goaway-inflight');
    sandbox.behaviours.set({ token: waiting, blackHole: true });
    sandbox.behaviours.set({ token: t, goaway: { reason: 'Shutdown' }, times: 1 });
    const p = provider();
    const first = await p.send(note(), [waiting, t]);
    expect(first.sent).toEqual([]);
    expect(first.failed.map((f) => [f.device, String(f.error?.message)])).toEqual([
      [waiting, 'stream ended unexpectedly with status null and empty body'],
      [t, 'stream ended unexpectedly with status null and empty body'],
    ]);
    const second = await p.send(note(), [t]);
    expect(second.sent).toHaveLength(1);
  });
});

describe('APNs wire details (raw HTTP/2)', () => {
  it('sends retry-after and apns-id on scripted errors, and reason-only JSON bodies', async () => {
    sandbox.behaviours.set({ tokenPrefix: token('raw').slice(0, 8), status: 429, reason: 'TooManyRequests', retryAfter: 7 });
    const id = crypto.randomUUID();
    const res = await raw({ 'apns-id': id });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['apns-id']).toBe(id);
    expect(res.body).toBe('{"reason":"TooManyRequests"}');
  });

  it('echoes apns-id on success with an empty body, plus apns-unique-id on development', async () => {
    const id = crypto.randomUUID();
    const res = await raw({ 'apns-id': id });
    expect(res).toMatchObject({ status: 200, body: '' });
    expect(res.headers['apns-id']).toBe(id);
    expect(res.headers['apns-unique-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each<{ name: string; headers: http2.OutgoingHttpHeaders; body?: string; status: number; reason: string }>([
    { name: 'no provider token', headers: { authorization: undefined }, status: 403, reason: 'MissingProviderToken' },
    { name: 'garbage provider token', headers: { authorization: 'bearer abc.def.ghi' }, status: 403, reason: 'InvalidProviderToken' },
    { name: 'expired provider token', headers: { authorization: `bearer ${signApnsProviderToken(key, Math.floor(Date.now() / 1000) - 3700)}` }, status: 403, reason: 'ExpiredProviderToken' },
    { name: 'provider token from the future', headers: { authorization: `bearer ${signApnsProviderToken(key, Math.floor(Date.now() / 1000) + 600)}` }, status: 403, reason: 'InvalidProviderToken' },
    { name: 'missing topic', headers: { 'apns-topic': undefined }, status: 400, reason: 'MissingTopic' },
    { name: 'unknown push type', headers: { 'apns-push-type': 'shout' }, status: 400, reason: 'InvalidPushType' },
    { name: 'background at priority 10', headers: { 'apns-push-type': 'background', 'apns-priority': '10' }, status: 400, reason: 'BadPriority' },
    { name: 'priority 7', headers: { 'apns-priority': '7' }, status: 400, reason: 'BadPriority' },
    { name: 'voip without .voip topic', headers: { 'apns-push-type': 'voip' }, status: 400, reason: 'BadTopic' },
    { name: 'non-numeric expiration', headers: { 'apns-expiration': 'tomorrow' }, status: 400, reason: 'BadExpirationDate' },
    { name: '65-byte collapse id', headers: { 'apns-collapse-id': 'c'.repeat(65) }, status: 400, reason: 'BadCollapseId' },
    { name: 'apns-id not a UUID', headers: { 'apns-id': 'not-a-uuid' }, status: 400, reason: 'BadMessageId' },
    { name: 'non-hex device token', headers: { ':path': '/3/device/xyz' }, status: 400, reason: 'BadDeviceToken' },
    { name: 'no device token', headers: { ':path': '/3/device/' }, status: 400, reason: 'MissingDeviceToken' },
    { name: 'empty body', headers: {}, body: '', status: 400, reason: 'PayloadEmpty' },
    { name: '4097-byte body', headers: {}, body: `{"a":"${'x'.repeat(4089)}"}`, status: 413, reason: 'PayloadTooLarge' },
    { name: 'GET', headers: { ':method': 'GET' }, status: 405, reason: 'MethodNotAllowed' },
    { name: 'other path', headers: { ':path': '/2/device/abc' }, status: 404, reason: 'BadPath' },
  ])('$name -> $status $reason', async ({ headers, body, status, reason }) => {
    const res = await raw(headers, body ?? '{"aps":{}}');
    expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({ status, body: { reason } });
  });

  it('accepts a 5120-byte voip payload on a .voip topic', async () => {
    const res = await raw({ 'apns-push-type': 'voip', 'apns-topic': `${TOPIC}.voip` }, `{"a":"${'x'.repeat(5112)}"}`);
    expect(res.status).toBe(200);
  });

  it('verifies a provider token once and serves later requests from the cache', async () => {
    const jwt = signApnsProviderToken(key, Math.floor(Date.now() / 1000) - 5);
    const spy = jest.spyOn(crypto, 'verify');
    try {
      for (let i = 0; i < 5; i++) expect((await raw({ authorization: `bearer ${jwt}` })).status).toBe(200);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('rejects a second key on the same connection with UnrelatedKeyIdInToken', async () => {
    const other = generateApnsKey({ teamId: key.teamId });
    sandbox.credentials.addApnsKey({ keyId: other.keyId, teamId: other.teamId, publicKeyPem: other.publicKeyPem });
    const s = http2.connect(sandbox.apns.developmentUrl, { ca: sandbox.caPem });
    try {
      const req = (k: typeof key) => h2Request(s, { ':path': `/3/device/${token('kid')}`, authorization: `bearer ${signApnsProviderToken(k)}`, 'apns-topic': TOPIC }, '{}');
      expect((await req(key)).status).toBe(200);
      const res = await req(other);
      expect([res.status, JSON.parse(res.body)]).toEqual([403, { reason: 'UnrelatedKeyIdInToken' }]);
    } finally {
      s.close();
    }
  });

  it('enforces a key topic allow-list with TopicDisallowed', async () => {
    const limited = generateApnsKey();
    sandbox.credentials.addApnsKey({ ...limited, topics: ['com.example.allowed'] });
    const s = http2.connect(sandbox.apns.developmentUrl, { ca: sandbox.caPem });
    try {
      const req = (topic: string) => h2Request(s, { ':path': `/3/device/${token('topics')}`, authorization: `bearer ${signApnsProviderToken(limited)}`, 'apns-topic': topic, 'apns-push-type': 'alert' }, '{}');
      expect((await req('com.example.allowed')).status).toBe(200);
      expect(JSON.parse((await req('com.example.other')).body)).toEqual({ reason: 'TopicDisallowed' });
    } finally {
      s.close();
    }
  });

  it('a 0.5 storm answers every second request 503', async () => {
    sandbox.behaviours.set({ system: 'apns', status: 503, ratio: 0.5 });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await raw({})).status);
    expect(statuses).toEqual([200, 503, 200, 503, 200, 503]);
  });

  it('delays answers by latencyMs', async () => {
    sandbox.behaviours.set({ tokenPrefix: token('raw').slice(0, 6), latencyMs: 150 });
    const t0 = Date.now();
    expect((await raw({})).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('resets the stream with ENHANCE_YOUR_CALM', async () => {
    sandbox.behaviours.set({ tokenPrefix: token('raw').slice(0, 6), reset: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, times: 1 });
    await expect(raw({})).rejects.toMatchObject({ rstCode: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM });
  });

  it('sends GOAWAY with the JSON reason as debug data', async () => {
    const s = http2.connect(sandbox.apns.developmentUrl, { ca: sandbox.caPem });
    s.on('error', () => undefined);
    const goaway = new Promise<{ code: number; data: string }>((resolve) => s.on('goaway', (code, _last, data) => resolve({ code, data: data?.toString() ?? '' })));
    sandbox.behaviours.set({ token: token('ga'), goaway: { reason: 'Shutdown' } });
    const inflight = h2Request(s, { ':path': `/3/device/${token('ga')}`, authorization: `bearer ${signApnsProviderToken(key)}`, 'apns-topic': TOPIC }, '{}');
    await expect(inflight).rejects.toBeDefined();
    expect(await goaway).toEqual({ code: 0, data: '{"reason":"Shutdown"}' });
    s.destroy();
  });

  it('never records as delivered a stream the GOAWAY refused (the client retries it)', async () => {
    const s = http2.connect(sandbox.apns.developmentUrl, { ca: sandbox.caPem });
    s.on('error', () => undefined);
    const slow = [token('ga-slow-1'), token('ga-slow-2'), token('ga-slow-3')];
    // Answered 300 ms late: by then the GOAWAY (last-stream-id 0) has refused them on the client side.
    for (const t of slow) sandbox.behaviours.set({ token: t, latencyMs: 300 });
    const send = (t: string) => h2Request(s, { ':path': `/3/device/${t}`, authorization: `bearer ${signApnsProviderToken(key)}`, 'apns-topic': TOPIC, 'apns-push-type': 'alert' }, '{"aps":{"alert":"x"}}');
    const inflight = slow.map((t) => send(t).then(() => 'answered', () => 'refused'));
    const matched = () => sandbox.behaviours.list().filter((b) => slow.includes(b.rule.token ?? '')).every((b) => b.hits === 1);
    await waitFor(matched, { what: 'the slow requests at the sandbox' });
    sandbox.behaviours.set({ token: token('ga-trigger'), goaway: { reason: 'Shutdown' } });
    await send(token('ga-trigger')).catch(() => undefined);
    expect(await Promise.all(inflight)).toEqual(['refused', 'refused', 'refused']);
    await waitFor(() => slow.every((t) => sandbox.recorder.deliveries({ token: t }).length === 1), { what: 'the slow requests recorded' });
    expect(slow.map((t) => sandbox.recorder.deliveries({ token: t })[0].status)).toEqual([0, 0, 0]);
    s.destroy();
  });
});

describe('APNs certificate auth', () => {
  it('accepts a client certificate signed by the sandbox CA and takes the topic from it', async () => {
    const cert = issueClientCertificate(sandbox, { topic: TOPIC });
    const p = provider({ token: undefined, cert: cert.certPem, key: cert.keyPem, production: true, port: sandbox.apns.productionPort });
    const t = token('cert');
    const ok = await p.send(Object.assign(new apn.Notification({ alert: 'x' }), { pushType: 'alert' }), [t]);
    expect(ok.failed).toEqual([]);
    const [d] = sandbox.recorder.deliveries({ token: t });
    expect(d.headers.authorization).toBeUndefined();
    const wrong = await p.send(note({ topic: 'com.example.other' }), [t]);
    expect(wrong.failed[0]).toMatchObject({ status: 400, response: { reason: 'TopicDisallowed' } });
  });

  it('answers 403 BadCertificateEnvironment for a development-only certificate on production', async () => {
    const cert = issueClientCertificate(sandbox, { topic: TOPIC, environments: ['development'] });
    const s = http2.connect(sandbox.apns.productionUrl, { ca: sandbox.caPem, cert: cert.certPem, key: cert.keyPem });
    try {
      const res = await h2Request(s, { ':path': `/3/device/${token('env')}`, 'apns-topic': TOPIC }, '{}');
      expect([res.status, JSON.parse(res.body)]).toEqual([403, { reason: 'BadCertificateEnvironment' }]);
    } finally {
      s.close();
    }
  });
});

describe('APNs under load', () => {
  it('node-apn sends 1000 tokens at once without write timeouts', async () => {
    const tokens = Array.from({ length: 1000 }, (_, i) => token(`load-${i}`));
    const res = await provider({ requestTimeout: 5000 }).send(note(), tokens);
    expect(res.failed).toEqual([]);
    await waitFor(() => sandbox.recorder.countFor(tokens[999]) === 1, { what: 'last token recorded' });
  });
});
