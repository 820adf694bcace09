import http2 from 'node:http2';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreatePki } from '../../../../apps/sandbox/src/pki';
import { connectH2 } from './connect';
import { H2Pool } from './pool';
import type { H2Session } from './session';

// The session against real nghttp2 servers (node:http2), with the features a provider may use on us:
// padding, CONTINUATION, PING, small flow-control windows, SETTINGS changes, trailers, Huffman and the
// dynamic table (nghttp2 uses both by default).

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

async function h2c(handler: Handler, options: http2.ServerOptions = {}): Promise<{ server: http2.Http2Server; origin: string; sessions: http2.ServerHttp2Session[] }> {
  const server = http2.createServer(options);
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  server.on('stream', handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sessions };
}

const closeServer = (server: { close(cb: () => void): void }, sessions: http2.ServerHttp2Session[] = []) => {
  for (const s of sessions) s.destroy();
  return new Promise<void>((r) => server.close(() => r()));
};

function ask(session: H2Session, headers: http2.OutgoingHttpHeaders, body = ''): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    session.request(headers, body, 1 << 20, (failure, message, answer) => (answer ? resolve(answer) : reject(new Error(`${failure}: ${message}`))));
  });
}

const echo: Handler = (stream, headers) => {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'x-path': String(headers[':path']), 'x-topic': String(headers['apns-topic'] ?? '') });
    stream.end(Buffer.concat(chunks));
  });
};

test('padded frames, Huffman and the dynamic table over many answers decode as sent', async () => {
  const { server, origin, sessions } = await h2c(echo, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
  const session = await connectH2(origin, undefined, 2000);
  try {
    for (let i = 0; i < 300; i++) {
      const a = await ask(session, { ':method': 'POST', ':path': `/3/device/${i}`, 'apns-topic': `com.example.app${i % 7}` }, `body ${i}`);
      expect(a).toMatchObject({ status: 200, body: `body ${i}`, headers: { 'x-path': `/3/device/${i}`, 'x-topic': `com.example.app${i % 7}` } });
    }
  } finally {
    session.destroy();
    await closeServer(server, sessions);
  }
});

test('answer headers larger than one frame arrive as HEADERS + CONTINUATION', async () => {
  const big = 'v'.repeat(9000);
  const { server, origin, sessions } = await h2c((stream) => {
    stream.respond({ ':status': 429, 'x-a': big, 'x-b': big, 'x-c': big, 'retry-after': '7' });
    stream.end('{"error":{"status":"RESOURCE_EXHAUSTED"}}');
  }, { maxSendHeaderBlockLength: 1 << 20 } as http2.ServerOptions);
  const session = await connectH2(origin, undefined, 2000);
  try {
    const a = await ask(session, { ':method': 'POST', ':path': '/' });
    expect(a.status).toBe(429);
    expect(a.headers['x-c']).toBe(big);
    expect(a.headers['retry-after']).toBe('7');
    expect(JSON.parse(a.body)).toEqual({ error: { status: 'RESOURCE_EXHAUSTED' } });
  } finally {
    session.destroy();
    await closeServer(server, sessions);
  }
});

test('request bodies wait for the server\'s flow-control windows (1 KiB per stream) and all arrive whole', async () => {
  const { server, origin, sessions } = await h2c(echo, { settings: { initialWindowSize: 1024 } });
  const session = await connectH2(origin, undefined, 2000);
  try {
    const bodies = Array.from({ length: 200 }, (_, i) => `${i}:`.padEnd(4000, String.fromCharCode(97 + (i % 26))));
    // 200 x 4000 bytes: far over the connection's 65,535-byte initial window and each stream's 1 KiB.
    const answers = await Promise.all(bodies.map((b, i) => ask(session, { ':method': 'POST', ':path': `/${i}` }, b)));
    expect(answers.map((a) => a.body)).toEqual(bodies);
  } finally {
    session.destroy();
    await closeServer(server, sessions);
  }
});

test('answer bodies over several DATA frames, and trailers, are read whole; the server\'s PING is answered', async () => {
  const body = 'x'.repeat(50_000);
  const { server, origin, sessions } = await h2c((stream) => {
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'yes' }));
    stream.end(body);
  });
  const session = await connectH2(origin, undefined, 2000);
  try {
    expect((await ask(session, { ':path': '/' })).body).toBe(body);
    const rtt = await new Promise<number>((resolve, reject) => sessions[0].ping((err, ms) => (err ? reject(err) : resolve(ms))));
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect((await ask(session, { ':path': '/' })).body).toBe(body);
  } finally {
    session.destroy();
    await closeServer(server, sessions);
  }
});

test('a server raising its stream limit and window mid-connection is followed', async () => {
  const { server, origin, sessions } = await h2c(echo, { settings: { maxConcurrentStreams: 1, initialWindowSize: 100 } });
  const session = await connectH2(origin, undefined, 2000);
  try {
    expect(session.remoteMaxStreams).toBe(1);
    const changed = new Promise<void>((r) => { session.onSettings = () => r(); });
    sessions[0].settings({ maxConcurrentStreams: 50, initialWindowSize: 70_000 });
    await changed;
    expect(session.remoteMaxStreams).toBe(50);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => ask(session, { ':method': 'POST', ':path': `/${i}` }, 'y'.repeat(3000))));
    expect(answers.every((a) => a.body.length === 3000)).toBe(true);
  } finally {
    session.destroy();
    await closeServer(server, sessions);
  }
});

test('a connection that drops mid-answer fails its open streams as goaway, and the pool reconnects', async () => {
  let n = 0;
  const { server, origin, sessions } = await h2c((stream) => {
    if (++n === 1) { stream.session?.destroy(); return; }
    stream.respond({ ':status': 200 });
    stream.end();
  });
  const pool = new H2Pool({ origin, requestTimeoutMs: 2000 });
  try {
    await expect(pool.request({ ':method': 'POST', ':path': '/' }, 'a')).rejects.toMatchObject({ kind: 'goaway' });
    expect((await pool.request({ ':method': 'POST', ':path': '/' }, 'b')).status).toBe(200);
  } finally {
    await pool.close();
    await closeServer(server, sessions);
  }
});

test('a TLS server that does not speak HTTP/2 is refused at connect with a clear error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-h2-'));
  const pki = loadOrCreatePki(dir, ['localhost']); // node-forge: seconds on a loaded box, hence the timeout below
  const server = https.createServer({ cert: pki.serverCertPem, key: pki.serverKeyPem }, (_req, res) => res.end('http/1.1'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await expect(connectH2(`https://localhost:${(server.address() as AddressInfo).port}`, { ca: pki.caCertPem }, 2000)).rejects.toThrow(/ALPN h2|no application protocol/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await closeServer(server);
  }
}, 90_000);

test('a request with a control character in a header value is refused before it is sent', async () => {
  const { server, origin, sessions } = await h2c(echo);
  const pool = new H2Pool({ origin });
  try {
    await expect(pool.request({ ':method': 'POST', ':path': '/', 'apns-topic': 'a\r\nb' }, '')).rejects.toMatchObject({ kind: 'stream-reset' });
    expect((await pool.request({ ':method': 'POST', ':path': '/' }, 'ok')).body).toBe('ok');
  } finally {
    await pool.close();
    await closeServer(server, sessions);
  }
});
