import { MAX_TTL_SECONDS } from '@pushfleet/events';
import type { OutcomeRule, TokenOutcome } from './outcome';

/** FCM asks for at least a minute before retrying a rate-limited device or project (QUOTA_EXCEEDED). */
export const GCM_RATE_LIMIT_FLOOR_MS = 60_000;

// ---------------------------------------------------------------------------------------------------------
// Legacy HTTP (POST /fcm/send). Source: https://firebase.google.com/docs/cloud-messaging/http-server-ref
// (shared/notes/provider-protocols.md section C).
// ---------------------------------------------------------------------------------------------------------

/**
 * One entry of a legacy 200 answer's `results` (in request order) -> action. `Success` is a result with a
 * `message_id` only; `CanonicalId` is one that also carries `registration_id` (the device now answers to
 * that id: swap it in the registry; the message was delivered).
 */
export const GCM_LEGACY_RESULT_OUTCOMES: Record<string, OutcomeRule> = {
  Success: { action: 'delivered' },
  CanonicalId: { action: 'replace' },
  // The registration id is dead or belongs to another sender.
  NotRegistered: { action: 'prune' },
  InvalidRegistration: { action: 'prune' },
  MismatchSenderId: { action: 'prune' },
  // Transient: this id again later (Retry-After honoured when present).
  Unavailable: { action: 'retry' },
  InternalServerError: { action: 'retry' },
  DeviceMessageRateExceeded: { action: 'retry', minRetryAfterMs: GCM_RATE_LIMIT_FLOOR_MS },
  TopicsMessageRateExceeded: { action: 'retry', minRetryAfterMs: GCM_RATE_LIMIT_FLOOR_MS },
  // Our request or configuration is wrong: keep the id, dead-letter the job, trip the circuit.
  MessageTooBig: { action: 'fail' },
  InvalidDataKey: { action: 'fail' },
  InvalidTtl: { action: 'fail' },
  MissingRegistration: { action: 'fail' },
  InvalidPackageName: { action: 'fail' },
  InvalidParameters: { action: 'fail' },
  InvalidApnsCredential: { action: 'fail' },
  // Google shut the legacy API down (2024): switch to GCM_TRANSPORT=fcm-v1.
  DeprecatedApi: { action: 'fail' },
};

/**
 * A legacy answer that is not a 200 with results: it decides for every id of the request. Keys are the
 * HTTP status, or our own name for a request that got no usable answer.
 */
export const GCM_LEGACY_HTTP_OUTCOMES: Record<string, OutcomeRule> = {
  // 400: plain-text complaint about the request (too many ids, bad TTL, reserved data key, bad JSON).
  '400': { action: 'fail' },
  // 401: the server key is wrong (HTML body).
  '401': { action: 'fail' },
  '403': { action: 'fail' },
  '404': { action: 'fail' },
  '429': { action: 'retry', minRetryAfterMs: GCM_RATE_LIMIT_FLOOR_MS },
  '500': { action: 'retry' },
  '502': { action: 'retry' },
  '503': { action: 'retry' },
  '504': { action: 'retry' },
  // A 200 whose body is empty or not the documented JSON: nothing says the ids were delivered.
  InvalidResponse: { action: 'retry' },
  // No HTTP answer at all.
  timeout: { action: 'retry' },
  connection: { action: 'retry' },
};

/**
 * The rule for one legacy result. An error we have never seen fails (keeps the id, a human looks) with
 * reason `UnknownError`, so metric labels stay a closed set.
 */
export function gcmLegacyResultRule(result: { error?: unknown; registration_id?: unknown }): { rule: OutcomeRule; reason: string } {
  if (result.error !== undefined) {
    const known = typeof result.error === 'string' && Object.hasOwn(GCM_LEGACY_RESULT_OUTCOMES, result.error) ? result.error : undefined;
    return known ? { rule: GCM_LEGACY_RESULT_OUTCOMES[known], reason: known } : { rule: { action: 'fail' }, reason: 'UnknownError' };
  }
  const reason = typeof result.registration_id === 'string' && result.registration_id ? 'CanonicalId' : 'Success';
  return { rule: GCM_LEGACY_RESULT_OUTCOMES[reason], reason };
}

/** The rule for a whole legacy request answered with `status` (0 = no answer: use `kind`). */
export function gcmLegacyHttpRule(status: number, kind: 'timeout' | 'connection' | 'InvalidResponse' = 'connection'): { rule: OutcomeRule; reason: string } {
  if (status === 0 || status === 200) return { rule: GCM_LEGACY_HTTP_OUTCOMES[status === 200 ? 'InvalidResponse' : kind], reason: status === 200 ? 'InvalidResponse' : kind };
  const reason = String(status);
  return { rule: GCM_LEGACY_HTTP_OUTCOMES[reason] ?? (status >= 500 ? { action: 'retry' } : { action: 'fail' }), reason };
}

// ---------------------------------------------------------------------------------------------------------
// FCM HTTP v1 (POST /v1/projects/<id>/messages:send). Source:
// https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode and the addendum of
// shared/notes/provider-protocols.md: decide on error.details[] FcmError.errorCode, else error.status.
// ---------------------------------------------------------------------------------------------------------

export const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
export const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';

/**
 * FCM v1 answer -> action. Keys are the FcmError `errorCode`, else the canonical google.rpc `status`, else
 * the HTTP status (a body that is not the google.rpc envelope, e.g. an HTML 502), else our name for a
 * request that got no answer (H2TransportError kinds). `INVALID_ARGUMENT message.token` is an
 * INVALID_ARGUMENT whose message or field violation concerns the token.
 */
