import crypto from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Logger } from 'pino';
import { goaway, markAnswered, trackStream, unanswerable } from './goaway';
import { Behaviour, Behaviours, isRequestLevel } from './behaviours';
import type { Credentials } from './credentials';
import { GoogleLimitDeps, grantRefusal, legacyResultRefusal, noteAuthError, v1Refusal } from './google-limits';
import {
  FCM_ERROR_CODES, FCM_STATUS_CODE, badRequestDetail, fcmErrorDetail, googleHtmlError, googleRpcError, rpcStatusFor, statusText,
} from './reasons';
import type { Recorder, RecordedRequest } from './recorder';

export interface GoogleServerDeps extends GoogleLimitDeps {
  credentials: Credentials;
  recorder: Recorder;
  behaviours: Behaviours;
  logger: Logger;
}

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Headers = Record<string, string | string[] | undefined>;
/** The part of the HTTP/1.1 and HTTP/2 compatibility response APIs used here. */
interface Res {
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  end(body?: string): unknown;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
}

const MAX_BODY = 16 * 1024 * 1024;
const MAX_GCM_IDS = 1000;
const MAX_TTL = 2_419_200;
const TOKEN_RE = /^\S{1,4096}$/;
const V1_PATH_RE = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const JSON_TYPE = 'application/json; charset=UTF-8';
const TEXT_TYPE = 'text/plain; charset=UTF-8';
const HTML_TYPE = 'text/html; charset=UTF-8';

function noop(): void {}

