import { GCM_LEGACY_HTTP_OUTCOMES, GCM_LEGACY_RESULT_OUTCOMES, gcmLegacyHttpRule, gcmLegacyResultRule } from './outcomes';
import type { DeliveryAction } from '../outcome';

describe('legacy per-result errors (http-server-ref, "Downstream message error response codes")', () => {
  test.each<[string, { error?: string; registration_id?: string; message_id?: string }, DeliveryAction, number | undefined]>([
    ['Success', { message_id: '0:1' }, 'delivered', undefined],
    ['CanonicalId', { message_id: '0:1', registration_id: 'new-id' }, 'replace', undefined],
    ['NotRegistered', { error: 'NotRegistered' }, 'prune', undefined],
    ['InvalidRegistration', { error: 'InvalidRegistration' }, 'prune', undefined],
    ['MismatchSenderId', { error: 'MismatchSenderId' }, 'fail', undefined],
    ['Unavailable', { error: 'Unavailable' }, 'retry', undefined],
    ['InternalServerError', { error: 'InternalServerError' }, 'retry', undefined],
    ['DeviceMessageRateExceeded', { error: 'DeviceMessageRateExceeded' }, 'retry', 60_000],
    ['TopicsMessageRateExceeded', { error: 'TopicsMessageRateExceeded' }, 'retry', 60_000],
    ['MessageTooBig', { error: 'MessageTooBig' }, 'fail', undefined],
    ['InvalidDataKey', { error: 'InvalidDataKey' }, 'fail', undefined],
    ['InvalidTtl', { error: 'InvalidTtl' }, 'fail', undefined],
    ['MissingRegistration', { error: 'MissingRegistration' }, 'fail', undefined],
    ['InvalidPackageName', { error: 'InvalidPackageName' }, 'fail', undefined],
    ['InvalidParameters', { error: 'InvalidParameters' }, 'fail', undefined],
    ['InvalidApnsCredential', { error: 'InvalidApnsCredential' }, 'fail', undefined],
    ['DeprecatedApi', { error: 'DeprecatedApi' }, 'fail', undefined],
  ])('%s -> %s', (reason, result, action, floor) => {
    const r = gcmLegacyResultRule(result);
    expect(r.reason).toBe(reason);
    expect(r.rule.action).toBe(action);
    expect(r.rule.minRetryAfterMs).toBe(floor);
  });

  test('every row of the table is covered above, and no configuration error ever prunes', () => {
    expect(Object.keys(GCM_LEGACY_RESULT_OUTCOMES)).toHaveLength(17);
    for (const k of ['MessageTooBig', 'InvalidDataKey', 'InvalidTtl', 'MissingRegistration', 'InvalidPackageName', 'InvalidApnsCredential', 'DeprecatedApi']) {
      expect(GCM_LEGACY_RESULT_OUTCOMES[k].action).toBe('fail');
    }
  });

  test('an error wins over a registration_id; an unknown error fails with a closed-set reason', () => {
    expect(gcmLegacyResultRule({ error: 'NotRegistered', registration_id: 'x' }).rule.action).toBe('prune');
    expect(gcmLegacyResultRule({ error: 'SomethingNew' })).toEqual({ rule: { action: 'fail' }, reason: 'UnknownError' });
    expect(gcmLegacyResultRule({ error: 'toString' }).reason).toBe('UnknownError'); // no prototype keys
  });
});

describe('legacy HTTP-level answers (the whole request)', () => {
  test.each<[number, string | undefined, string, DeliveryAction]>([
    [400, undefined, '400', 'fail'],
    [401, undefined, '401', 'fail'],
    [403, undefined, '403', 'fail'],
    [404, undefined, '404', 'fail'],
    [418, undefined, '418', 'fail'],
    [429, undefined, '429', 'retry'],
    [500, undefined, '500', 'retry'],
    [502, undefined, '502', 'retry'],
    [503, undefined, '503', 'retry'],
    [504, undefined, '504', 'retry'],
    [599, undefined, '599', 'retry'],
    [200, undefined, 'InvalidResponse', 'retry'],
    [0, 'timeout', 'timeout', 'retry'],
    [0, 'connection', 'connection', 'retry'],
  ])('%d %s -> %s %s', (status, kind, reason, action) => {
    const r = gcmLegacyHttpRule(status, kind as 'timeout' | 'connection' | undefined);
    expect(r.reason).toBe(reason);
    expect(r.rule.action).toBe(action);
  });

  test('429 waits at least a minute; the table has no other rows', () => {
    expect(GCM_LEGACY_HTTP_OUTCOMES['429'].minRetryAfterMs).toBe(60_000);
    expect(Object.keys(GCM_LEGACY_HTTP_OUTCOMES).sort()).toEqual(['400', '401', '403', '404', '429', '500', '502', '503', '504', 'InvalidResponse', 'body-too-large', 'connection', 'timeout'].sort());
  });
});
