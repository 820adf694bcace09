import type { OutcomeRule } from '../outcome';
import { GOOGLE_RATE_LIMIT_FLOOR_MS } from '../retry';

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
  // The token belongs to another project: OUR project or service account is wrong, never the token's fault.
  SENDER_ID_MISMATCH: { action: 'fail' },
  'INVALID_ARGUMENT message.token': { action: 'prune' },
  INVALID_ARGUMENT: { action: 'fail' },
  QUOTA_EXCEEDED: { action: 'retry', minRetryAfterMs: GOOGLE_RATE_LIMIT_FLOOR_MS },
  UNAVAILABLE: { action: 'retry' },
  INTERNAL: { action: 'retry' },
  UNSPECIFIED_ERROR: { action: 'retry' },
  THIRD_PARTY_AUTH_ERROR: { action: 'fail' },
  // google.rpc statuses without an FcmError detail.
  UNAUTHENTICATED: { action: 'fail', refreshCredentials: true }, // our OAuth token: refresh once, resend, then fail
  PERMISSION_DENIED: { action: 'fail' }, // the service account may not send for this project
  NOT_FOUND: { action: 'fail' }, // without UNREGISTERED it is the project (path), not the token
  RESOURCE_EXHAUSTED: { action: 'retry', minRetryAfterMs: GOOGLE_RATE_LIMIT_FLOOR_MS },
  UNKNOWN: { action: 'retry' },
  DEADLINE_EXCEEDED: { action: 'retry' },
  // HTTP statuses whose body is not the google.rpc envelope (front-end HTML pages).
  '400': { action: 'fail' },
  '401': { action: 'fail', refreshCredentials: true },
  '403': { action: 'fail' },
  '404': { action: 'fail' },
  '429': { action: 'retry', minRetryAfterMs: GOOGLE_RATE_LIMIT_FLOOR_MS },
  '500': { action: 'retry' },
  '502': { action: 'retry' },
  '503': { action: 'retry' },
  '504': { action: 'retry' },
  // No HTTP answer (H2TransportError kinds): a fresh stream / connection next time.
  timeout: { action: 'retry' },
  goaway: { action: 'retry' },
  'stream-reset': { action: 'retry' },
  connection: { action: 'retry' },
  'body-too-large': { action: 'retry' },
  refused: { action: 'retry' }, // never processed, and the pool's immediate resends ran out
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
