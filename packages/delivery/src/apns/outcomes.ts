import type { OutcomeRule } from '../outcome';

/**
 * APNs answer -> action. Keys are "<status> <reason>"; the bare status is the fallback for a reason we
 * have never seen. Source: Apple, "Handling notification responses from APNs" (every documented reason).
 */
export const APNS_OUTCOMES: Record<string, OutcomeRule> = {
  '200': { action: 'delivered' },
  // The token is dead.
  '410 Unregistered': { action: 'prune' }, // only if registered before the response timestamp (worker checks)
  '410 ExpiredToken': { action: 'prune' },
  // Also what every token answers when the production and sandbox endpoints are swapped (our configuration):
  // the worker's prune-storm guard (prune-guard.ts) stops pruning an app when these flood in.
  '400 BadDeviceToken': { action: 'prune' },
  '400 DeviceTokenNotForTopic': { action: 'prune' },
  // Transient: try again later.
  '429 TooManyRequests': { action: 'retry' },
  '500 InternalServerError': { action: 'retry' },
  '503 ServiceUnavailable': { action: 'retry' },
  '503 Shutdown': { action: 'retry' },
  '400 IdleTimeout': { action: 'retry' },
  '403 ExpiredProviderToken': { action: 'retry', refreshCredentials: true },
  '500': { action: 'retry' },
  '502': { action: 'retry' },
  '503': { action: 'retry' },
  '504': { action: 'retry' },
  '429': { action: 'retry' },
  // Our configuration or request is wrong: keep the token, fail the job, open the app's circuit.
  '403 InvalidProviderToken': { action: 'fail' },
  '403 MissingProviderToken': { action: 'fail' },
  '403 BadCertificate': { action: 'fail' },
  '403 BadCertificateEnvironment': { action: 'fail' },
  '403 Forbidden': { action: 'fail' },
  '403 UnrelatedKeyIdInToken': { action: 'fail' },
  '400 BadTopic': { action: 'fail' },
  '400 TopicDisallowed': { action: 'fail' },
  '400 BadPriority': { action: 'fail' },
  '400 InvalidPushType': { action: 'fail' },
  '400 MissingTopic': { action: 'fail' },
  '400 BadCollapseId': { action: 'fail' },
  '400 BadExpirationDate': { action: 'fail' },
  '400 BadMessageId': { action: 'fail' },
  '400 DuplicateHeaders': { action: 'fail' },
  '400 MissingDeviceToken': { action: 'fail' },
  '400 PayloadEmpty': { action: 'fail' },
  '404 BadPath': { action: 'fail' },
  '405 MethodNotAllowed': { action: 'fail' },
  '413 PayloadTooLarge': { action: 'fail' },
  // The team's provider token changed too often (another signer): keep the token, send again with the
  // fleet's current provider token later; never a new signature (apns/provider-token.ts).
  '429 TooManyProviderTokenUpdates': { action: 'retry', adoptCredentials: true },
  '400': { action: 'fail' },
  '403': { action: 'fail' },
  '404': { action: 'fail' },
  '405': { action: 'fail' },
  '413': { action: 'fail' },
};

/** Transport-level failures (no HTTP answer): always worth another try on a fresh connection. */
export const TRANSPORT_ERROR_RULE: OutcomeRule = { action: 'retry' };

export function apnsRule(status: number, reason: string | undefined): OutcomeRule {
  return APNS_OUTCOMES[`${status} ${reason}`] ?? APNS_OUTCOMES[String(status)] ?? (status >= 500 ? { action: 'retry' } : { action: 'fail' });
}
