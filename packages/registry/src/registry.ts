import { randomBytes } from 'node:crypto';
import type { Cluster, Redis, Result } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { INDEX_CLAIM, INDEX_CLEANED, INDEX_RELEASE, READ_USERS, USER_CLEAN, USER_CONFIRM, USER_PENDING, USER_REMOVE } from './scripts';
import { DEFAULT_BUCKETS, registryKeys, RegistryKeys, SYSTEM_TAG, TokenSystem } from './keys';
import { apnsExtra, decodeEntries, decodeToken, decodeUser, encodeToken, encodeUser, UserEntries } from './entries';
import { decodeDevices, DeviceOf } from './devices';
import { Tombstone, Tombstones } from './tombstones';
import { UserLocations } from './user-locations';

export type { ApnsEntry, GcmEntry, UserEntries } from './entries';

export interface AddResult {
  /** The token was registered to another user and now belongs to the caller. */
  movedFromOtherUser: boolean;
  /** The entry evicted because the caller went over the per-system cap. */
  evicted?: string;
}

export type ReplaceResult = 'replaced' | 'dropped-old' | 'not-found';

/** The steps of an add, in order (docs/redis-keys.md "Moving a token"); a test hook may stop after each. */
export type AddStep = 'pending' | 'claimed' | 'cleaned' | 'confirmed';

export type RedisClient = Redis | Cluster;

/** How long steps on a node skip WAIT after a WAIT there timed out. */
const WAIT_SKIP_MS = 5000;

/** What a prune knows: the answer, and the entry as the send saw it (its registration time decides). */
export type PruneInfo = Pick<Tombstone, 'reason' | 'answer' | 'app' | 'registeredAt' | 'sandbox' | 'apnsTopic'> & { registeredBefore?: number };

export type RestoreResult = 'restored' | 'registered' | 'not-found';

export interface RegistryOptions {
  prefix?: string;
  maxTokensPerUser?: number;
  /** Buckets per kind of key (REGISTRY_BUCKETS); fixed for a deployment's lifetime. */
  buckets?: number;
  /** Replicas that must have a claim and a cleaning before the move goes on (WAIT); 0 = do not wait. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** How long a pruned entry's tombstone is kept (PRUNED_RETENTION_SECONDS). @defaultValue 604800 (7 days) */
  prunedRetentionSeconds?: number;
  /** Tests only: called after each step of an add; a throw stops the add there, as a crash would. */
  afterStep?: (step: AddStep) => void | Promise<void>;
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pfUserPending(key: string, user: string, sys: string, token: string, nonce: string, at: string, extra: string): Result<number, Context>;
    pfIndexClaim(key: string, field: Buffer, user: string): Result<(number | string)[], Context>;
    pfUserClean(key: string, user: string, sys: string, token: string, version: number): Result<number, Context>;
    pfIndexCleaned(key: string, field: Buffer, user: string, version: number, ...cleaned: string[]): Result<number, Context>;
    pfUserConfirm(key: string, user: string, sys: string, token: string, nonce: string, version: string, cap: number): Result<[number, string, string], Context>;
    pfUserRemove(key: string, user: string, sys: string, token: string, before: string, seen: string): Result<number, Context>;
    pfIndexRelease(key: string, field: Buffer, user: string, version: number): Result<number, Context>;
    pfReadUsers(numKeys: number, ...args: string[]): Result<string[], Context>;
  }
}

const SCRIPTS = {
  pfUserPending: USER_PENDING, pfIndexClaim: INDEX_CLAIM, pfUserClean: USER_CLEAN, pfIndexCleaned: INDEX_CLEANED,
  pfUserConfirm: USER_CONFIRM, pfUserRemove: USER_REMOVE, pfIndexRelease: INDEX_RELEASE,
};

const tokenOf = (system: TokenSystem, token: string) => (system === 'apns' ? token.toLowerCase() : token);

/** The claim record: version, owner ('' when released), earlier holders still to clean. */
export function parseRecord(rec: string | null): { version: number; owner: string; dirty: string[] } {
  if (!rec) return { version: 0, owner: '', dirty: [] };
  const [v, owner, ...dirty] = rec.split('\t');
  return { version: parseInt(v, 16), owner: owner ? decodeUser(owner) : '', dirty: dirty.map(decodeUser) };
}

