import { Redis } from 'ioredis';
import { TokenRegistry } from './registry';
import { testRedisUrl, uniquePrefix } from '../../../test/support/env';

let redis: Redis;
let registry: TokenRegistry;
const APP = '39JSDKGJ38.de.cospace.app';

beforeAll(() => {
  redis = new Redis(testRedisUrl());
  registry = new TokenRegistry(redis, { prefix: uniquePrefix('devices') });
});
afterAll(() => redis.quit());

test('devicesOf hands a worker the devices of its system, carrying token and app, per user in the order given', async () => {
  await registry.addApns('d-1', { deviceToken: 'AB'.repeat(32), applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip' }, 2);
  await registry.addApns('d-1', { deviceToken: 'cd'.repeat(32), applicationId: APP, sandbox: false }, 1);
  await registry.addGcm('d-1', 'gcm-d-1', 3);
  await registry.addGcm('d-2', 'gcm-d-2', 4);

  expect(await registry.devicesOf('apns', ['d-2', 'nobody', 'd-1'])).toEqual([[], [], [
    { token: 'cd'.repeat(32), app: APP, sandbox: false, registeredAt: 1 },
    { token: 'ab'.repeat(32), app: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip', registeredAt: 2 },
  ]]);
  expect(await registry.devicesOf('gcm', ['d-1', 'd-2'])).toEqual([
    [{ token: 'gcm-d-1', app: 'gcm', registeredAt: 3 }],
    [{ token: 'gcm-d-2', app: 'gcm', registeredAt: 4 }],
  ]);
});
