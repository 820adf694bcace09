import type { OutcomeRule } from '../outcome';
import { GOOGLE_RATE_LIMIT_FLOOR_MS } from '../retry';

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
  // The registration id is dead.
  NotRegistered: { action: 'prune' },
  InvalidRegistration: { action: 'prune' },
  // The id belongs to another sender: OUR server key or sender id is wrong, the id is fine. Never prune.
  MismatchSenderId: { action: 'fail' },
  // Transient: this id again later (Retry-After honoured when present).
  Unavailable: { action: 'retry' },
  InternalServerError: { action: 'retry' },
  DeviceMessageRateExceeded: { action: 'retry', minRetryAfterMs: GOOGLE_RATE_LIMIT_FLOOR_MS },
  TopicsMessageRateExceeded: { action: 'retry', minRetryAfterMs: GOOGLE_RATE_LIMIT_FLOOR_MS },
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
  '429': { action: 'retry', minRetryAfterMs: GOOGLE_RATE_LIMIT_FLOOR_MS },
  '500': { action: 'retry' },
  '502': { action: 'retry' },
  '503': { action: 'retry' },
  '504': { action: 'retry' },
  // A 200 whose body is empty or not the documented JSON: nothing says the ids were delivered.
  InvalidResponse: { action: 'retry' },
  // No HTTP answer at all.
  timeout: { action: 'retry' },
  connection: { action: 'retry' },
  // An answer over MAX_GCM_LEGACY_BODY_BYTES: aborted unread.
  'body-too-large': { action: 'retry' },
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
export function gcmLegacyHttpRule(status: number, kind: 'timeout' | 'connection' | 'body-too-large' | 'InvalidResponse' = 'connection'): { rule: OutcomeRule; reason: string } {
  if (status === 0 || status === 200) return { rule: GCM_LEGACY_HTTP_OUTCOMES[status === 200 ? 'InvalidResponse' : kind], reason: status === 200 ? 'InvalidResponse' : kind };
  const reason = String(status);
  return { rule: GCM_LEGACY_HTTP_OUTCOMES[reason] ?? (status >= 500 ? { action: 'retry' } : { action: 'fail' }), reason };
}
