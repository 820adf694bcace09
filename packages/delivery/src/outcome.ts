/**
 * What to do with one token after one provider answer. Every provider adapter maps its answers to these
 * through one table (apns/outcomes.ts, fcm-v1/outcomes.ts, gcm-legacy/outcomes.ts), and the delivery worker acts on them without
 * knowing which provider spoke.
 */
export type DeliveryAction =
  /** The provider accepted the notification. */
  | 'delivered'
  /** Transient: send this token again later (backoff, honouring retry-after). */
  | 'retry'
  /** The token is dead: remove it from the registry. */
  | 'prune'
  /** The provider names a newer id for this device (GCM canonical id): swap it in the registry. */
  | 'replace'
  /** Give up on this token for this event, keep it registered (e.g. the event can never fit). */
  | 'drop'
  /** Our configuration is wrong (credentials, topic, API gone): keep the token, dead-letter the job, trip the app's circuit. */
  | 'fail';

export interface TokenOutcome {
  token: string;
  action: DeliveryAction;
  /** The provider's reason, or our own for transport errors (timeout, goaway, connection) and internal_error. Closed set. */
  reason: string;
  /** The app the token belongs to, for metrics and the per-app circuit. */
  app: string;
  /** A provider-requested wait (Retry-After header, or a floor the table sets, e.g. quota errors). */
  retryAfterMs?: number;
  /** APNs 410: when Apple learned the token was invalid; we prune only entries registered before it. */
  invalidSince?: number;
  /** The provider's environment the token was sent to, when it has several (APNs: production, sandbox); the prune guard's scope. */
  environment?: string;
  /** GCM canonical id for `replace`. */
  canonicalToken?: string;
  /** The payload was shortened to fit the provider's limit (counted once per event send). */
  truncated?: true;
  /** Enqueue→answer latency is measured for delivered tokens; the transport stamps the answer time. */
  answeredAt?: number;
}

/** One row of a provider table. */
export interface OutcomeRule {
  action: DeliveryAction;
  /** Minimum wait before retrying this token (e.g. FCM QUOTA_EXCEEDED: at least 60 s). */
  minRetryAfterMs?: number;
  /** Re-sign the provider credential and resend once at once (APNs ExpiredProviderToken, FCM 401). */
  refreshCredentials?: boolean;
  /** Take the credential the fleet shares now (never sign a new one) before the next send (APNs TooManyProviderTokenUpdates). */
  adoptCredentials?: boolean;
}

/** Marks the outcomes of a send whose payload had to be shortened (mutates and returns them). */
export function markTruncated(outcomes: TokenOutcome[], truncated: boolean): TokenOutcome[] {
  if (truncated) for (const o of outcomes) o.truncated = true;
  return outcomes;
}
