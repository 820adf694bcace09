import { z } from 'zod';
import { EVENT_TYPES, EventType } from './schema';

/**
 * How long an event is worth delivering and how urgently. A call-reverse notice is useless after a
 * minute; a new fax is still news next week. The TTL counts from when the producer enqueued the event,
 * so retries never extend it.
 */
export interface DeliveryPolicy {
  /** Seconds after enqueueing when the event is dropped instead of delivered (APNs expiration, FCM ttl). */
  ttlSeconds: number;
  /** FCM/GCM message priority. */
  gcmPriority: 'high' | 'normal';
}

/** FCM's maximum time_to_live (28 days); APNs stores at most 30 days. */
export const MAX_TTL_SECONDS = 2_419_200;

export const DEFAULT_POLICIES: Readonly<Record<EventType, Readonly<DeliveryPolicy>>> = Object.freeze({
  fax_new: Object.freeze({ ttlSeconds: 604_800, gcmPriority: 'normal' }),
  recording_new: Object.freeze({ ttlSeconds: 604_800, gcmPriority: 'normal' }),
  dialplan_callreverse_start: Object.freeze({ ttlSeconds: 60, gcmPriority: 'high' }),
  dialplan_callreverse_stop: Object.freeze({ ttlSeconds: 60, gcmPriority: 'high' }),
  chat_message: Object.freeze({ ttlSeconds: 86_400, gcmPriority: 'high' }),
});

export const deliveryPolicyOverrideSchema = z.strictObject({
  ttlSeconds: z.int().min(1).max(MAX_TTL_SECONDS).optional(),
  gcmPriority: z.enum(['high', 'normal']).optional(),
});

/**
 * Per-event-type overrides, e.g. the parsed JSON of the EVENT_POLICIES env var:
 * `{"chat_message":{"ttlSeconds":3600},"fax_new":{"gcmPriority":"high"}}`. Unknown event types and fields
 * are errors.
 */
export const policyOverridesSchema = z.strictObject(
  Object.fromEntries(EVENT_TYPES.map((t) => [t, deliveryPolicyOverrideSchema.optional()])) as {
    [K in EventType]: z.ZodOptional<typeof deliveryPolicyOverrideSchema>;
  },
);

export type PolicyOverrides = Partial<Record<EventType, Partial<DeliveryPolicy>>>;
export type Policies = Readonly<Record<EventType, Readonly<DeliveryPolicy>>>;

/** The defaults with the overrides laid over them, field by field. */
export function resolvePolicies(overrides: PolicyOverrides = {}): Policies {
  const out = {} as Record<EventType, DeliveryPolicy>;
  for (const t of EVENT_TYPES) {
    const o = overrides[t];
    out[t] = Object.freeze({
      ttlSeconds: o?.ttlSeconds ?? DEFAULT_POLICIES[t].ttlSeconds,
      gcmPriority: o?.gcmPriority ?? DEFAULT_POLICIES[t].gcmPriority,
    });
  }
  return Object.freeze(out);
}

/** When (ms since epoch) an event enqueued at `enqueuedAtMs` stops being worth delivering. */
export function expiresAt(enqueuedAtMs: number, policy: Pick<DeliveryPolicy, 'ttlSeconds'>): number {
  return enqueuedAtMs + policy.ttlSeconds * 1000;
}

/** What {@link isExpired} needs of a queued event (a `QueuedEvent` fits). */
export interface ExpiringJob {
  event: { message: EventType };
  enqueuedAt: number;
}

/** True once the event's TTL has passed: the worker drops it instead of sending stale news. */
export function isExpired(job: ExpiringJob, now: number, policies: Policies = DEFAULT_POLICIES): boolean {
  return now >= expiresAt(job.enqueuedAt, policies[job.event.message]);
}

/**
 * Whole seconds left until `expiresAt` at `now`, within what the providers accept (0..MAX_TTL_SECONDS):
 * the FCM `time_to_live` / `android.ttl` of a send, so a retry does not restart the clock. APNs takes
 * `Math.floor(expiresAt / 1000)` as `apns-expiration`.
 */
export function ttlSecondsLeft(expiresAtMs: number, now = Date.now()): number {
  return Math.min(MAX_TTL_SECONDS, Math.max(0, Math.floor((expiresAtMs - now) / 1000)));
}
