import crypto from 'node:crypto';
import http2 from 'node:http2';
import { waitFor } from '../../../test/support/env';
import { generateApnsKey, h2Request, issueClientCertificate, RefusalReport, Sandbox, signApnsProviderToken, startSandbox } from './index';

/** The hard APNs behaviours, each asserted on the wire with node:http2 and on the admin API's refusal report. */

const TOPIC = 'com.example.hard';
const key = generateApnsKey({ keyId: 'HARDKEY123', teamId: 'HARDTEAM12' });
const BODY = '{"aps":{"alert":"x"}}';
let sandbox: Sandbox;
const sessions: http2.ClientHttp2Session[] = [];

function connect(url: string, opts: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  const s = http2.connect(url, { ca: sandbox.caPem, ...opts });
  s.on('error', () => {});
  sessions.push(s);
  return s;
}

function deviceToken(tag: string): string {
  return crypto.createHash('sha256').update(tag).digest('hex');
}

function headers(token: string, jwt = signApnsProviderToken(key)): http2.OutgoingHttpHeaders {
  return { ':method': 'POST', ':path': `/3/device/${token}`, authorization: `bearer ${jwt}`, 'apns-topic': TOPIC, 'apns-push-type': 'alert' };
}

async function admin<T>(method: string, path: string, body?: object): Promise<T> {
  const res = await fetch(`${sandbox.adminUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as T;
}

const refusals = () => admin<RefusalReport>('GET', '/refusals');

/** Resolves with the value of the first emitted event that passes `pick`, or rejects after a deadline. */
function nextEvent<T>(emitter: NodeJS.EventEmitter, event: string, pick: (...args: never[]) => T | undefined, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    const on = (...args: unknown[]) => {
      const v = pick(...(args as never[]));
      if (v === undefined) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(v);
    };
    emitter.on(event, on);
  });
}

function closed(req: http2.ClientHttp2Stream): Promise<{ rstCode: number; status: number }> {
  let status = 0;
  req.on('response', (h) => (status = Number(h[':status'])));
  req.on('error', () => {});
  req.resume();
  return new Promise((resolve) => req.on('close', () => resolve({ rstCode: req.rstCode ?? 0, status })));
}

beforeAll(async () => {
  // Raw clients here sign tokens and open streams freely; each strict rule is switched on by the test of it.
  sandbox = await startSandbox({ strict: false, apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] });
});

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await admin('POST', '/reset');
});

afterAll(() => sandbox.close());

describe('one stream until a valid provider token', () => {
  test('a token connection starts at 1, refuses a second stream, and is raised to 1000 after a valid-token answer', async () => {
    await admin('POST', '/hard', { apnsStreamsUntilToken: true });
    const s = connect(sandbox.apns.developmentUrl);
    const firstSettings = nextEvent(s, 'remoteSettings', (st: http2.Settings) => st.maxConcurrentStreams);
    // Both streams leave before the server's SETTINGS arrive, as a client that does not wait for them does.
    const first = s.request(headers(deviceToken('one')), { endStream: false });
    const second = s.request(headers(deviceToken('two')));
    second.end(BODY);
    expect(await firstSettings).toBe(1);
    expect(await closed(second)).toEqual({ rstCode: http2.constants.NGHTTP2_REFUSED_STREAM, status: 0 });

    const raised = nextEvent(s, 'remoteSettings', (st: http2.Settings) => (st.maxConcurrentStreams === 1000 ? true : undefined));
    const firstDone = closed(first);
    first.end(BODY);
    expect(await firstDone).toEqual({ rstCode: 0, status: 200 });
    await raised;
    // The refused stream shows in the report once the connection's next stream arrives.
    expect((await h2Request(s, headers(deviceToken('three')), BODY)).status).toBe(200);
    const report = await refusals();
    expect(report.byRule['streams-until-token']).toEqual({ REFUSED_STREAM: 1 });
    expect(report.recent[0]).toMatchObject({ rule: 'streams-until-token', system: 'apns', endpoint: 'development', status: 0, reason: 'REFUSED_STREAM' });
  });

  test('an answer to an invalid provider token does not raise the limit', async () => {
    sandbox.hard.set({ apnsStreamsUntilToken: true });
    const s = connect(sandbox.apns.developmentUrl);
    const bad = await h2Request(s, headers(deviceToken('x'), 'not.a.jwt'), BODY);
    expect(bad.status).toBe(403);
    expect(s.remoteSettings.maxConcurrentStreams).toBe(1);
    const good = await h2Request(s, headers(deviceToken('x')), BODY);
    expect(good.status).toBe(200);
    await waitFor(() => s.remoteSettings.maxConcurrentStreams === 1000, { what: 'raised SETTINGS' });
  });

  test('a certificate connection gets the full limit in its first SETTINGS', async () => {
    sandbox.hard.set({ apnsStreamsUntilToken: true });
    const cert = issueClientCertificate(sandbox, { topic: TOPIC });
    const s = connect(sandbox.apns.productionUrl, { cert: cert.certPem, key: cert.keyPem });
    expect(await nextEvent(s, 'remoteSettings', (st: http2.Settings) => st.maxConcurrentStreams)).toBe(1000);
  });

  test('off (the default): every connection starts at 1000', async () => {
    const s = connect(sandbox.apns.developmentUrl);
    expect(await nextEvent(s, 'remoteSettings', (st: http2.Settings) => st.maxConcurrentStreams)).toBe(1000);
  });
});

describe('provider tokens', () => {
  test('403 ExpiredProviderToken once iat is over an hour old (tunable)', async () => {
    const s = connect(sandbox.apns.developmentUrl);
    const old = signApnsProviderToken(key, Math.floor(Date.now() / 1000) - 3601);
    const res = await h2Request(s, headers(deviceToken('e'), old), BODY);
    expect([res.status, res.body]).toEqual([403, '{"reason":"ExpiredProviderToken"}']);
    await admin('POST', '/hard', { apnsProviderTokenMaxAgeSeconds: 60 });
    const s2 = connect(sandbox.apns.developmentUrl);
    const twoMinutes = signApnsProviderToken(key, Math.floor(Date.now() / 1000) - 120);
    expect((await h2Request(s2, headers(deviceToken('e'), twoMinutes), BODY)).body).toBe('{"reason":"ExpiredProviderToken"}');
    expect((await refusals()).byRule['provider-token-expired']).toEqual({ ExpiredProviderToken: 2 });
  });

  test('403 InvalidProviderToken for a bad signature or an unknown key id', async () => {
    const s = connect(sandbox.apns.developmentUrl);
    const [h, c] = signApnsProviderToken(key).split('.');
    const forged = `${h}.${c}.${Buffer.alloc(64, 1).toString('base64url')}`;
    const stranger = signApnsProviderToken({ ...generateApnsKey({ keyId: 'OTHERKEY12', teamId: key.teamId }) });
    for (const jwt of [forged, stranger]) {
      const res = await h2Request(s, headers(deviceToken('i'), jwt), BODY);
      expect([res.status, res.body]).toEqual([403, '{"reason":"InvalidProviderToken"}']);
    }
    expect((await refusals()).byRule['provider-token-invalid']).toEqual({ InvalidProviderToken: 2 });
  });

  test('429 TooManyProviderTokenUpdates when a team token changes within 20 minutes, across connections', async () => {
    sandbox.hard.set({ apnsTeamTokenUpdates: true });
    const now = Math.floor(Date.now() / 1000);
    const a = connect(sandbox.apns.developmentUrl);
    const b = connect(sandbox.apns.productionUrl);
    expect((await h2Request(a, headers(deviceToken('t'), signApnsProviderToken(key, now - 10)), BODY)).status).toBe(200);
    const res = await h2Request(b, headers(deviceToken('t'), signApnsProviderToken(key, now)), BODY);
    expect([res.status, res.body]).toEqual([429, '{"reason":"TooManyProviderTokenUpdates"}']);
    // The team's current token keeps working on any connection.
    expect((await h2Request(b, headers(deviceToken('t'), signApnsProviderToken(key, now - 10)), BODY)).status).toBe(200);
    // Replacing the team's token once it has expired is always allowed.
    sandbox.hard.set({ apnsProviderTokenMaxAgeSeconds: 5 });
    expect((await h2Request(b, headers(deviceToken('t'), signApnsProviderToken(key, now)), BODY)).status).toBe(200);
    sandbox.hard.set({ apnsProviderTokenMaxAgeSeconds: 3600, apnsTokenUpdateIntervalSeconds: 0 });
    expect((await h2Request(a, headers(deviceToken('t'), signApnsProviderToken(key, now + 1)), BODY)).status).toBe(200);
    const report = await refusals();
    expect(report.byRule['provider-token-updates']).toEqual({ TooManyProviderTokenUpdates: 1 });
    expect(report.recent[0]).toMatchObject({ status: 429, endpoint: 'production', subject: 'HARDTEAM' });
  });
});

describe('environments', () => {
  test('a development token answers 400 BadDeviceToken at production, and the other way round', async () => {
    const dev = (await admin<{ token: string }>('POST', '/device-tokens', { system: 'apns', environment: 'development' })).token;
    const prod = sandbox.devices.issueApnsToken('production');
    const d = connect(sandbox.apns.developmentUrl);
    const p = connect(sandbox.apns.productionUrl);
    const answer = async (s: http2.ClientHttp2Session, t: string) => {
      const r = await h2Request(s, headers(t), BODY);
      return [r.status, r.body];
    };
    expect(await answer(p, dev)).toEqual([400, '{"reason":"BadDeviceToken"}']);
    expect(await answer(d, prod)).toEqual([400, '{"reason":"BadDeviceToken"}']);
    expect(await answer(d, dev)).toEqual([200, '']);
    expect(await answer(p, prod)).toEqual([200, '']);
    expect(await answer(p, deviceToken('unknown'))).toEqual([200, '']);
    expect((await refusals()).byRule.environment).toEqual({ BadDeviceToken: 2 });
    sandbox.hard.set({ apnsEnvironments: false });
    expect(await answer(p, dev)).toEqual([200, '']);
  });
});

describe('GOAWAY', () => {
  test('an idle connection gets GOAWAY IdleTimeout naming its last stream', async () => {
    await admin('POST', '/hard', { apnsIdleTimeoutMs: 150 });
    const s = connect(sandbox.apns.developmentUrl);
    const away = nextEvent(s, 'goaway', (code: number, last: number, data: Buffer) => ({ code, last, data: data?.toString() }));
    expect((await h2Request(s, headers(deviceToken('idle')), BODY)).status).toBe(200);
    expect(await away).toEqual({ code: 0, last: 1, data: '{"reason":"IdleTimeout"}' });
    expect((await refusals()).byRule['idle-timeout']).toEqual({ IdleTimeout: 1 });
  });

  test('a GOAWAY under load names the last stream answered; streams after it get no answer', async () => {
    const slow = deviceToken('slow');
    sandbox.behaviours.set({ system: 'apns', token: slow, latencyMs: 300 });
    sandbox.behaviours.set({ system: 'apns', token: deviceToken('away'), goaway: { reason: 'Shutdown' } });
    const s = connect(sandbox.apns.developmentUrl);
    const away = nextEvent(s, 'goaway', (code: number, last: number, data: Buffer) => ({ code, last, data: data?.toString() }));
    expect((await h2Request(s, headers(deviceToken('first')), BODY)).status).toBe(200); // stream 1
    const slowDone = closed(s.request(headers(slow)).end(BODY) as http2.ClientHttp2Stream); // stream 3, in flight
    const trigger = closed(s.request(headers(deviceToken('away'))).end(BODY) as http2.ClientHttp2Stream); // stream 5
    expect(await away).toEqual({ code: 0, last: 1, data: '{"reason":"Shutdown"}' });
    expect((await slowDone).status).toBe(0);
    expect((await trigger).status).toBe(0);
    await waitFor(() => sandbox.recorder.deliveries({ token: slow }).length === 1, { what: 'the slow stream recorded' });
    expect(sandbox.recorder.deliveries({ token: slow })[0]).toMatchObject({ status: 0, reason: 'Shutdown' });
  });
});
