import { encodeUser } from './entries';
import { registryKeys } from './keys';
import { UserLocations } from './user-locations';

test('a user location is the bucket key and encoded field, cached and bounded', () => {
  const keys = registryKeys('t', 64);
  const users = new UserLocations(keys, 2);
  const ids = ['0b9e5c2a-4f1d-4c8e-9a7b-3d2e1f0a9b8c', 'plain-id', '*star', 'fourth'];
  for (const id of [...ids, ...ids]) expect(users.at(id)).toEqual([keys.user(id), encodeUser(id)]);
  expect((users as unknown as { cache: Map<string, unknown> }).cache.size).toBeLessThanOrEqual(2);
});
