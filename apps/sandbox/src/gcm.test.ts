import gcm from 'node-gcm';
import http from 'node:http';
import { Sandbox, startSandbox } from './index';

const KEY = 'AAAA-sandbox-server-key';
let sandbox: Sandbox;

function sender(key = KEY): gcm.Sender {
  return new gcm.Sender(key, { uri: sandbox.google.legacyUrl } as gcm.ISenderOptions);
}

/** node-gcm send with retries off, as a promise of [err, body]. */
function send(tokens: string[], message = new gcm.Message({ data: { kind: 'call' } }), key = KEY): Promise<{ err: unknown; body: gcm.IResponseBody | undefined }> {
  return new Promise((resolve) => sender(key).send(message, { registrationTokens: tokens }, 0, (err, body) => resolve({ err, body })));
}

/** A raw POST to the legacy endpoint (to see status, headers and the exact body text). */
function post(body: string, key = KEY): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(sandbox.google.legacyUrl, { method: 'POST', headers: { authorization: `key=${key}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  sandbox = await startSandbox({ gcmApiKeys: [KEY] });
});
afterEach(() => sandbox.reset());
afterAll(() => sandbox.close());

describe('legacy /fcm/send with node-gcm', () => {
  it('answers one result per registration id, in request order, with per-token errors and canonical ids', async () => {
    sandbox.behaviours.set({ system: 'gcm', token: 'tok-gone', reason: 'NotRegistered' });
    sandbox.behaviours.set({ system: 'gcm', token: 'tok-moved', canonicalId: 'tok-new-home' });
    sandbox.behaviours.set({ system: 'gcm', tokenPrefix: 'tok-bad', reason: 'InvalidRegistration' });
    sandbox.behaviours.set({ system: 'gcm', token: 'tok-old', reason: 'DeprecatedApi' });
    const tokens = ['tok-a', 'tok-gone', 'tok-moved', 'tok-bad-1', 'tok-b', 'tok-old'];
    const { err, body } = await send(tokens);
    expect(err).toBeNull();
    expect(body).toMatchObject({ success: 3, failure: 3, canonical_ids: 1 });
    const results = body!.results!;
    expect(results.map((r) => r.error ?? (r.registration_id ? `canonical:${r.registration_id}` : 'ok'))).toEqual(
      ['ok', 'NotRegistered', 'canonical:tok-new-home', 'InvalidRegistration', 'ok', 'DeprecatedApi']);
    expect(results[0].message_id).toMatch(/^0:\d+%[0-9a-f]+$/);
    const recorded = sandbox.recorder.deliveries({ system: 'gcm' });
    expect(recorded.map((d) => d.token)).toEqual(tokens);
    expect(JSON.parse(recorded[0].body)).toMatchObject({ registration_ids: tokens, data: { kind: 'call' } });
    expect(recorded[0].headers.authorization).toBe(`key=${KEY}`);
  });

  it('sends a single token as "to" and still answers a results array', async () => {
    const body = await new Promise<gcm.IResponseBody>((resolve, reject) =>
      sender().send(new gcm.Message({ data: { a: 'b' } }), 'only-one', 0, (err, b) => (err ? reject(err) : resolve(b))));
    expect(body).toMatchObject({ success: 1, failure: 0, results: [{ message_id: expect.any(String) }] });
    expect(JSON.parse(sandbox.recorder.deliveries({ token: 'only-one' })[0].body).to).toBe('only-one');
  });

  it('rejects 1001 registration ids with 400 and the text Google sends', async () => {
    const tokens = Array.from({ length: 1001 }, (_, i) => `t${i}`);
    const { err } = await send(tokens);
    expect(err).toBe(400);
    const res = await post(JSON.stringify({ registration_ids: tokens }));
    expect(res.status).toBe(400);
    expect(res.text.trim()).toBe('Number of messages on bulk (1001) exceeds maximum allowed (1000)');
  });

  it('answers 401 with an HTML body for a wrong server key', async () => {
    const { err } = await send(['x'], undefined, 'wrong-key');
    expect(err).toBe(401);
    const res = await post('{"to":"x"}', 'wrong-key');
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('<TITLE>Unauthorized</TITLE>');
  });

  it('writes multicast_id beyond 2^53 as raw JSON digits', async () => {
    const res = await post('{"registration_ids":["a","b"]}');
    const digits = /"multicast_id":(\d+)/.exec(res.text)?.[1];
    expect(digits).toBeDefined();
    expect(BigInt(digits!)).toBeGreaterThan(2n ** 53n);
    expect(BigInt(digits!)).toBeLessThan(2n ** 63n);
  });

  it.each([
    ['time_to_live above 28 days', { to: 'a', time_to_live: 2419201 }, 'Invalid value (2419201) for "time_to_live": must be between 0 and 2419200'],
    ['reserved data key "from"', { to: 'a', data: { from: 'me' } }, '"data" key "from" is a reserved keyword'],
    ['reserved data key google.*', { to: 'a', data: { 'google.x': '1' } }, '"data" key "google.x" is a reserved keyword'],
    ['no target', { data: {} }, 'Missing "registration_ids" field'],
  ])('%s -> 400 text', async (_n, body, text) => {
    const res = await post(JSON.stringify(body));
    expect([res.status, res.text.trim()]).toEqual([400, text]);
  });

  it('answers MessageTooBig per result when data exceeds 4096 bytes', async () => {
    const { body } = await send(['a', 'b'], new gcm.Message({ data: { blob: 'x'.repeat(4100) } }));
    expect(body?.results).toEqual([{ error: 'MessageTooBig' }, { error: 'MessageTooBig' }]);
  });

  it('answers a whole-request 503 with retry-after, N times then succeeds', async () => {
    sandbox.behaviours.set({ system: 'gcm', status: 503, retryAfter: 12, times: 1 });
    const first = await post('{"registration_ids":["a"]}');
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('12');
    const { err } = await send(['a']);
    expect(err).toBeNull();
  });

  it('storms per-result Unavailable on every second token, deterministically', async () => {
    sandbox.behaviours.set({ system: 'gcm', reason: 'Unavailable', ratio: 0.5 });
    const { body } = await send(['a', 'b', 'c', 'd']);
    expect(body?.results?.map((r) => r.error ?? 'ok')).toEqual(['ok', 'Unavailable', 'ok', 'Unavailable']);
  });

  it('can answer an empty 200 body, which node-gcm reports as an error', async () => {
    sandbox.behaviours.set({ system: 'gcm', status: 200, body: '' });
    const { err } = await send(['a']);
    expect(err).toMatchObject({ code: 400 });
  });

  it('answers topic messages with a bare message_id', async () => {
    const res = await post('{"to":"/topics/news","data":{"a":"b"}}');
    expect(res.text).toMatch(/^\{"message_id":\d+\}$/);
  });
});
