import { Redis } from 'ioredis';
import { TokenRegistry } from './registry';
import { RateLimiter } from './rate-limit';
import { testRedisUrl, uniquePrefix } from '../../../test/support/env';

let redis: Redis;
let registry: TokenRegistry;
const APP = '39JSDKGJ38.de.cospace.app';
const T1 = 'ab'.repeat(32);

beforeAll(() => {
  redis = new Redis(testRedisUrl());
  registry = new TokenRegistry(redis, { prefix: uniquePrefix('registry'), maxTokensPerUser: 2 });
});
afterAll(() => redis.quit());

test('entries round-trip with registered_at, topic only when set, token lower-cased', async () => {
  await registry.addApns('u1', { deviceToken: T1.toUpperCase(), applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip' }, 1000);
  await registry.addGcm('u1', 'gcm-registration-1', 2000);
  expect(await registry.entries('u1')).toEqual({
    apns: [{ deviceToken: T1, applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip', registeredAt: 1000 }],
    gcm: [{ registrationId: 'gcm-registration-1', registeredAt: 2000 }],
  });
});

test('entriesOf reads several users in one command, in the order given, empty for a user without tokens', async () => {
  await registry.addGcm('many-1', 'gcm-many-1', 10);
  await registry.addApns('many-2', { deviceToken: 'ef'.repeat(32), applicationId: APP, sandbox: false }, 20);
  await registry.addGcm('many-2', 'gcm-many-2', 30);
  const got = await registry.entriesOf(['many-2', 'nobody', 'many-1']);
  expect(got).toEqual([await registry.entries('many-2'), { apns: [], gcm: [] }, await registry.entries('many-1')]);
  expect(got[0].apns.map((e) => e.deviceToken)).toEqual(['ef'.repeat(32)]);
  expect(got[2].gcm.map((e) => e.registrationId)).toEqual(['gcm-many-1']);
  expect(await registry.entriesOf([])).toEqual([]);
});

test('remove with registeredBefore prunes only entries registered before the provider timestamp', async () => {
  await registry.addApns('u2', { deviceToken: 'cd'.repeat(32), applicationId: APP, sandbox: false }, 5000);
  expect(await registry.remove('u2', 'apns', 'cd'.repeat(32), { registeredBefore: 5000 })).toBe(false);
  expect(await registry.remove('u2', 'apns', 'cd'.repeat(32), { registeredBefore: 4000 })).toBe(false);
  expect(await registry.apnsEntries('u2')).toHaveLength(1);
  expect(await registry.remove('u2', 'apns', 'cd'.repeat(32), { registeredBefore: 5001 })).toBe(true);
  expect(await registry.apnsEntries('u2')).toHaveLength(0);
  expect(await registry.ownerOf('apns', 'cd'.repeat(32))).toBeNull();
});

test('remove never touches another user\'s entry', async () => {
  await registry.addGcm('u3', 'gcm-registration-3', 1);
  expect(await registry.remove('u4', 'gcm', 'gcm-registration-3')).toBe(false);
  expect(await registry.ownerOf('gcm', 'gcm-registration-3')).toBe('u3');
});

test('replaceGcm swaps in the canonical id keeping registered_at, or drops the old one when the canonical exists', async () => {
  await registry.addGcm('u5', 'old-registration-id', 42);
  expect(await registry.replaceGcm('u5', 'old-registration-id', 'canonical-registration-id')).toBe('replaced');
  expect(await registry.gcmEntries('u5')).toEqual([{ registrationId: 'canonical-registration-id', registeredAt: 42 }]);
  expect(await registry.ownerOf('gcm', 'canonical-registration-id')).toBe('u5');
  expect(await registry.ownerOf('gcm', 'old-registration-id')).toBeNull();
  await registry.addGcm('u5', 'second-old-registration-id', 43);
  expect(await registry.replaceGcm('u5', 'second-old-registration-id', 'canonical-registration-id')).toBe('dropped-old');
  expect((await registry.gcmEntries('u5')).map((e) => e.registrationId)).toEqual(['canonical-registration-id']);
  expect(await registry.replaceGcm('u5', 'never-registered-id', 'x-registration-id')).toBe('not-found');
});

test('the cap evicts the least recently registered entry of the same system only', async () => {
  await registry.addGcm('u6', 'g-registration-1', 10);
  await registry.addApns('u6', { deviceToken: 'ef'.repeat(32), applicationId: APP, sandbox: false }, 5);
  await registry.addGcm('u6', 'g-registration-2', 20);
  const r = await registry.addGcm('u6', 'g-registration-3', 30);
  expect(r.evicted).toBe('g-registration-1');
  const e = await registry.entries('u6');
  expect(e.gcm.map((x) => x.registrationId)).toEqual(['g-registration-2', 'g-registration-3']);
  expect(e.apns).toHaveLength(1);
});

test('rate limiter counts per subject per window', async () => {
  const rl = new RateLimiter(redis, `${uniquePrefix('rl')}:`, 2, 60_000);
  const now = 120_000 * 1000 + 10_000;
  expect(await rl.hit('a', now)).toBe(0);
  expect(await rl.hit('a', now)).toBe(0);
  expect(await rl.hit('a', now)).toBe(50);
  expect(await rl.hit('b', now)).toBe(0);
});
