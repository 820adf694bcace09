import { encodeUser } from './entries';
import type { RegistryKeys } from './keys';

/** Users whose location the cache keeps (about 2.5 MB); it starts over when full. */
export const USER_LOCATIONS_CACHED = 16_384;

/**
 * Where a user's entries are stored: the bucket key (a SHA-256 of the id) and the field (the encoded id),
 * remembered for recent users, so a worker reading the same owners again does not hash them again.
 */
export class UserLocations {
  private readonly cache = new Map<string, [key: string, field: string]>();

  constructor(private readonly keys: RegistryKeys, private readonly size = USER_LOCATIONS_CACHED) {}

  at(userId: string): [key: string, field: string] {
    let at = this.cache.get(userId);
    if (at === undefined) {
      if (this.cache.size >= this.size) this.cache.clear();
      at = [this.keys.user(userId), encodeUser(userId)];
      this.cache.set(userId, at);
    }
    return at;
  }
}