export const FCM_V1_OUTCOMES: Record<string, OutcomeRule> = {
  '200': { action: 'delivered' },
  // FcmError codes.
  UNREGISTERED: { action: 'prune' },
  SENDER_ID_MISMATCH: { action: 'prune' },
  'INVALID_ARGUMENT message.token': { action: 'prune' },
  INVALID_ARGUMENT: { action: 'fail' },
  QUOTA_EXCEEDED: { action: 'retry', minRetryAfterMs: GCM_RATE_LIMIT_FLOOR_MS },
  UNAVAILABLE: { action: 'retry' },
  INTERNAL: { action: 'retry' },
  UNSPECIFIED_ERROR: { action: 'retry' },
  THIRD_PARTY_AUTH_ERROR: { action: 'fail' },
  // google.rpc statuses without an FcmError detail.
  UNAUTHENTICATED: { action: 'fail', refreshCredentials: true }, // our OAuth token: refresh once, resend, then fail
  PERMISSION_DENIED: { action: 'fail' }, // the service account may not send for this project
  NOT_FOUND: { action: 'fail' }, // without UNREGISTERED it is the project (path), not the token
  RESOURCE_EXHAUSTED: { action: 'retry', minRetryAfterMs: GCM_RATE_LIMIT_FLOOR_MS },
  UNKNOWN: { action: 'retry' },
  DEADLINE_EXCEEDED: { action: 'retry' },
  // HTTP statuses whose body is not the google.rpc envelope (front-end HTML pages).
  '400': { action: 'fail' },
  '401': { action: 'fail', refreshCredentials: true },
  '403': { action: 'fail' },
  '404': { action: 'fail' },
  '429': { action: 'retry', minRetryAfterMs: GCM_RATE_LIMIT_FLOOR_MS },
  '500': { action: 'retry' },
  '502': { action: 'retry' },
  '503': { action: 'retry' },
  '504': { action: 'retry' },
  // No HTTP answer (H2TransportError kinds): a fresh stream / connection next time.
  timeout: { action: 'retry' },
  goaway: { action: 'retry' },
  'stream-reset': { action: 'retry' },
  connection: { action: 'retry' },
};

/** The parts of a google.rpc error envelope the table looks at. */
export interface FcmErrorBody {
  error?: {
    code?: number;
    status?: string;
    message?: string;
    details?: Array<{ '@type'?: string; errorCode?: string; fieldViolations?: Array<{ field?: string; description?: string }> }>;
  };
}

/** Does this INVALID_ARGUMENT concern `message.token` (a malformed registration token, so prune it)? */
function concernsToken(body: FcmErrorBody): boolean {
  const err = body.error;
  if (!err) return false;
  for (const d of err.details ?? []) {
    for (const v of d.fieldViolations ?? []) if (v.field === 'message.token') return true;
  }
  return typeof err.message === 'string' && /message\.token|registration token/i.test(err.message);
}

/**
 * The rule for one v1 answer: `body` is the parsed JSON (undefined when it was not JSON). `reason` is the
 * key that decided (errorCode, rpc status or HTTP status).
 */
export function fcmV1Rule(status: number, body: FcmErrorBody | undefined): { rule: OutcomeRule; reason: string } {
  if (status === 200) return { rule: FCM_V1_OUTCOMES['200'], reason: 'Success' };
  const err = body?.error;
  const detail = err?.details?.find((d) => d && d['@type'] === FCM_ERROR_TYPE && typeof d.errorCode === 'string');
  // The FcmError code decides; one we have never seen falls back to the canonical status.
  for (const code of [detail?.errorCode, err?.status]) {
    if (typeof code !== 'string' || !Object.hasOwn(FCM_V1_OUTCOMES, code)) continue;
    if (code === 'INVALID_ARGUMENT' && concernsToken(body as FcmErrorBody)) {
      return { rule: FCM_V1_OUTCOMES['INVALID_ARGUMENT message.token'], reason: 'INVALID_ARGUMENT' };
    }
    return { rule: FCM_V1_OUTCOMES[code], reason: code };
  }
  // Not the envelope, or a code we have never seen: the HTTP status decides (and labels stay a closed set).
  const reason = String(status);
  return { rule: FCM_V1_OUTCOMES[reason] ?? (status >= 500 ? { action: 'retry' } : { action: 'fail' }), reason };
}

// ---------------------------------------------------------------------------------------------------------
// Shared by both GCM transports.
// ---------------------------------------------------------------------------------------------------------

/** A retry waits for the larger of the provider's Retry-After and the table's floor (mutates and returns `o`). */
export function withRetryWait(o: TokenOutcome, rule: OutcomeRule, headerWaitMs: number | undefined): TokenOutcome {
  if (rule.action !== 'retry') return o;
  const wait = Math.max(headerWaitMs ?? 0, rule.minRetryAfterMs ?? 0);
  if (wait > 0) o.retryAfterMs = wait;
  return o;
}

/** time_to_live / android.ttl: whole seconds left until `expiresAt`, within what FCM accepts (0..28 days). */
export function timeToLiveSeconds(expiresAt: number, now = Date.now()): number {
  return Math.min(MAX_TTL_SECONDS, Math.max(0, Math.floor((expiresAt - now) / 1000)));
}
