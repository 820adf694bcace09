import type { DeadLetterCause } from '@pushfleet/events';
import type { OutcomeRule, TokenOutcome } from './outcome';

/**
 * Everything about "when again, or never": Retry-After parsing, the per-reason floors the outcome tables
 * use, the backoff strategies (a small table, in the shape of BullMQ's `Backoffs.builtinStrategies`) and
 * the retry-or-give-up decision the worker takes after each send round of an event.
 */

/** FCM asks for at least a minute before retrying a rate-limited device or project (QUOTA_EXCEEDED, 429). */
export const GOOGLE_RATE_LIMIT_FLOOR_MS = 60_000;

/** The longest wait a provider's Retry-After may impose on us (longer answers are capped). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** Parses Retry-After (seconds or an HTTP date) into milliseconds; undefined when absent or nonsense. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/** A retry waits for the larger of the provider's Retry-After and the table's floor (mutates and returns `o`). */
export function withRetryWait(o: TokenOutcome, rule: OutcomeRule, headerWaitMs: number | undefined): TokenOutcome {
  if (rule.action !== 'retry') return o;
  const wait = Math.max(headerWaitMs ?? 0, rule.minRetryAfterMs ?? 0);
  if (wait > 0) o.retryAfterMs = wait;
  return o;
}

/** How a worker retries an event's tokens; the values come from the worker env (packages/config). */
export interface RetryPolicy {
  /** Send attempts per event before it is dead-lettered with the tokens still owed. */
  maxAttempts: number;
  /** The first backoff (before jitter); it doubles with each attempt. */
  baseDelayMs: number;
  /** The backoff never grows beyond this (before the provider's own wait). */
  maxDelayMs: number;
}

/** What one send round left of one event: the worker's summary of the outcomes. */
export interface EventRound {
  /** Tokens still owed: to retry, held by an open circuit, or refused for configuration. */
  owed: string[];
  /** Whether anything reached the provider (an attempt), as opposed to all tokens held by a circuit. */
  sent: boolean;
  /** The longest an open circuit still holds one of the owed tokens. */
  heldForMs: number;
  /** The longest wait a provider asked for (Retry-After or a table floor). */
  providerWaitMs: number;
  /** Tokens refused for configuration (credentials, topic): retrying alone will not help them. */
  failed: number;
}

/** Exponential backoff with ±50 % jitter, at least what the provider asked for. */
export function retryDelay(attempt: number, policy: RetryPolicy, providerWaitMs = 0, random = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(exp * (0.5 + random() / 2));
  return Math.max(jittered, providerWaitMs);
}

type Strategy = (round: EventRound, attempt: number, policy: RetryPolicy, random: () => number) => number;

/** The wait before an event's next round, by why its tokens are still owed. */
export const RETRY_STRATEGIES = {
  /** The provider was asked and said "later": the backoff, and no sooner than an open circuit allows. */
  backoff: (r, attempt, policy, random) => Math.max(retryDelay(attempt, policy, r.providerWaitMs, random), r.heldForMs),
  /** Nothing reached the provider (every owed token is held by an open circuit): wait for it; not an attempt. */
  circuit: (r) => r.heldForMs,
} satisfies Record<string, Strategy>;

export type RetryDecision =
  /** Every owed token is done: nothing to schedule. */
  | { kind: 'done' }
  /** Dead-letter the event with its owed tokens. */
  | { kind: 'give-up'; cause: DeadLetterCause }
  /** The next round would come after the event's TTL: drop it. */
  | { kind: 'expire' }
  /** Send the owed tokens again at `at`, as attempt `attempt`. */
  | { kind: 'retry'; at: number; attempt: number; strategy: keyof typeof RETRY_STRATEGIES };

/** The decision of most rounds, one frozen object for all of them. */
const DONE: RetryDecision = Object.freeze({ kind: 'done' });

/**
 * Retry or give up, after one round of an event that was at `attempt` (1 = first send): give up when only
 * configuration failures are left (retrying alone cannot help) or the attempts are used up; expire when
 * the next try would be too late; else wait as the strategy says.
 */
export function decideRetry(r: EventRound, attempt: number, expiresAt: number, policy: RetryPolicy, now = Date.now(), random = Math.random): RetryDecision {
  if (r.owed.length === 0) return DONE;
  if (r.failed > 0 && r.failed === r.owed.length) return { kind: 'give-up', cause: 'configuration' };
  if (r.sent && attempt >= policy.maxAttempts) return { kind: 'give-up', cause: 'attempts_exhausted' };
  const strategy = r.sent ? 'backoff' : 'circuit';
  const at = now + RETRY_STRATEGIES[strategy](r, attempt, policy, random);
  if (at >= expiresAt) return { kind: 'expire' };
  return { kind: 'retry', at, attempt: r.sent ? attempt + 1 : attempt, strategy };
}