function headerString(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isReservedLegacyKey(k: string): boolean {
  return k === 'from' || k === 'gcm' || k.startsWith('google');
}

function isReservedV1Key(k: string): boolean {
  return k === 'from' || k === 'message_type' || k.startsWith('google') || k.startsWith('gcm');
}

function contentTypeFor(rule: Behaviour, body: string, status: number): string {
  return rule.contentType ?? (body.startsWith('<') ? HTML_TYPE : status === 200 ? JSON_TYPE : TEXT_TYPE);
}

function extraHeaders(rule: Behaviour | undefined): Record<string, string> | undefined {
  if (rule === undefined || (rule.retryAfter === undefined && rule.headers === undefined)) return undefined;
  const h: Record<string, string> = { ...rule.headers };
  if (rule.retryAfter !== undefined) h['retry-after'] = String(rule.retryAfter);
  return h;
}

/** Set when the request's HTTP/2 connection was sent GOAWAY: it gets no answer (see `unanswerable`). */
function goneAway(req: Req): { reason?: string } | undefined {
  return (req as http2.Http2ServerRequest).httpVersionMajor === 2 ? unanswerable((req as http2.Http2ServerRequest).stream) : undefined;
}

/** GOAWAY (HTTP/2) or a destroyed socket (HTTP/1.1); `reset` resets just the stream on HTTP/2. */
function dropConnection(req: Req, rule: Behaviour): void {
  const stream = (req as http2.Http2ServerRequest).stream as http2.ServerHttp2Stream | undefined;
  if (stream !== undefined && stream.session !== undefined && (req as http2.Http2ServerRequest).httpVersionMajor === 2) {
    if (rule.reset !== undefined) {
      if (!stream.destroyed) stream.close(rule.reset);
    } else {
      const g = typeof rule.goaway === 'object' ? rule.goaway : {};
      goaway(stream.session, g.code ?? http2.constants.NGHTTP2_NO_ERROR, g.reason ?? rule.reason ?? 'Shutdown');
    }
  } else {
    req.socket.destroy();
  }
}

/**
 * Google's side: the legacy HTTP API (`/fcm/send`, also `/gcm/send`), FCM HTTP v1
 * (`/v1/projects/<id>/messages:send`) and the OAuth2 token endpoint (`/token`), all on one port that
 * speaks plain HTTP/1.1, HTTPS/1.1 and HTTP/2 over TLS (the first byte of a connection tells which).
 */
export function createGoogleServer(deps: GoogleServerDeps, tls: { key: string; cert: string }): {
  server: net.Server;
  closeConnections(): void;
} {
  const { credentials, recorder, behaviours, logger } = deps;
  let multicastId = 6_000_000_000_000_000_000n + BigInt(crypto.randomBytes(5).readUIntBE(0, 5));
  let messageSeq = 0;
  const idTag = crypto.randomBytes(4).toString('hex');
  const nextMessageId = (): string => `0:${Date.now()}%${idTag}${(++messageSeq).toString(16).padStart(8, '0')}`;

  function send(req: Req, res: Res, status: number, contentType: string | undefined, body: string, extra?: Record<string, string>): void {
    if (res.headersSent || res.writableEnded || goneAway(req) !== undefined) return;
    const h: Record<string, string | number> = contentType !== undefined ? { 'content-type': contentType } : {};
    if (extra) Object.assign(h, extra);
    res.writeHead(status, h);
    res.end(body);
    if ((req as http2.Http2ServerRequest).httpVersionMajor === 2) markAnswered((req as http2.Http2ServerRequest).stream);
  }

  function later(ms: number | undefined, fn: () => void): void {
    if (ms) setTimeout(fn, ms).unref();
    else fn();
  }

  // --- legacy HTTP ---------------------------------------------------------------------------------

  function legacy(req: Req, res: Res, headers: Headers, body: string, time: number): void {
    const rec = (tokens: string[], status: number, reasons?: (string | undefined)[], ids?: (string | undefined)[]): void => {
      if (tokens.length === 0) tokens = [''];
      const gone = status === 0 ? undefined : goneAway(req);
      for (let i = 0; i < tokens.length; i++) {
        const e: RecordedRequest = { system: 'gcm', endpoint: 'legacy', token: tokens[i], headers, body, time, status: gone === undefined ? status : 0 };
        const reason = gone === undefined ? reasons?.[i] : gone.reason;
        if (reason !== undefined) e.reason = reason;
        const id = gone === undefined ? ids?.[i] : undefined;
        if (id !== undefined) e.id = id;
        recorder.record(e);
      }
    };
    const text400 = (tokens: string[], message: string): void => {
      rec(tokens, 400);
      send(req, res, 400, TEXT_TYPE, message);
    };

    let msg: unknown;
    try {
      msg = JSON.parse(body);
    } catch {
      rec([], 400);
      send(req, res, 400, TEXT_TYPE, `JSON_PARSING_ERROR: Unexpected character (${JSON.stringify(body.slice(0, 1))}) at position 0.\n`);
      return;
    }
    const m = isObject(msg) ? msg : {};
    const ids = m.registration_ids;
    const to = m.to;
    const condition = m.condition;
    let tokens: string[] = [];
    if (Array.isArray(ids)) tokens = ids.map((t) => (typeof t === 'string' ? t : String(t)));
    else if (typeof to === 'string') tokens = [to];
    else if (typeof condition === 'string') tokens = [condition];

    if (!credentials.checkGcmAuthorization(headerString(headers, 'authorization'))) {
      rec(tokens, 401);
      send(req, res, 401, HTML_TYPE, googleHtmlError(401));
      return;
    }
    if (!isObject(msg)) return text400(tokens, 'JSON_PARSING_ERROR: Expected a JSON object.\n');
    if (ids !== undefined && to !== undefined) return text400(tokens, 'Must use either "registration_ids" field or "to", not both\n');
    if (ids !== undefined) {
      if (!Array.isArray(ids) || ids.some((t) => typeof t !== 'string')) return text400(tokens, 'Field "registration_ids" must be a JSON array of strings\n');
      if (ids.length === 0) return text400(tokens, '"registration_ids" field cannot be empty\n');
      if (ids.length > MAX_GCM_IDS) return text400(tokens, `Number of messages on bulk (${ids.length}) exceeds maximum allowed (${MAX_GCM_IDS})\n`);
    } else if (to === undefined && condition === undefined) {
      return text400(tokens, 'Missing "registration_ids" field\n');
    } else if (to !== undefined && typeof to !== 'string') {
      return text400(tokens, 'Field "to" must be a JSON string\n');
    }
    const ttl = m.time_to_live;
    if (ttl !== undefined) {
      if (typeof ttl !== 'number' || !Number.isInteger(ttl)) return text400(tokens, `Field "time_to_live" must be a JSON number: ${JSON.stringify(ttl)}\n`);
      if (ttl < 0 || ttl > MAX_TTL) return text400(tokens, `Invalid value (${ttl}) for "time_to_live": must be between 0 and ${MAX_TTL}\n`);
    }
    const data = m.data;
    if (data !== undefined) {
      if (!isObject(data)) return text400(tokens, `Field "data" must be a JSON array: ${JSON.stringify(data)}\n`);
      for (const k of Object.keys(data)) if (isReservedLegacyKey(k)) return text400(tokens, `"data" key "${k}" is a reserved keyword\n`);
    }

    // Whole-request behaviours (HTTP status, raw body, black hole, dropped connection, delay).
    const reqRule = behaviours.size === 0 ? undefined : behaviours.match('gcm', 'legacy', tokens, isRequestLevel);
    const extra = extraHeaders(reqRule);
    if (reqRule !== undefined) {
      const r = reqRule;
      const status = r.status ?? 200;
      if (r.blackHole) return rec(tokens, 0, tokens.map(() => r.reason));
      if ((r.goaway !== undefined && r.goaway !== false) || r.reset !== undefined) {
        rec(tokens, 0, tokens.map(() => r.reason));
        return later(r.latencyMs, () => dropConnection(req, r));
      }
      if (status !== 200 || r.body !== undefined) {
        const out = r.body ?? (r.reason !== undefined ? `${r.reason}\n` : googleHtmlError(status));
        return later(r.latencyMs, () => {
          rec(tokens, status, status === 200 ? undefined : tokens.map(() => r.reason));
          send(req, res, status, contentTypeFor(r, out, status), out, extra);
        });
      }
    }

    const dryRun = m.dry_run === true;
    const size = Buffer.byteLength(JSON.stringify(data ?? {})) + (m.notification !== undefined ? Buffer.byteLength(JSON.stringify(m.notification)) : 0);
    const topicMessage = ids === undefined && (condition !== undefined || (typeof to === 'string' && to.startsWith('/topics/')));
    const tooBig = size > (topicMessage ? 2048 : 4096);
    let latency = reqRule?.latencyMs ?? 0;

    if (topicMessage) {
      const rule = behaviours.size === 0 ? undefined : behaviours.match('gcm', 'legacy', tokens[0], (x) => !isRequestLevel(x));
      latency = Math.max(latency, rule?.latencyMs ?? 0);
      const error = tooBig ? 'MessageTooBig' : rule?.reason;
      // Topic / condition messages answer {"message_id": <int64>} (raw digits, beyond 2^53) or {"error"}.
      const id = error === undefined ? (multicastId++).toString() : undefined;
      const out = error !== undefined ? JSON.stringify({ error }) : `{"message_id":${id}}`;
      return later(latency, () => {
        rec(tokens, 200, [error], [id]);
        send(req, res, 200, JSON_TYPE, out, extra);
      });
    }

    const keyProject = credentials.gcmKeyProject(headerString(headers, 'authorization'));
    const results: string[] = [];
    const reasons: (string | undefined)[] = [];
    const messageIds: (string | undefined)[] = [];
    let success = 0;
    let failure = 0;
    let canonical = 0;
    for (const token of tokens) {
      let error: string | undefined;
      let canonicalId: string | undefined;
      if (token === '') error = 'MissingRegistration';
      else if (!TOKEN_RE.test(token)) error = 'InvalidRegistration';
      else if (tooBig) error = 'MessageTooBig';
      else error = legacyResultRefusal(deps, keyProject, token);
      if (error === undefined && behaviours.size !== 0) {
        const rule = behaviours.match('gcm', 'legacy', token, (x) => !isRequestLevel(x));
        if (rule !== undefined) {
          error = rule.reason;
          canonicalId = rule.canonicalId;
          if (rule.latencyMs) latency = Math.max(latency, rule.latencyMs);
        }
      }
      if (error !== undefined) {
        failure++;
        results.push(`{"error":${JSON.stringify(error)}}`);
        messageIds.push(undefined);
      } else {
        success++;
        const id = dryRun ? 'fake_message_id' : nextMessageId();
        messageIds.push(id);
        if (canonicalId !== undefined) {
          canonical++;
          results.push(`{"message_id":${JSON.stringify(id)},"registration_id":${JSON.stringify(canonicalId)}}`);
        } else {
          results.push(`{"message_id":${JSON.stringify(id)}}`);
        }
      }
      reasons.push(error);
    }
    // multicast_id is an int64 beyond 2^53: written as raw JSON text so clients see the real digits.
    const out = `{"multicast_id":${(multicastId++).toString()},"success":${success},"failure":${failure},"canonical_ids":${canonical},"results":[${results.join(',')}]}`;
    later(latency, () => {
      rec(tokens, 200, reasons, messageIds);
      send(req, res, 200, JSON_TYPE, out, extra);
    });
  }

  // --- FCM HTTP v1 ----------------------------------------------------------------------------------

  function v1(req: Req, res: Res, headers: Headers, body: string, time: number, projectId: string): void {
    let token = '';
    const rec = (status: number, reason?: string, id?: string): void => {
      const gone = status === 0 ? undefined : goneAway(req);
      if (gone !== undefined) [status, reason, id] = [0, gone.reason, undefined];
      const e: RecordedRequest = { system: 'fcm', endpoint: 'v1', token, headers, body, time, status };
      if (reason !== undefined) e.reason = reason;
      if (id !== undefined) e.id = id;
      recorder.record(e);
    };
    const rpc = (status: number, rpcStatus: string, message: string, details: object[], reason: string, extra?: Record<string, string>): void => {
      rec(status, reason);
      send(req, res, status, JSON_TYPE, googleRpcError(status, rpcStatus, message, details), extra);
    };
    const invalid = (message: string, details: object[] = []): void => rpc(400, 'INVALID_ARGUMENT', message, details, 'INVALID_ARGUMENT');

    let parsed: unknown;
    let parseError = false;
    try {
      parsed = JSON.parse(body);
    } catch {
      parseError = true;
    }
    const message = isObject(parsed) && isObject(parsed.message) ? parsed.message : undefined;
    if (message && typeof message.token === 'string') token = message.token;
    else if (message && typeof message.topic === 'string') token = message.topic;
    else if (message && typeof message.condition === 'string') token = message.condition;

    const authError = credentials.checkAccessToken(headerString(headers, 'authorization'), projectId);
    if (authError) {
      noteAuthError(deps, authError);
      const shape = FCM_ERROR_CODES[authError.code];
      return rpc(shape.status, shape.rpcStatus, authError.message ?? shape.message, [], authError.code);
    }
    if (parseError || !isObject(parsed)) return invalid('Invalid JSON payload received. Unexpected token.');
    for (const k of Object.keys(parsed)) {
      if (k !== 'message' && k !== 'validate_only' && k !== 'validateOnly') {
        return invalid(`Invalid JSON payload received. Unknown name "${k}": Cannot find field.`, [badRequestDetail('', `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`)]);
      }
    }
    if (message === undefined) return invalid('Request contains an invalid argument.', [badRequestDetail('message', 'Message is required.')]);
    const targets = ['token', 'topic', 'condition'].filter((k) => message[k] !== undefined);
    if (targets.length !== 1) return invalid('Request contains an invalid argument.', [badRequestDetail('message', 'Exactly one of token, topic or condition must be set.')]);
    if (message.token !== undefined && (typeof message.token !== 'string' || !TOKEN_RE.test(message.token))) {
      return invalid('The registration token is not a valid FCM registration token', [fcmErrorDetail('INVALID_ARGUMENT'), badRequestDetail('message.token', 'Invalid registration token')]);
    }
    const data = message.data;
    if (data !== undefined) {
      if (!isObject(data)) return invalid(`Invalid value at 'message.data' (type.googleapis.com/google.firebase.fcm.v1.Message.DataEntry), ${JSON.stringify(data)}`);
      let i = 0;
      for (const [k, v] of Object.entries(data)) {
        if (typeof v !== 'string') {
          const d = `Invalid value at 'message.data[${i}].value' (TYPE_STRING), ${JSON.stringify(v)}`;
          return invalid(d, [badRequestDetail(`message.data[${i}].value`, d)]);
        }
        if (isReservedV1Key(k)) return invalid(`Invalid data payload key: ${k}`, [fcmErrorDetail('INVALID_ARGUMENT'), badRequestDetail('message.data', `Invalid data payload key: ${k}`)]);
        i++;
      }
    }
    const android = message.android;
    if (android !== undefined) {
      if (!isObject(android)) return invalid(`Invalid value at 'message.android' (type.googleapis.com/google.firebase.fcm.v1.AndroidConfig), ${JSON.stringify(android)}`);
      const p = android.priority;
      if (p !== undefined && p !== 'HIGH' && p !== 'NORMAL') {
        const d = `Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), ${JSON.stringify(p)}`;
        return invalid(d, [badRequestDetail('message.android.priority', d)]);
      }
      const ttl = android.ttl;
      if (ttl !== undefined) {
        const m = typeof ttl === 'string' ? /^(\d+)(\.\d{1,9})?s$/.exec(ttl) : null;
        if (!m) {
          const d = `Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(ttl)}`;
          return invalid(d, [badRequestDetail('message.android.ttl', d)]);
        }
        if (Number(m[1]) > MAX_TTL) return invalid('TTL must be at most 28 days.', [fcmErrorDetail('INVALID_ARGUMENT'), badRequestDetail('message.android.ttl', 'TTL must be at most 28 days.')]);
      }
    }
    const size = Buffer.byteLength(JSON.stringify(data ?? {})) + (message.notification !== undefined ? Buffer.byteLength(JSON.stringify(message.notification)) : 0);
    if (size > 4096) return invalid('Android message is too big', [fcmErrorDetail('INVALID_ARGUMENT')]);

    const validateOnly = isObject(parsed) && (parsed.validate_only === true || parsed.validateOnly === true);
    const success = (extra?: Record<string, string>): void => {
      const name = `projects/${projectId}/messages/${validateOnly ? 'fake_message_id' : nextMessageId()}`;
      rec(200, undefined, name);
      send(req, res, 200, JSON_TYPE, JSON.stringify({ name }), extra);
    };
    const refused = v1Refusal(deps, projectId, typeof message.token === 'string' ? message.token : undefined);
    if (refused !== undefined) {
      const shape = FCM_ERROR_CODES[refused.code];
      return rpc(shape.status, shape.rpcStatus, refused.message ?? shape.message, [fcmErrorDetail(refused.code)], refused.code, refused.headers);
    }
    const rule = behaviours.size === 0 ? undefined : behaviours.match('fcm', 'v1', token);
    if (rule === undefined) return success();
    const r = rule;
    later(r.latencyMs, () => {
      if (r.blackHole) return rec(0, r.reason);
      if ((r.goaway !== undefined && r.goaway !== false) || r.reset !== undefined) {
        rec(0, r.reason);
        return dropConnection(req, r);
      }
      const extra = extraHeaders(r);
      if (r.body !== undefined) {
        const status = r.status ?? 200;
        rec(status, status === 200 ? undefined : r.reason);
        return send(req, res, status, contentTypeFor(r, r.body, status), r.body, extra);
      }
      if ((r.status === undefined || r.status === 200) && r.reason === undefined) return success(extra);
      const code = r.reason ?? FCM_STATUS_CODE[r.status ?? 500] ?? 'INTERNAL';
      const shape = FCM_ERROR_CODES[code];
      const status = r.status ?? shape?.status ?? 500;
      rpc(status, shape?.rpcStatus ?? rpcStatusFor(status), shape?.message ?? statusText(status), shape === undefined || shape.detail ? [fcmErrorDetail(code)] : [], code, extra);
    });
  }

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
        if (post && (path === '/fcm/send' || path === '/gcm/send')) return legacy(req, res, headers, body, time);
        const v1m = V1_PATH_RE.exec(path);
        if (post && v1m) return v1(req, res, headers, body, time, decodeURIComponent(v1m[1]));
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
