import { noteAuthError, v1Refusal } from './google-limits';
import {
  contentTypeFor, dropConnection, extraHeaders, goneAway, GoogleIds, GoogleServerDeps, headerString, Headers, isObject, JSON_TYPE,
  later, MAX_TTL, Req, Res, send, TOKEN_RE,
} from './google-http';
import { badRequestDetail, FCM_ERROR_CODES, FCM_STATUS_CODE, fcmErrorDetail, googleRpcError, rpcStatusFor, statusText } from './reasons';
import type { RecordedRequest } from './recorder';

function isReservedV1Key(k: string): boolean {
  return k === 'from' || k === 'message_type' || k.startsWith('google') || k.startsWith('gcm');
}

/** FCM HTTP v1 (`/v1/projects/<id>/messages:send`): one message, answered in the google.rpc shape on errors. */
export function v1(deps: GoogleServerDeps, ids: GoogleIds, req: Req, res: Res, headers: Headers, body: string, time: number, projectId: string): void {
  const { credentials, recorder, behaviours } = deps;
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
    const name = `projects/${projectId}/messages/${validateOnly ? 'fake_message_id' : ids.nextMessageId()}`;
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
