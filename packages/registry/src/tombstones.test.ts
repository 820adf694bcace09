import { createRedisClient, RedisClient } from '@pushfleet/observability';
import { TokenRegistry } from './registry';
import { uniquePrefix } from '../../../test/support/env';
import { redisTargets } from '../../../test/support/targets';

const APP = '39JSDKGJ38.de.cospace.app';
const T = (n: number) => n.toString(16).padStart(64, 'c');
const prune = { reason: 'Unregistered', answer: 'prune Unregistered', app: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip' };

describe.each(redisTargets())('pruned tokens on %s', (target) => {
  let redis: RedisClient;
  let registry: TokenRegistry;

  beforeAll(() => {
    redis = createRedisClient(target.connection, { maxRetriesPerRequest: 3 });
    registry = new TokenRegistry(redis, { prefix: uniquePrefix('tombstones'), prunedRetentionSeconds: 3600, waitReplicas: target.connection.registry.waitReplicas });
  });
  afterAll(() => redis.quit());

  test('a prune removes only the entry the send saw: one registered again since survives', async () => {
    await registry.addApns('u1', { deviceToken: T(1), applicationId: APP, sandbox: false }, 1000);
    // Registered again (the app started) while the send with the 1000 entry was in flight.
    await registry.addApns('u1', { deviceToken: T(1), applicationId: APP, sandbox: false }, 2000);
    expect(await registry.prune('u1', 'apns', T(1), { ...prune, registeredAt: 1000 })).toBe(false);
    expect((await registry.apnsEntries('u1')).map((e) => e.registeredAt)).toEqual([2000]);
    expect(await registry.ownerOf('apns', T(1))).toBe('u1');
    expect(await registry.tombstones.read('apns', T(1))).toBeUndefined();
  });

  test('a prune keeps a tombstone (reason, app, time, answer) with a TTL; restore puts the entry back as it was', async () => {
    await registry.addApns('u2', { deviceToken: T(2), applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip' }, 5000);
    expect(await registry.prune('u2', 'apns', T(2), { ...prune, registeredAt: 5000 })).toBe(true);
    expect(await registry.apnsEntries('u2')).toEqual([]);
    const stone = await registry.tombstones.read('apns', T(2));
    expect(stone).toMatchObject({ system: 'apns', token: T(2), owner: 'u2', app: APP, reason: 'Unregistered', answer: 'prune Unregistered', registeredAt: 5000 });
    expect(stone!.prunedAt).toBeGreaterThan(Date.now() - 60_000);
    const ttl = await redis.ttl(registry.tombstones.key('apns', T(2)));
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect((await registry.tombstones.list()).map((t) => t.token)).toContain(T(2));
    expect(await registry.restore('apns', T(2))).toBe('restored');
    expect(await registry.apnsEntries('u2')).toEqual([{ deviceToken: T(2), applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip', registeredAt: 5000 }]);
    expect(await registry.tombstones.read('apns', T(2))).toBeUndefined();
    expect(await registry.restore('apns', T(2))).toBe('not-found');
  });

  test('re-registering a tombstoned token revives it (the tombstone goes); restore never takes a token back from its new owner', async () => {
    await registry.addGcm('u3', 'reg-3', 1000);
    expect(await registry.prune('u3', 'gcm', 'reg-3', { reason: 'NotRegistered', answer: 'prune NotRegistered', app: 'gcm', registeredAt: 1000 })).toBe(true);
    await registry.addGcm('u3', 'reg-3', 3000);
    expect(await registry.tombstones.read('gcm', 'reg-3')).toBeUndefined();
    await registry.addGcm('u4', 'reg-4', 1000);
    await registry.prune('u4', 'gcm', 'reg-4', { reason: 'NotRegistered', answer: 'prune NotRegistered', app: 'gcm', registeredAt: 1000 });
    // Another user took the token, and a tombstone is still there (written after the add cleared it).
    await registry.addGcm('u5', 'reg-4', 2000);
    await registry.tombstones.write({ system: 'gcm', token: 'reg-4', owner: 'u4', app: 'gcm', reason: 'NotRegistered', answer: 'x', registeredAt: 1000, prunedAt: 1 });
    expect(await registry.restore('gcm', 'reg-4')).toBe('registered');
    expect(await registry.ownerOf('gcm', 'reg-4')).toBe('u5');
  });
});
