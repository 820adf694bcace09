import { isRequestLevel } from './behaviours';
import { legacyResultRefusal } from './google-limits';
import {
  contentTypeFor, dropConnection, extraHeaders, goneAway, GoogleIds, GoogleServerDeps, headerString, Headers, HTML_TYPE, isObject,
  JSON_TYPE, later, MAX_TTL, Req, Res, send, TEXT_TYPE, TOKEN_RE,
} from './google-http';
import { googleHtmlError } from './reasons';
import type { RecordedRequest } from './recorder';

const MAX_GCM_IDS = 1000;

function isReservedLegacyKey(k: string): boolean {
  return k === 'from' || k === 'gcm' || k.startsWith('google');
}

/** Legacy HTTP (`/fcm/send`, `/gcm/send`): one result per registration id, in request order. */
export function legacy(deps: GoogleServerDeps, idGen: GoogleIds, req: Req, res: Res, headers: Headers, body: string, time: number): void {
  const { credentials, recorder, behaviours } = deps;
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
    const id = error === undefined ? idGen.nextMulticastId() : undefined;
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
      const id = dryRun ? 'fake_message_id' : idGen.nextMessageId();
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
  const out = `{"multicast_id":${idGen.nextMulticastId()},"success":${success},"failure":${failure},"canonical_ids":${canonical},"results":[${results.join(',')}]}`;
  later(latency, () => {
    rec(tokens, 200, reasons, messageIds);
    send(req, res, 200, JSON_TYPE, out, extra);
  });
}
