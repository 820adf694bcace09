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

/** A plain-HTTP/2 test server: `onStream` decides each stream's fate; `maxOpen` is the most streams open at once. */
async function server(settings: http2.Settings, onStream: (stream: http2.ServerHttp2Stream, n: number, session: http2.ServerHttp2Session) => void) {
  const s = http2.createServer({ settings });
  let n = 0;
  let open = 0;
  const stats = { maxOpen: 0, streams: 0, sessions: 0 };
  s.on('session', () => { stats.sessions++; });
  s.on('stream', (stream) => {
    stats.streams++;
    stats.maxOpen = Math.max(stats.maxOpen, ++open);
    stream.on('close', () => { open--; });
    stream.on('error', () => undefined); // streams the GOAWAY cut off
    onStream(stream, n++, stream.session as http2.ServerHttp2Session);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    stats,
    origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { s.close(() => r()); }),
  };
}

const answer = (stream: http2.ServerHttp2Stream) => { stream.respond({ ':status': 200 }); stream.end('ok'); };

test('no stream opens before the server\'s first SETTINGS: a server allowing 2 streams refuses none of 40 queued requests', async () => {
  const srv = await server({ maxConcurrentStreams: 2 }, (stream) => setImmediate(() => answer(stream)));
  let resends = 0;
  const pool = new H2Pool({ origin: srv.origin, maxInflightPerSession: 500, onResend: () => { resends++; } });
  try {
    const answers = await Promise.all(Array.from({ length: 40 }, () => pool.request({ ':method': 'POST', ':path': '/' }, '')));
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    expect(resends).toBe(0);
    expect(srv.stats.streams).toBe(40);
    expect(srv.stats.maxOpen).toBeLessThanOrEqual(2);
  } finally {
    await pool.close();
    await srv.close();
  }
});

test('queued requests start the moment the server raises its stream limit (1, then 100)', async () => {
  const held: http2.ServerHttp2Stream[] = [];
  const srv = await server({ maxConcurrentStreams: 1 }, (stream, n, session) => {
    if (n === 0) return answer(stream);
    if (n === 1) {
      answer(stream);
      session.settings({ maxConcurrentStreams: 100 });
      return;
    }
    // Hold later streams until 50 are open at once: only a pool that follows the raised limit gets there.
    held.push(stream);
    if (held.length >= 50 || n === 100) for (const h of held.splice(0)) answer(h);
  });
  let resends = 0;
  const pool = new H2Pool({ origin: srv.origin, maxInflightPerSession: 500, requestTimeoutMs: 5000, onResend: () => { resends++; } });
  try {
    // The connection is up with a limit of 1 when the backlog arrives.
    await pool.request({ ':method': 'POST', ':path': '/' }, '');
    const answers = await Promise.all(Array.from({ length: 100 }, () => pool.request({ ':method': 'POST', ':path': '/' }, '')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(srv.stats.maxOpen).toBeGreaterThanOrEqual(50);
    expect(resends).toBe(0);
  } finally {
    await pool.close();
    await srv.close();
  }
});

test('a REFUSED_STREAM is sent again at once and answered; the caller sees one answer', async () => {
  const srv = await server({}, (stream, n) => {
    if (n === 0) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else answer(stream);
  });
  let resends = 0;
  const pool = new H2Pool({ origin: srv.origin, onResend: () => { resends++; } });
  try {
    const a = await pool.request({ ':method': 'POST', ':path': '/' }, '');
    expect(a.status).toBe(200);
    expect(resends).toBe(1);
    expect(srv.stats.streams).toBe(2);
  } finally {
    await pool.close();
    await srv.close();
  }
});

test('streams beyond a GOAWAY\'s last stream id go again on a new connection; the processed one is not resent', async () => {
  const held: http2.ServerHttp2Stream[] = [];
  const srv = await server({}, (stream, _n, session) => {
    if (srv.stats.sessions > 1) return answer(stream);
    held.push(stream);
    if (held.length < 3) return;
    // The first stream is processed and answered; the GOAWAY says nothing after it was.
    answer(held[0]);
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, held[0].id!);
  });
  let resends = 0;
  const pool = new H2Pool({ origin: srv.origin, onResend: () => { resends++; } });
  try {
    const answers = await Promise.all([1, 2, 3].map(() => pool.request({ ':method': 'POST', ':path': '/' }, '')));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(resends).toBe(2);
    expect(srv.stats.sessions).toBe(2);
    expect(srv.stats.streams).toBe(5);
  } finally {
    await pool.close();
    await srv.close();
  }
});
