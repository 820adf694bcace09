import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { SYSTEM_TAG, TokenSystem } from './keys';

/**
 * A pruned entry, kept so `tokens restore` can put it back (docs/redis-keys.md "Tombstones"): one key
 * per token, `<prefix>:pruned:{<a|g>:<digest>}` (its own slot), a small JSON value, EX = the retention
 * (PRUNED_RETENTION_SECONDS, 7 days by default). Separate from the live registry, so live tokens keep
 * their memory budget; re-registering the token deletes it.
 */
export interface Tombstone {
  system: TokenSystem;
  token: string;
  owner: string;
  /** The entry as it was: its registration time and, for APNs, application id, sandbox flag, topic. */
  registeredAt: number;
  app: string;
  sandbox?: boolean;
  apnsTopic?: string;
  /** The provider's reason (Unregistered, BadDeviceToken, UNREGISTERED, NotRegistered...). */
  reason: string;
  /** The answer that pruned it, short: "<status> <reason>" or the result error. */
  answer: string;
  prunedAt: number;
}

type Client = Redis | Cluster;

/** Bytes kept per tombstone at most (a JSON value of a few fields; a hostile token is bounded by the API's limits). */
const MAX_VALUE_BYTES = 4096;

export class Tombstones {
  constructor(private readonly redis: Client, private readonly prefix: string, private readonly retentionSeconds: number) {}

  key(system: TokenSystem, token: string): string {
    const digest = createHash('sha256').update(`${SYSTEM_TAG[system]}:${token}`).digest('base64url').slice(0, 22);
    return `${this.prefix}:pruned:{${SYSTEM_TAG[system]}:${digest}}`;
  }

  async write(t: Tombstone): Promise<void> {
    const value = JSON.stringify(t);
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES) return;
    await this.redis.set(this.key(t.system, t.token), value, 'EX', this.retentionSeconds);
  }

  async read(system: TokenSystem, token: string): Promise<Tombstone | undefined> {
    return parse(await this.redis.get(this.key(system, token)));
  }

  /** Forget the tombstone (the token was registered again, or restored). */
  async clear(system: TokenSystem, token: string): Promise<void> {
    await this.redis.del(this.key(system, token));
  }

  /** Every tombstone still kept, newest first (SCAN on every master). */
  async list(limit = 1000): Promise<Tombstone[]> {
    const nodes: Redis[] = (this.redis as Cluster).isCluster ? (this.redis as Cluster).nodes('master') : [this.redis as Redis];
    const keys: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', `${this.prefix}:pruned:{*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0' && keys.length < limit * 4);
    }
    const values = await Promise.all(keys.map((k) => this.redis.get(k)));
    return values.map(parse).filter((t): t is Tombstone => t !== undefined).sort((a, b) => b.prunedAt - a.prunedAt).slice(0, limit);
  }
}

function parse(v: string | null): Tombstone | undefined {
  if (!v) return undefined;
  try {
    const t = JSON.parse(v) as Tombstone;
    return typeof t.token === 'string' && (t.system === 'apns' || t.system === 'gcm') && typeof t.owner === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}
