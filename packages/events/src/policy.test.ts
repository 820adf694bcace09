import {
  DEFAULT_JOB_OPTIONS,
  DEFAULT_POLICIES,
  EVENT_TYPES,
  QueuedEvent,
  QUEUE_NAMES,
  QUEUE_PREFIX,
  expiresAt,
  isExpired,
  policyOverridesSchema,
  ttlSecondsLeft,
  resolvePolicies,
} from './index';

const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';

function job(message: QueuedEvent['event']['message'], enqueuedAt: number): QueuedEvent {
  const base = { owner: OWNER, phone_from: '1', phone_to: '2' };
  return { id: 'e1', enqueuedAt, event: { ...base, message } as QueuedEvent['event'] };
}

describe('delivery policies', () => {
  it('has the documented defaults for every event type', () => {
    expect(DEFAULT_POLICIES).toEqual({
      fax_new: { ttlSeconds: 604800, gcmPriority: 'normal' },
      recording_new: { ttlSeconds: 604800, gcmPriority: 'normal' },
      dialplan_callreverse_start: { ttlSeconds: 60, gcmPriority: 'high' },
      dialplan_callreverse_stop: { ttlSeconds: 60, gcmPriority: 'high' },
      chat_message: { ttlSeconds: 86400, gcmPriority: 'high' },
    });
    expect(Object.keys(DEFAULT_POLICIES).sort()).toEqual([...EVENT_TYPES].sort());
    expect(Object.isFrozen(DEFAULT_POLICIES) && Object.isFrozen(DEFAULT_POLICIES.fax_new)).toBe(true);
  });

  it('resolves to the defaults without overrides', () => {
    expect(resolvePolicies()).toEqual(DEFAULT_POLICIES);
    expect(resolvePolicies({})).toEqual(DEFAULT_POLICIES);
  });

  it('lays overrides over the defaults field by field', () => {
    const p = resolvePolicies({ chat_message: { ttlSeconds: 3600 }, fax_new: { gcmPriority: 'high' }, recording_new: { ttlSeconds: 10, gcmPriority: 'high' } });
    expect(p.chat_message).toEqual({ ttlSeconds: 3600, gcmPriority: 'high' });
    expect(p.fax_new).toEqual({ ttlSeconds: 604800, gcmPriority: 'high' });
    expect(p.recording_new).toEqual({ ttlSeconds: 10, gcmPriority: 'high' });
    expect(p.dialplan_callreverse_start).toEqual(DEFAULT_POLICIES.dialplan_callreverse_start);
    expect(DEFAULT_POLICIES.chat_message.ttlSeconds).toBe(86400); // defaults untouched
  });

  it('validates an override object (the parsed EVENT_POLICIES env var)', () => {
    const ok = (v: unknown) => policyOverridesSchema.safeParse(v).success;
    expect(ok({})).toBe(true);
    expect(ok({ chat_message: { ttlSeconds: 3600 } })).toBe(true);
    expect(ok({ fax_new: { gcmPriority: 'high' }, dialplan_callreverse_stop: {} })).toBe(true);
    expect(ok({ chat_message: { ttlSeconds: 2419200 } })).toBe(true);
    expect(policyOverridesSchema.parse(JSON.parse('{"recording_new":{"ttlSeconds":120,"gcmPriority":"normal"}}'))).toEqual({
      recording_new: { ttlSeconds: 120, gcmPriority: 'normal' },
    });

    expect(ok({ sms_new: { ttlSeconds: 1 } })).toBe(false); // unknown event type
    expect(ok({ chat_message: { ttl: 1 } })).toBe(false); // unknown field
    expect(ok({ chat_message: { ttlSeconds: 0 } })).toBe(false);
    expect(ok({ chat_message: { ttlSeconds: 2419201 } })).toBe(false);
    expect(ok({ chat_message: { ttlSeconds: 1.5 } })).toBe(false);
    expect(ok({ chat_message: { ttlSeconds: '60' } })).toBe(false);
    expect(ok({ chat_message: { gcmPriority: 'urgent' } })).toBe(false);
    expect(ok([])).toBe(false);
    expect(ok(null)).toBe(false);
  });

  it('computes expiry from the enqueue time', () => {
    const t0 = 1_700_000_000_000;
    expect(expiresAt(t0, { ttlSeconds: 60 })).toBe(t0 + 60_000);
    const callReverse = job('dialplan_callreverse_start', t0);
    expect(isExpired(callReverse, t0)).toBe(false);
    expect(isExpired(callReverse, t0 + 59_999)).toBe(false);
    expect(isExpired(callReverse, t0 + 60_000)).toBe(true);
    expect(ttlSecondsLeft(expiresAt(callReverse.enqueuedAt, DEFAULT_POLICIES.dialplan_callreverse_start), t0 + 500)).toBe(59);
    expect(ttlSecondsLeft(expiresAt(callReverse.enqueuedAt, DEFAULT_POLICIES.dialplan_callreverse_start), t0 + 61_000)).toBe(0);
  });

  it('uses the given policies', () => {
    const t0 = 1_700_000_000_000;
    const policies = resolvePolicies({ dialplan_callreverse_stop: { ttlSeconds: 3600 } });
    const j = job('dialplan_callreverse_stop', t0);
    expect(isExpired(j, t0 + 120_000)).toBe(true);
    expect(isExpired(j, t0 + 120_000, policies)).toBe(false);
    expect(ttlSecondsLeft(expiresAt(j.enqueuedAt, policies[j.event.message]), t0)).toBe(3600);
  });

  it('gives the TTL left as whole seconds, clamped to 0..2419200', () => {
    const now = 1_000_000;
    expect(ttlSecondsLeft(now + 60_999, now)).toBe(60);
    expect(ttlSecondsLeft(now - 5_000, now)).toBe(0);
    expect(ttlSecondsLeft(now + 30 * 86_400_000, now)).toBe(2_419_200);
  });
});

describe('queue constants', () => {
  it('puts each queue in its own Redis Cluster slot under the pushfleet prefix', () => {
    expect(QUEUE_PREFIX).toBe('pushfleet');
    expect(QUEUE_NAMES).toEqual({ apns: '{apns}', gcm: '{gcm}' });
  });

  it('bounds job retention, keeping failed jobs (the dead-letter set) longer', () => {
    expect(DEFAULT_JOB_OPTIONS).toMatchObject({
      removeOnComplete: { age: 3600, count: 10000 },
      removeOnFail: { age: 604800, count: 100000 },
    });
  });
});