/**
 * The token registry: which devices a user has, and who owns a device. One token belongs to one user;
 * registering it as another user moves it (the device changed hands or the user changed accounts). Each
 * command touches one slot; a move is the protocol in `add` (docs/redis-keys.md "Moving a token").
 */
export class TokenRegistry {
  readonly keys: RegistryKeys;
  /** Pruned entries, kept for `tokens restore` (tombstones.ts). */
  readonly tombstones: Tombstones;
  private readonly maxTokensPerUser: number;
  private readonly cluster: boolean;
  /** Nodes whose last WAIT timed out, and until when steps there skip WAIT (see durable). */
  private readonly waitSkippedUntil = new Map<string, number>();
  /** Recent users' bucket key and field, for the worker's reads. */
  private readonly users: UserLocations;

  constructor(private readonly redis: RedisClient, private readonly opts: RegistryOptions = {}) {
    this.keys = registryKeys(opts.prefix, opts.buckets ?? DEFAULT_BUCKETS);
    this.users = new UserLocations(this.keys);
    this.tombstones = new Tombstones(redis, this.keys.prefix, opts.prunedRetentionSeconds ?? 7 * 24 * 3600);
    this.maxTokensPerUser = opts.maxTokensPerUser ?? 50;
    this.cluster = (redis as Cluster).isCluster === true;
    if (!redis.pfIndexClaim) {
      for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua });
      redis.defineCommand('pfReadUsers', { lua: READ_USERS });
    }
  }

  async addApns(userId: string, e: { deviceToken: string; applicationId: string; sandbox: boolean; apnsTopic?: string }, now = Date.now()): Promise<AddResult> {
    return this.add(userId, 'apns', e.deviceToken.toLowerCase(), now, apnsExtra(e));
  }

  async addGcm(userId: string, registrationId: string, now = Date.now()): Promise<AddResult> {
    return this.add(userId, 'gcm', registrationId, now, '');
  }

  private async add(userId: string, system: TokenSystem, token: string, at: number, extra: string): Promise<AddResult> {
    if (/[\n\r]/.test(token)) throw new Error('a token cannot contain a line break');
    for (let attempt = 1; ; attempt++) {
      const r = await this.addOnce(userId, system, token, at, extra);
      if (r) {
        // Registered again: a tombstone of the token is moot (the entry is live).
        await this.tombstones.clear(system, token);
        return r;
      }
      // Our pending line was cleaned away by an older claim's late cleaning: a newer claim (ours, or someone
      // else's) now stands. If it is someone else's, the device moved on after us; if ours, try again.
      const rec = await this.record(system, token);
      if (rec.owner !== userId) return { movedFromOtherUser: false };
      if (attempt >= 3) throw new Error('registry add lost three races in a row; retry later');
    }
  }

  /** One pass of the move protocol; null when the confirm found its pending line gone. */
  private async addOnce(userId: string, system: TokenSystem, token: string, at: number, extra: string): Promise<AddResult | null> {
    const [sys, tok, uid] = [SYSTEM_TAG[system], encodeToken(system, token), encodeUser(userId)];
    const userKey = this.keys.user(userId);
    const idx = this.keys.index(system, token);
    const nonce = randomBytes(4).toString('hex');
    // 1. An inert pending line in the caller's slot (never read, never delivered to).
    await this.redis.pfUserPending(userKey, uid, sys, tok, nonce, at.toString(36), extra);
    await this.opts.afterStep?.('pending');
    // 2. The claim, in the token's slot: from now on every later claimer cleans our line before confirming.
    const [v, ...dirty] = (await this.durable(idx.key, (c) => c.pfIndexClaim(idx.key, idx.field, uid))) as [number, ...string[]];
    const version = Number(v);
    await this.opts.afterStep?.('claimed');
    // 3. Earlier holders lose their line (older version) before ours becomes active.
    const removed = await Promise.all(dirty.map((d) => {
      const k = this.keys.user(decodeUser(d));
      return this.durable(k, (c) => c.pfUserClean(k, d, sys, tok, version));
    }));
    await this.opts.afterStep?.('cleaned');
    // 4. The record forgets the cleaned users; our pending line becomes active.
    const [confirm] = await Promise.all([
      this.redis.pfUserConfirm(userKey, uid, sys, tok, nonce, version.toString(16), this.maxTokensPerUser),
      dirty.length ? this.redis.pfIndexCleaned(idx.key, idx.field, uid, version, ...dirty) : 0,
    ]);
    await this.opts.afterStep?.('confirmed');
    if (Number(confirm[0]) !== 1) return null;
    const out: AddResult = { movedFromOtherUser: removed.some((x) => Number(x) === 1) };
    if (confirm[1]) {
      out.evicted = decodeToken(system, confirm[1]);
      await this.release(userId, system, out.evicted, parseInt(confirm[2], 16));
    }
    return out;
  }

  /**
   * Runs a one-key step on `key` and, when configured, waits until replicas have it (WAIT). WAIT blocks the
   * connection it is sent on, and every command behind it, for up to its timeout: a master without a synced
   * replica (just promoted by a failover, or its replica still syncing) would hold every registration on
   * that node for the whole timeout, one after another. After a WAIT on a node times out, steps on that
   * node go on without waiting for WAIT_SKIP_MS: what a timed-out WAIT gives anyway (the move goes on).
   */
  private async durable<T>(key: string, run: (c: RedisClient) => Promise<T>): Promise<T> {
    const n = this.opts.waitReplicas ?? 0;
    const node = this.nodeOf(key);
    if (n <= 0 || (this.waitSkippedUntil.get(node) ?? 0) > Date.now()) return run(this.redis);
    const p = this.redis.pipeline();
    void run(p as unknown as RedisClient);
    p.call('WAIT', n, this.opts.waitTimeoutMs ?? 200);
    const res = (await p.exec()) ?? [];
    if (res[0]?.[0]) throw res[0][0];
    if (Number(res[1]?.[1] ?? 0) < n) this.waitSkippedUntil.set(node, Date.now() + WAIT_SKIP_MS);
    return res[0]?.[1] as T;
  }

  /** The master serving `key` on a cluster ("host:port"), or one name for a single Redis. */
  private nodeOf(key: string): string {
    if (!this.cluster) return 'single';
    return (this.redis as Cluster).slots[calculateSlot(key)]?.[0] ?? 'unknown';
  }

  private async release(userId: string, system: TokenSystem, token: string, version: number): Promise<void> {
    const idx = this.keys.index(system, token);
    await this.redis.pfIndexRelease(idx.key, idx.field, encodeUser(userId), version);
  }

  private async record(system: TokenSystem, token: string): Promise<ReturnType<typeof parseRecord>> {
    const idx = this.keys.index(system, token);
    return parseRecord(await this.redis.hget(idx.key, idx.field));
  }

  /**
   * Removes the caller's own entry; a token of another user is left alone. Resolves true when an active
   * entry was removed. The record is read first: once our lines are gone no line of a claim at or before
   * that version can come back, so releasing at that version is safe against our own concurrent add.
   */
  async remove(userId: string, system: TokenSystem, token: string, opts: { registeredBefore?: number; seenRegisteredAt?: number } = {}): Promise<boolean> {
    const t = tokenOf(system, token);
    const ms36 = (ms: number | undefined) => (ms === undefined ? '' : Math.floor(ms).toString(36));
    const [before, seen] = [ms36(opts.registeredBefore), ms36(opts.seenRegisteredAt)];
    const rec = await this.record(system, t);
    const userKey = this.keys.user(userId);
    const removed = (await this.redis.pfUserRemove(userKey, encodeUser(userId), SYSTEM_TAG[system], encodeToken(system, t), before, seen)) === 1;
    if (removed || (before === '' && seen === '')) await this.release(userId, system, t, rec.version);
    return removed;
  }

  /**
   * A provider answer says the token is dead: removes the entry only if it is still the one the send saw
   * (registered at or before `p.registeredAt`; and before Apple's `registeredBefore`), and keeps a
   * tombstone for `tokens restore`. Resolves true when pruned.
   */
  async prune(userId: string, system: TokenSystem, token: string, p: PruneInfo): Promise<boolean> {
    const t = tokenOf(system, token);
    const removed = await this.remove(userId, system, t, { seenRegisteredAt: p.registeredAt, ...(p.registeredBefore === undefined ? {} : { registeredBefore: p.registeredBefore }) });
    if (removed) {
      const { registeredBefore: _, ...entry } = p;
      await this.tombstones.write({ ...entry, system, token: t, owner: userId, prunedAt: Date.now() });
    }
    return removed;
  }

  /** Puts a pruned entry back from its tombstone (unless the token is registered again meanwhile). */
  async restore(system: TokenSystem, token: string): Promise<RestoreResult> {
    const t = tokenOf(system, token);
    const stone = await this.tombstones.read(system, t);
    if (!stone) return 'not-found';
    if (await this.ownerOf(system, t)) {
      await this.tombstones.clear(system, t);
      return 'registered';
    }
    const extra = system === 'apns' ? apnsExtra({ applicationId: stone.app, sandbox: stone.sandbox === true, ...(stone.apnsTopic ? { apnsTopic: stone.apnsTopic } : {}) }) : '';
    await this.add(stone.owner, system, t, stone.registeredAt, extra);
    return 'restored';
  }

  /** GCM canonical id: the provider says the device now answers to another id. */
  async replaceGcm(userId: string, oldId: string, canonicalId: string): Promise<ReplaceResult> {
    const old = (await this.gcmEntries(userId)).find((e) => e.registrationId === oldId);
    if (!old) return 'not-found';
    await this.remove(userId, 'gcm', oldId);
    if ((await this.record('gcm', canonicalId)).owner !== '') return 'dropped-old';
    await this.addGcm(userId, canonicalId, old.registeredAt);
    return 'replaced';
  }

  /** One round trip (HGET) for all of a user's entries; ioredis auto-pipelining batches concurrent calls. */
  async entries(userId: string): Promise<UserEntries> {
    return decodeEntries(await this.redis.hget(this.keys.user(userId), encodeUser(userId)));
  }

  /** The entries of several users, in the order given: one command on a single Redis, one per user on a cluster. */
  async entriesOf(userIds: readonly string[]): Promise<UserEntries[]> {
    return (await this.valuesOf(userIds)).map(decodeEntries);
  }

  /** What a delivery worker reads: the devices of one system for each user given, in that order. */
  async devicesOf<S extends TokenSystem>(system: S, userIds: readonly string[]): Promise<DeviceOf<S>[][]> {
    return (await this.valuesOf(userIds)).map((v) => decodeDevices(v, system));
  }

  /** The stored values of several users, in the order given; ioredis auto-pipelining batches a cluster's HGETs. */
  private async valuesOf(userIds: readonly string[]): Promise<(string | null)[]> {
    if (userIds.length === 0) return [];
    const at = userIds.map((u) => this.users.at(u));
    if (this.cluster) return Promise.all(at.map(([key, field]) => this.redis.hget(key, field)));
    return this.redis.pfReadUsers(userIds.length, ...at.map(([key]) => key), ...at.map(([, field]) => field));
  }

  async apnsEntries(userId: string): Promise<UserEntries['apns']> {
    return (await this.entries(userId)).apns;
  }

  async gcmEntries(userId: string): Promise<UserEntries['gcm']> {
    return (await this.entries(userId)).gcm;
  }

  /** Tokens in the owner index (claim records), summed over its buckets: the bench and `registry migrate` count them. */
  async indexedTokens(): Promise<number> {
    const lens = await Promise.all(this.keys.allIndexBuckets().map((k) => this.redis.hlen(k)));
    return lens.reduce((a, b) => a + b, 0);
  }

  /** The user whose ACTIVE entry holds the token (a claim whose move is not complete does not count). */
  async ownerOf(system: TokenSystem, token: string): Promise<string | null> {
    const t = tokenOf(system, token);
    const { owner } = await this.record(system, t);
    if (!owner) return null;
    const e = await this.entries(owner);
    const held = system === 'apns' ? e.apns.some((x) => x.deviceToken === t) : e.gcm.some((x) => x.registrationId === t);
    return held ? owner : null;
  }
}
