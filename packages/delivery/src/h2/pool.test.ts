import http2 from 'node:http2';
import net from 'node:net';
import { AddressInfo } from 'node:net';
import { writeEndlessBody } from '../../../../test/support/endless-body';
import { MAX_PROVIDER_BODY_BYTES } from '../limits';
import { H2Pool, H2TransportError } from './pool';

// A peer that accepts TCP and never answers (no TLS handshake): a black-holed provider address.
let silent: net.Server;
const sockets: net.Socket[] = [];
beforeAll(async () => {
  silent = net.createServer((s) => { sockets.push(s); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
});

test('a connection that never completes fails the request after the timeout instead of hanging', async () => {
  const pool = new H2Pool({ origin: `https://127.0.0.1:${(silent.address() as AddressInfo).port}`, requestTimeoutMs: 300, maxInflightPerSession: 1 });
  const started = Date.now();
  const results = await Promise.allSettled([pool.request({ ':path': '/' }, ''), pool.request({ ':path': '/' }, '')]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(H2TransportError);
  expect(Date.now() - started).toBeLessThan(3000);
  expect(pool.inflight).toBe(0);
  await pool.close();
});

test('close() fails queued requests at once', async () => {
  const pool = new H2Pool({ origin: `https://127.0.0.1:${(silent.address() as AddressInfo).port}`, requestTimeoutMs: 10_000, maxInflightPerSession: 1 });
  const first = pool.request({ ':path': '/' }, '').catch((e) => e);
  const queued = pool.request({ ':path': '/' }, '').catch((e) => e);
  await pool.close();
  expect(await queued).toBeInstanceOf(H2TransportError);
  await first;
});

test('thousands of queued requests behind the in-flight cap are served first in, first out, each once', async () => {
  const order: number[] = [];
  let open = 0;
  let maxOpen = 0;
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    order.push(Number(String(headers[':path']).slice(1)));
    maxOpen = Math.max(maxOpen, ++open);
    stream.on('close', () => { open--; });
    stream.respond({ ':status': 200 });
    stream.end(String(headers[':path']));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new H2Pool({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxInflightPerSession: 8 });
  try {
    const n = 9000; // the queue passes the point where it compacts itself
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => pool.request({ ':method': 'POST', ':path': `/${i}` }, '')));
    expect(answers.map((a) => a.body)).toEqual(Array.from({ length: n }, (_, i) => `/${i}`));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(maxOpen).toBeLessThanOrEqual(8);
    expect(pool.inflight).toBe(0);
  } finally {
    await pool.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a response body over the cap aborts that stream (body-too-large); the connection keeps serving', async () => {
  const server = http2.createServer();
  let endless: Promise<number> | undefined;
  server.on('stream', (stream, headers) => {
    stream.respond({ ':status': 400, 'content-type': 'application/json' });
    if (headers[':path'] === '/endless') endless = writeEndlessBody(stream);
    else stream.end(JSON.stringify({ reason: 'BadDeviceToken', note: 'é'.repeat(20_000) })); // 40 KB, multi-byte
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new H2Pool({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxInflightPerSession: 4 });
  try {
    const err = await pool.request({ ':method': 'POST', ':path': '/endless' }, '').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(H2TransportError);
    expect(err).toMatchObject({ kind: 'body-too-large', message: `response body over ${MAX_PROVIDER_BODY_BYTES} bytes` });
    // The server saw its stream cancelled soon after the cap, not after gigabytes.
    expect(await endless).toBeLessThan(MAX_PROVIDER_BODY_BYTES + 8 * 1024 * 1024);
    const ok = await pool.request({ ':method': 'POST', ':path': '/small' }, '');
    expect(JSON.parse(ok.body)).toMatchObject({ reason: 'BadDeviceToken' });
    expect(Buffer.byteLength(ok.body)).toBeGreaterThan(40_000);
    expect(pool.inflight).toBe(0);
  } finally {
    await pool.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
