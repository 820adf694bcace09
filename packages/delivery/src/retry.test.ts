import { decideRetry, EventRound, parseRetryAfter, RETRY_STRATEGIES, retryDelay, RetryPolicy, withRetryWait } from './retry';

const policy: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 300_000 };
const round = (over: Partial<EventRound> = {}): EventRound => ({ owed: ['t1'], sent: true, heldForMs: 0, providerWaitMs: 0, failed: 0, ...over });
const NOW = 1_700_000_000_000;
const FAR = NOW + 3_600_000;

describe('Retry-After', () => {
  test('seconds, an HTTP date, capped at an hour; nothing or nonsense is undefined', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(['7', '9'])).toBe(7_000);
    expect(parseRetryAfter('999999')).toBe(3_600_000);
    expect(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW)).toBe(30_000);
    expect(parseRetryAfter(new Date(NOW - 30_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  test('a retry waits for the larger of Retry-After and the table floor; other actions never wait', () => {
    expect(withRetryWait({ token: 't', action: 'retry', reason: 'QUOTA_EXCEEDED', app: 'gcm' }, { action: 'retry', minRetryAfterMs: 60_000 }, 5_000).retryAfterMs).toBe(60_000);
    expect(withRetryWait({ token: 't', action: 'retry', reason: 'QUOTA_EXCEEDED', app: 'gcm' }, { action: 'retry', minRetryAfterMs: 60_000 }, 120_000).retryAfterMs).toBe(120_000);
    expect(withRetryWait({ token: 't', action: 'retry', reason: 'Unavailable', app: 'gcm' }, { action: 'retry' }, 3_000).retryAfterMs).toBe(3_000);
    expect(withRetryWait({ token: 't', action: 'retry', reason: 'Unavailable', app: 'gcm' }, { action: 'retry' }, undefined).retryAfterMs).toBeUndefined();
    expect(withRetryWait({ token: 't', action: 'fail', reason: '400', app: 'gcm' }, { action: 'fail' }, 3_000).retryAfterMs).toBeUndefined();
  });
});

describe('backoff strategies', () => {
  test('exponential from the base, capped, jittered to 50..100 %, never below the provider wait', () => {
    expect(retryDelay(1, policy, 0, () => 1)).toBe(1000);
    expect(retryDelay(3, policy, 0, () => 1)).toBe(4000);
    expect(retryDelay(3, policy, 0, () => 0)).toBe(2000);
    expect(retryDelay(30, policy, 0, () => 1)).toBe(300_000);
    expect(retryDelay(1, policy, 60_000, () => 1)).toBe(60_000);
  });

  test('backoff waits at least for an open circuit; circuit waits for it alone', () => {
    expect(RETRY_STRATEGIES.backoff(round({ heldForMs: 9000 }), 1, policy, () => 1)).toBe(9000);
    expect(RETRY_STRATEGIES.backoff(round({ heldForMs: 10 }), 2, policy, () => 1)).toBe(2000);
    expect(RETRY_STRATEGIES.circuit(round({ sent: false, heldForMs: 7000 }))).toBe(7000);
  });
});

describe('retry or give up', () => {
  test('nothing owed is done', () => {
    expect(decideRetry(round({ owed: [] }), 1, FAR, policy, NOW)).toEqual({ kind: 'done' });
  });

  test('only configuration failures left: dead-letter at once, whatever the attempt', () => {
    expect(decideRetry(round({ failed: 1 }), 1, FAR, policy, NOW)).toEqual({ kind: 'give-up', cause: 'configuration' });
    // A configuration failure next to a token to retry is retried (the other token may get through).
    expect(decideRetry(round({ owed: ['t1', 't2'], failed: 1 }), 1, FAR, policy, NOW, () => 1)).toMatchObject({ kind: 'retry' });
  });

  test('the last attempt dead-letters; a round held by a circuit is not an attempt', () => {
    expect(decideRetry(round(), 3, FAR, policy, NOW)).toEqual({ kind: 'give-up', cause: 'attempts_exhausted' });
    expect(decideRetry(round({ sent: false, heldForMs: 5000 }), 3, FAR, policy, NOW)).toEqual({ kind: 'retry', at: NOW + 5000, attempt: 3, strategy: 'circuit' });
  });

  test('a sent round backs off and counts the attempt', () => {
    expect(decideRetry(round({ providerWaitMs: 30_000 }), 1, FAR, policy, NOW, () => 1)).toEqual({ kind: 'retry', at: NOW + 30_000, attempt: 2, strategy: 'backoff' });
  });

  test('a next try at or after the TTL expires the event instead', () => {
    expect(decideRetry(round({ providerWaitMs: 60_000 }), 1, NOW + 60_000, policy, NOW)).toEqual({ kind: 'expire' });
    expect(decideRetry(round({ providerWaitMs: 59_999 }), 1, NOW + 60_000, policy, NOW, () => 1)).toMatchObject({ kind: 'retry' });
  });
});
