import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConnection } from '@pushfleet/config';
import { createRedisClient } from '@pushfleet/observability';
import { ProviderTokens, StoredToken } from './provider-token';

/** Where the fleet keeps its APNs provider tokens, and the lock of the worker replacing one. */
export interface TokenStore {
  read(id: string): Promise<StoredToken | undefined>;
  write(id: string, token: StoredToken, ttlMs: number): Promise<void>;
  /** SET NX PX: true when this caller holds the lock now. */
  lock(id: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock if this caller still holds it. */
  unlock(id: string, owner: string): Promise<void>;
  close(): Promise<void>;
}

const parse = (v: string | null | undefined): StoredToken | undefined => {
  if (!v) return undefined;
  const space = v.indexOf(' ');
  const iat = Number(v.slice(0, space));
  return space > 0 && Number.isInteger(iat) ? { iat, jwt: v.slice(space + 1) } : undefined;
};

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * The fleet's store: `<prefix>:{apns-token:<team>:<key id>}` holds "<iat> <jwt>" (expires with the token),
 * and `...:lock` the replacing worker's lock; each pair shares its own slot (docs/redis-keys.md).
 */
export class RedisTokenStore implements TokenStore {
  constructor(private readonly redis: Redis | Cluster, private readonly prefix: string, private readonly ownsConnection = true) {}

  private key(id: string): string {
    return `${this.prefix}:{apns-token:${id}}`;
  }

  async read(id: string): Promise<StoredToken | undefined> {
    return parse(await this.redis.get(this.key(id)));
  }

  async write(id: string, token: StoredToken, ttlMs: number): Promise<void> {
    await this.redis.set(this.key(id), `${token.iat} ${token.jwt}`, 'PX', ttlMs);
  }

  async lock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.key(id)}:lock`, owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async unlock(id: string, owner: string): Promise<void> {
    await this.redis.eval(UNLOCK, 1, `${this.key(id)}:lock`, owner);
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** One process only (tests, a single worker without Redis): the same protocol in memory. */
export class MemoryTokenStore implements TokenStore {
  private readonly tokens = new Map<string, { value: string; until: number }>();

  async read(id: string): Promise<StoredToken | undefined> {
    const e = this.tokens.get(id);
    return e && e.until > Date.now() ? parse(e.value) : undefined;
  }

  async write(id: string, token: StoredToken, ttlMs: number): Promise<void> {
    this.tokens.set(id, { value: `${token.iat} ${token.jwt}`, until: Date.now() + ttlMs });
  }

  async lock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const k = `lock:${id}`;
    const e = this.tokens.get(k);
    if (e && e.until > Date.now()) return false;
    this.tokens.set(k, { value: owner, until: Date.now() + ttlMs });
    return true;
  }

  async unlock(id: string, owner: string): Promise<void> {
    if (this.tokens.get(`lock:${id}`)?.value === owner) this.tokens.delete(`lock:${id}`);
  }

  async close(): Promise<void> {
    this.tokens.clear();
  }
}

/** A worker process's provider tokens, shared with the fleet through Redis on a connection of their own. */
export function fleetProviderTokens(o: { redis: RedisConnection; prefix: string; logger: Logger }): ProviderTokens {
  const redis = createRedisClient(o.redis, { enableAutoPipelining: true, retryStrategy: (n) => Math.min(n * 200, 2000) });
  redis.on('error', (e) => o.logger.debug({ err: e.message }, 'redis connection error (provider tokens)'));
  return new ProviderTokens({ store: new RedisTokenStore(redis, o.prefix), logger: o.logger });
}
