import { APNS_OUTCOMES, apnsRule } from './outcomes';
import type { DeliveryAction } from '../outcome';

/**
 * Every reason Apple documents ("Handling notification responses from APNs"), row by row. The rule that
 * matters most: an answer caused by OUR configuration (credentials, certificate, environment, topic) never
 * prunes a token; it fails (token kept, circuit, dead-letter as `configuration`).
 */
describe('APNs answers', () => {
  test.each<[number, string | undefined, DeliveryAction, { refresh?: boolean; adopt?: boolean }?]>([
    [200, undefined, 'delivered'],
    [410, 'Unregistered', 'prune'],
    [410, 'ExpiredToken', 'prune'],
    [400, 'BadDeviceToken', 'prune'], // guarded by the prune-storm guard (swapped endpoints)
    [400, 'DeviceTokenNotForTopic', 'prune'],
    [429, 'TooManyRequests', 'retry'],
    [500, 'InternalServerError', 'retry'],
    [503, 'ServiceUnavailable', 'retry'],
    [503, 'Shutdown', 'retry'],
    [400, 'IdleTimeout', 'retry'],
    [403, 'ExpiredProviderToken', 'retry', { refresh: true }],
    [429, 'TooManyProviderTokenUpdates', 'retry', { adopt: true }],
    [403, 'InvalidProviderToken', 'fail'],
    [403, 'MissingProviderToken', 'fail'],
    [403, 'BadCertificate', 'fail'],
    [403, 'BadCertificateEnvironment', 'fail'],
    [403, 'Forbidden', 'fail'],
    [403, 'UnrelatedKeyIdInToken', 'fail'],
    [400, 'BadTopic', 'fail'],
    [400, 'TopicDisallowed', 'fail'],
    [400, 'BadPriority', 'fail'],
    [400, 'InvalidPushType', 'fail'],
    [400, 'MissingTopic', 'fail'],
    [400, 'BadCollapseId', 'fail'],
    [400, 'BadExpirationDate', 'fail'],
    [400, 'BadMessageId', 'fail'],
    [400, 'DuplicateHeaders', 'fail'],
    [400, 'MissingDeviceToken', 'fail'],
    [400, 'PayloadEmpty', 'fail'],
    [404, 'BadPath', 'fail'],
    [405, 'MethodNotAllowed', 'fail'],
    [413, 'PayloadTooLarge', 'fail'],
    [400, 'SomethingNew', 'fail'],
    [403, 'SomethingNew', 'fail'],
    [502, undefined, 'retry'],
    [507, 'SomethingNew', 'retry'],
  ])('%i %s -> %s', (status, reason, action, flags = {}) => {
    const rule = apnsRule(status, reason);
    expect(rule.action).toBe(action);
    expect(rule.refreshCredentials ?? false).toBe(flags.refresh ?? false);
    expect(rule.adoptCredentials ?? false).toBe(flags.adopt ?? false);
  });

  test('no credential, certificate or environment answer prunes', () => {
    const config = Object.keys(APNS_OUTCOMES).filter((k) => /ProviderToken|Certificate|KeyId|Topic(?!$)|Forbidden/.test(k) && !/DeviceTokenNotForTopic/.test(k));
    expect(config.length).toBeGreaterThanOrEqual(7);
    for (const k of config) expect(APNS_OUTCOMES[k].action).not.toBe('prune');
  });
});
