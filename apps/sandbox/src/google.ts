import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { trackStream } from './goaway';
import { GoogleIds, GoogleServerDeps, Headers, HTML_TYPE, JSON_TYPE, noop, Req, Res, send } from './google-http';
import { legacy } from './google-legacy';
import { grantRefusal } from './google-limits';
import { v1 } from './google-v1';
import { googleHtmlError } from './reasons';

export type { GoogleServerDeps } from './google-http';

const MAX_BODY = 16 * 1024 * 1024;
const V1_PATH_RE = /^\/v1\/projects\/([^/]+)\/messages:send$/;

/**
 * Google's side: the legacy HTTP API (`/fcm/send`, also `/gcm/send`), FCM HTTP v1
 * (`/v1/projects/<id>/messages:send`) and the OAuth2 token endpoint (`/token`), all on one port that
 * speaks plain HTTP/1.1, HTTPS/1.1 and HTTP/2 over TLS (the first byte of a connection tells which).
 */
export function createGoogleServer(deps: GoogleServerDeps, tls: { key: string; cert: string }): {
  server: net.Server;
  closeConnections(): void;
} {
  const { credentials, recorder, logger } = deps;
  const ids = new GoogleIds();

  // --- OAuth2 token endpoint -----------------------------------------------------------------------

  function token(req: Req, res: Res, body: string): void {
    const limited = grantRefusal(deps, body);
    if (limited !== undefined) return send(req, res, limited.status, JSON_TYPE, limited.body, { ...limited.headers, 'cache-control': 'no-store' });
    const answer = credentials.grantAccessToken(body);
    if (answer.status === 200 && answer.clientEmail !== undefined) recorder.recordGrant(answer.clientEmail);
    send(req, res, answer.status, JSON_TYPE, answer.body, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate' });
  }

  // --- routing -------------------------------------------------------------------------------------

  function handler(req: Req, response: http.ServerResponse | http2.Http2ServerResponse): void {
    const res = response as unknown as Res;
    req.on('error', noop);
    const time = Date.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (c: Buffer) => {
      length += c.length;
      if (length <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (length > MAX_BODY) return send(req, res, 413, HTML_TYPE, googleHtmlError(413));
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = req.headers as Headers;
      const post = req.method === 'POST';
      try {
        if (post && (path === '/fcm/send' || path === '/gcm/send')) return legacy(deps, ids, req, res, headers, body, time);
        const v1m = V1_PATH_RE.exec(path);
        if (post && v1m) return v1(deps, ids, req, res, headers, body, time, decodeURIComponent(v1m[1]));
        if (post && path === '/token') return token(req, res, body);
        send(req, res, v1m || path === '/token' || path.endsWith('/send') ? 405 : 404, HTML_TYPE, googleHtmlError(v1m || path === '/token' || path.endsWith('/send') ? 405 : 404));
      } catch (err) {
        logger.error({ err }, 'sandbox google handler failed');
        send(req, res, 500, HTML_TYPE, googleHtmlError(500));
      }
    });
  }

  const tlsServer = http2.createSecureServer({
    key: tls.key,
    cert: tls.cert,
    allowHTTP1: true,
    maxSessionMemory: 256,
    peerMaxConcurrentStreams: 1000,
    settings: { maxConcurrentStreams: 1000, initialWindowSize: 1024 * 1024, enablePush: false },
  }, handler);
  tlsServer.on('session', (session: http2.ServerHttp2Session) => {
    session.on('error', noop);
    try {
      session.setLocalWindowSize(4 * 1024 * 1024);
    } catch {
      // gone already
    }
  });
  tlsServer.on('stream', trackStream);
  tlsServer.on('sessionError', noop);
  tlsServer.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'google tls client error'));
  const plainServer = http.createServer({ keepAliveTimeout: 60_000 }, handler);
  plainServer.on('clientError', (_err, socket) => socket.destroy());

  const sockets = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', noop);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? tlsServer : plainServer).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });

  return {
    server: front,
    closeConnections(): void {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
