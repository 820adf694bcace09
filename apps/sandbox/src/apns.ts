import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { ApnsLimitDeps, chooseInitialStreams, environmentRefusal, initialStreams, onApnsSession, onApnsStream, providerTokenRefusal, raiseStreamLimit } from './apns-limits';
import type { Behaviour, Behaviours } from './behaviours';
import type { Credentials } from './credentials';
import { goaway, markAnswered, trackStream, unanswerable } from './goaway';
import { ClientCertificateInfo, clientCertificateInfo } from './pki';
import { APNS_REASON_STATUS, APNS_STATUS_REASON } from './reasons';
import type { Recorder, RecordedRequest } from './recorder';

export type ApnsEndpoint = 'production' | 'development';

export interface ApnsServerDeps extends ApnsLimitDeps {
  credentials: Credentials;
  recorder: Recorder;
  behaviours: Behaviours;
  logger: Logger;
}

/** Topic suffix Apple requires per push type (undefined: the bare bundle id). */
const TOPIC_SUFFIX: Readonly<Record<string, string | undefined>> = {
  alert: undefined,
  background: undefined,
  voip: '.voip',
  complication: '.complication',
  fileprovider: '.pushkit.fileprovider',
  location: '.location-query',
  liveactivity: '.push-type.liveactivity',
  pushtotalk: '.voip-ptt',
  widgets: '.push-type.widgets',
  controls: '.push-type.controls',
  mdm: undefined,
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_RE = /^[0-9a-fA-F]+$/;
const DIGITS_RE = /^[0-9]+$/;
const PATH_PREFIX = '/3/device/';
const MAX_STORED_BODY = 64 * 1024;
const CONNECTION_WINDOW = 4 * 1024 * 1024;

/** Per-connection state kept on the session object. */
interface SessionState {
  cert: ClientCertificateInfo | undefined;
  /** A client certificate was presented but not signed by the sandbox CA (or unreadable). */
  certRejected: boolean;
  /** kid of the first provider token on this connection (UnrelatedKeyIdInToken). */
  keyId: string | undefined;
}
const kState = Symbol('pushfleet.apns.session');
type Session = http2.ServerHttp2Session & { [kState]?: SessionState };

function noop(): void {}

function sessionState(session: Session): SessionState {
  let s = session[kState];
  if (s === undefined) {
    s = { cert: undefined, certRejected: false, keyId: undefined };
    const sock = session.socket as TLSSocket;
    const peer = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
    if (peer && peer.raw) {
      const info = sock.authorized ? clientCertificateInfo(peer.raw) : undefined;
      if (info) s.cert = info;
      else s.certRejected = true;
    }
    session[kState] = s;
  }
  return s;
}

function header(headers: http2.IncomingHttpHeaders, name: string): string | undefined | null {
  const v = headers[name];
  if (v === undefined || typeof v === 'string') return v;
  return null; // repeated header
}

/**
 * An APNs-compatible HTTP/2 server for one environment. Requests are validated the way Apple does and
 * answered like Apple does; scripted behaviours then decide what a valid request gets.
 */
export function createApnsServer(deps: ApnsServerDeps, endpoint: ApnsEndpoint, tls: { key: string; cert: string; ca: string }): http2.Http2SecureServer {
  const { credentials, recorder, behaviours, logger } = deps;
  const development = endpoint === 'development';
  /** Streams whose request carried a valid provider token: answering one raises the connection's stream limit. */
  const validToken = new WeakSet<http2.ServerHttp2Stream>();
  const answered = (stream: http2.ServerHttp2Stream): void => {
    markAnswered(stream);
    if (validToken.has(stream)) raiseStreamLimit(stream.session, deps);
  };

  const server = http2.createSecureServer({
    key: tls.key,
    cert: tls.cert,
    ca: [tls.ca],
    requestCert: true, // certificate-based provider auth
    rejectUnauthorized: false, // token-auth clients present no certificate; a bad one gets 403 BadCertificate
    ALPNProtocols: ['h2'],
    maxSessionMemory: 256,
    peerMaxConcurrentStreams: 1000,
    settings: { maxConcurrentStreams: initialStreams(deps.hard), initialWindowSize: 1024 * 1024, enablePush: false },
  });

  chooseInitialStreams(server, deps.hard);
  server.on('session', (session: Session) => {
    session.on('error', noop);
    session.on('frameError', noop);
    onApnsSession(session, deps, endpoint);
    try {
      session.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // the session may already be gone
    }
  });
  server.on('sessionError', noop);
  server.on('tlsClientError', (err) => logger.debug({ err: err.message, endpoint }, 'apns tls client error'));

  function record(headers: http2.IncomingHttpHeaders, token: string, body: string, time: number, status: number, reason?: string, id?: string): void {
    const e: RecordedRequest = { system: 'apns', endpoint, token, headers, body, time, status };
    if (reason !== undefined) e.reason = reason;
    if (id !== undefined) e.id = id;
    recorder.record(e);
  }

  function reject(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, token: string, body: string, time: number,
    status: number, reason: string, apnsId: string | undefined, extra?: Record<string, string>, rawBody?: string, timestamp?: number): void {
    const gone = unanswerable(stream);
    if (gone !== undefined) return record(headers, token, body, time, 0, gone.reason);
    record(headers, token, body, time, status, reason);
    if (stream.destroyed || stream.closed) return;
    const h: http2.OutgoingHttpHeaders = { ':status': status, 'apns-id': apnsId ?? randomUUID() };
    let out: string;
    if (rawBody !== undefined) {
      out = rawBody;
    } else {
      h['content-type'] = 'application/json';
      out = status === 410 ? `{"reason":${JSON.stringify(reason)},"timestamp":${timestamp ?? Date.now()}}` : `{"reason":${JSON.stringify(reason)}}`;
    }
    if (extra) Object.assign(h, extra);
    stream.respond(h);
    stream.end(out);
    answered(stream);
  }

  function succeed(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, token: string, body: string, time: number,
    apnsId: string | undefined, extra?: Record<string, string>): void {
    const gone = unanswerable(stream);
    if (gone !== undefined) return record(headers, token, body, time, 0, gone.reason);
    const id = apnsId ?? randomUUID();
    record(headers, token, body, time, 200, undefined, id);
    if (stream.destroyed || stream.closed) return;
    const h: http2.OutgoingHttpHeaders = development ? { ':status': 200, 'apns-id': id, 'apns-unique-id': randomUUID() } : { ':status': 200, 'apns-id': id };
    if (extra) Object.assign(h, extra);
    stream.respond(h, { endStream: true });
    answered(stream);
  }

  function applyRule(rule: Behaviour, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, token: string, body: string, time: number, apnsId: string | undefined): void {
    if (rule.blackHole) {
      record(headers, token, body, time, 0, rule.reason);
      return; // the stream stays open until the client gives up or the session goes away
    }
    if (rule.goaway) {
      const g = typeof rule.goaway === 'object' ? rule.goaway : {};
      const reason = g.reason ?? rule.reason ?? 'Shutdown';
      record(headers, token, body, time, 0, reason);
      goaway(stream.session as Session, g.code ?? http2.constants.NGHTTP2_NO_ERROR, reason);
      return;
    }
    if (rule.reset !== undefined) {
      record(headers, token, body, time, 0, rule.reason);
      if (!stream.destroyed) stream.close(rule.reset);
      return;
    }
    const extra: Record<string, string> = { ...rule.headers };
    if (rule.retryAfter !== undefined) extra['retry-after'] = String(rule.retryAfter);
    const status = rule.status ?? (rule.reason !== undefined ? APNS_REASON_STATUS[rule.reason] ?? 400 : 200);
    if (status === 200 && rule.body === undefined) {
      succeed(stream, headers, token, body, time, apnsId, extra);
      return;
    }
    const reason = rule.reason ?? APNS_STATUS_REASON[status] ?? 'InternalServerError';
    if (rule.body !== undefined) extra['content-type'] = rule.contentType ?? (rule.body.startsWith('<') ? 'text/html' : 'text/plain');
    reject(stream, headers, token, body, time, status, reason, apnsId, extra, rule.body, rule.timestamp);
  }

  function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: string, length: number): void {
    const time = Date.now();
    const path = headers[':path'] ?? '';
    if (!path.startsWith(PATH_PREFIX)) return reject(stream, headers, '', body, time, 404, 'BadPath', undefined);
    const token = path.slice(PATH_PREFIX.length);
    if (headers[':method'] !== 'POST') return reject(stream, headers, token, body, time, 405, 'MethodNotAllowed', undefined);

    const rawId = header(headers, 'apns-id');
    const apnsId = typeof rawId === 'string' && UUID_RE.test(rawId) ? rawId : undefined;

    // Provider authentication: token (JWT) or the connection's client certificate.
    const state = sessionState(stream.session as Session);
    const authorization = header(headers, 'authorization');
    let keyTopics: string[] | undefined;
    let cert: ClientCertificateInfo | undefined;
    if (authorization === null) return reject(stream, headers, token, body, time, 400, 'DuplicateHeaders', apnsId);
    if (authorization !== undefined) {
      const auth = credentials.verifyApnsAuthorization(authorization);
      const refused = providerTokenRefusal(auth, deps, endpoint);
      if (refused !== undefined || typeof auth === 'string') return reject(stream, headers, token, body, time, APNS_REASON_STATUS[refused ?? ''] ?? 403, refused ?? 'InvalidProviderToken', apnsId);
      if (state.keyId === undefined) state.keyId = auth.keyId;
      else if (state.keyId !== auth.keyId) return reject(stream, headers, token, body, time, 403, 'UnrelatedKeyIdInToken', apnsId);
      keyTopics = auth.topics;
      validToken.add(stream);
    } else if (state.cert !== undefined) {
      cert = state.cert;
      if (development ? !cert.development : !cert.production) return reject(stream, headers, token, body, time, 403, 'BadCertificateEnvironment', apnsId);
    } else if (state.certRejected) {
      return reject(stream, headers, token, body, time, 403, 'BadCertificate', apnsId);
    } else {
      return reject(stream, headers, token, body, time, 403, 'MissingProviderToken', apnsId);
    }

    // Headers.
    let topic = header(headers, 'apns-topic');
    const pushType = header(headers, 'apns-push-type');
    const priority = header(headers, 'apns-priority');
    const expiration = header(headers, 'apns-expiration');
    const collapseId = header(headers, 'apns-collapse-id');
    if (topic === null || pushType === null || priority === null || expiration === null || collapseId === null || rawId === null) {
      return reject(stream, headers, token, body, time, 400, 'DuplicateHeaders', apnsId);
    }
    if (topic === undefined || topic === '') {
      if (cert === undefined) return reject(stream, headers, token, body, time, 400, 'MissingTopic', apnsId);
      topic = cert.topic;
    }
    if (pushType !== undefined && !(pushType in TOPIC_SUFFIX)) return reject(stream, headers, token, body, time, 400, 'InvalidPushType', apnsId);
    const suffix = pushType !== undefined ? TOPIC_SUFFIX[pushType] : undefined;
    if (suffix !== undefined && !topic.endsWith(suffix)) return reject(stream, headers, token, body, time, 400, 'BadTopic', apnsId);
    const bundle = suffix !== undefined ? topic.slice(0, topic.length - suffix.length) : topic;
    if (cert !== undefined && bundle !== cert.topic && topic !== cert.topic) return reject(stream, headers, token, body, time, 400, 'TopicDisallowed', apnsId);
    if (keyTopics !== undefined && !keyTopics.includes(bundle) && !keyTopics.includes(topic)) return reject(stream, headers, token, body, time, 400, 'TopicDisallowed', apnsId);
    if (priority !== undefined && priority !== '10' && priority !== '5' && priority !== '1') return reject(stream, headers, token, body, time, 400, 'BadPriority', apnsId);
    if (pushType === 'background' && priority !== '5') return reject(stream, headers, token, body, time, 400, 'BadPriority', apnsId);
    if (expiration !== undefined && !DIGITS_RE.test(expiration)) return reject(stream, headers, token, body, time, 400, 'BadExpirationDate', apnsId);
    if (collapseId !== undefined && Buffer.byteLength(collapseId) > 64) return reject(stream, headers, token, body, time, 400, 'BadCollapseId', apnsId);
    if (rawId !== undefined && apnsId === undefined) return reject(stream, headers, token, body, time, 400, 'BadMessageId', undefined);

    // Device token and payload.
    if (token.length === 0) return reject(stream, headers, token, body, time, 400, 'MissingDeviceToken', apnsId);
    if (!HEX_RE.test(token) || environmentRefusal(token, deps, endpoint) !== undefined) return reject(stream, headers, token, body, time, 400, 'BadDeviceToken', apnsId);
    if (length === 0) return reject(stream, headers, token, body, time, 400, 'PayloadEmpty', apnsId);
    if (length > (pushType === 'voip' ? 5120 : 4096)) return reject(stream, headers, token, body, time, 413, 'PayloadTooLarge', apnsId);

    const rule = behaviours.size === 0 ? undefined : behaviours.match('apns', endpoint, token);
    if (rule === undefined) return succeed(stream, headers, token, body, time, apnsId);
    if (rule.latencyMs) {
      setTimeout(applyRule, rule.latencyMs, rule, stream, headers, token, body, time, apnsId).unref();
    } else {
      applyRule(rule, stream, headers, token, body, time, apnsId);
    }
  }

  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    trackStream(stream);
    onApnsStream(stream, deps, endpoint);
    stream.on('error', noop);
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let length = 0;
    stream.on('data', (chunk: Buffer) => {
      if (length < MAX_STORED_BODY) {
        if (first === undefined) first = chunk;
        else (more ??= [first]).push(chunk);
      }
      length += chunk.length;
    });
    stream.on('end', () => {
      const body = first === undefined ? '' : (more === undefined ? first : Buffer.concat(more)).toString('utf8');
      handle(stream, headers, body, length);
    });
  });

  return server;
}
