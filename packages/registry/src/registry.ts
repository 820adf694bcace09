import type { Redis, Result } from 'ioredis';
import { ADD_ENTRY, READ_ENTRIES, REMOVE_ENTRY, REPLACE_ENTRY } from './scripts';
import type { PushSystem } from '@pushfleet/events';
import { registryKeys, RegistryKeys, SYSTEM_TAG } from './keys';
import { DeviceOf, devicesIn } from './devices';

export interface ApnsEntry {
  deviceToken: string;
  applicationId: string;
  sandbox: boolean;
  /** Only when the app registered one; else the worker uses the application id's bundle id. */
  apnsTopic?: string;
  registeredAt: number;
}

export interface GcmEntry {
  registrationId: string;
  registeredAt: number;
}

export interface UserEntries {
  apns: ApnsEntry[];
  gcm: GcmEntry[];
}

export interface AddResult {
  /** The token was registered to another user and now belongs to the caller. */
  movedFromOtherUser: boolean;
  /** The entry evicted because the caller went over the per-system cap. */
  evicted?: string;
}

export type ReplaceResult = 'replaced' | 'dropped-old' | 'not-found';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pfAddEntry(userKey: string, owners: string, userId: string, field: string, value: string, cap: number, userPrefix: string, tag: string): Result<[number, string], Context>;
    pfRemoveEntry(userKey: string, owners: string, userId: string, field: string, before: string): Result<number, Context>;
    pfReplaceEntry(userKey: string, owners: string, userId: string, oldField: string, newField: string): Result<number, Context>;
    pfReadEntries(numKeys: number, ...userKeys: string[]): Result<string[][], Context>;
  }
}

function decodeApns(token: string, value: string): ApnsEntry {
  const [at, applicationId, sandbox, topic] = value.split('|');
  const e: ApnsEntry = { deviceToken: token, applicationId, sandbox: sandbox === '1', registeredAt: Number(at) };
  if (topic) e.apnsTopic = topic;
  return e;
}

/** A user hash's HGETALL reply (flat field, value list) as entries, oldest registration first. */
function decodeEntries(flat: readonly string[]): UserEntries {
  const out: UserEntries = { apns: [], gcm: [] };
  for (let i = 0; i < flat.length; i += 2) {
    const field = flat[i];
    if (field.charCodeAt(0) === 97 /* a */) out.apns.push(decodeApns(field.slice(2), flat[i + 1]));
    else out.gcm.push({ registrationId: field.slice(2), registeredAt: Number(flat[i + 1]) });
  }
  out.apns.sort((x, y) => x.registeredAt - y.registeredAt);
  out.gcm.sort((x, y) => x.registeredAt - y.registeredAt);
  return out;
}

/**
 * The token registry: which devices a user has, and who owns a device. One token belongs to one user;
 * registering it as another user moves it (the device changed hands or the user changed accounts).
 */
export class TokenRegistry {
  readonly keys: RegistryKeys;

  constructor(private readonly redis: Redis, opts: { prefix?: string; maxTokensPerUser?: number } = {}) {
    this.keys = registryKeys(opts.prefix);
    this.maxTokensPerUser = opts.maxTokensPerUser ?? 50;
    if (!redis.pfAddEntry) {
      redis.defineCommand('pfAddEntry', { numberOfKeys: 2, lua: ADD_ENTRY });
      redis.defineCommand('pfRemoveEntry', { numberOfKeys: 2, lua: REMOVE_ENTRY });
      redis.defineCommand('pfReplaceEntry', { numberOfKeys: 2, lua: REPLACE_ENTRY });
      redis.defineCommand('pfReadEntries', { lua: READ_ENTRIES });
    }
  }

  private readonly maxTokensPerUser: number;

  async addApns(userId: string, e: { deviceToken: string; applicationId: string; sandbox: boolean; apnsTopic?: string }, now = Date.now()): Promise<AddResult> {
    const token = e.deviceToken.toLowerCase();
    const value = `${now}|${e.applicationId}|${e.sandbox ? 1 : 0}|${e.apnsTopic ?? ''}`;
    return this.add(userId, 'apns', token, value);
  }

  async addGcm(userId: string, registrationId: string, now = Date.now()): Promise<AddResult> {
    return this.add(userId, 'gcm', registrationId, String(now));
  }

  private async add(userId: string, system: PushSystem, token: string, value: string): Promise<AddResult> {
    const tag = SYSTEM_TAG[system];
    const [moved, evicted] = await this.redis.pfAddEntry(this.keys.user(userId), this.keys.owners, userId, `${tag}:${token}`, value, this.maxTokensPerUser, this.keys.userPrefix, tag);
    return { movedFromOtherUser: moved === 1, ...(evicted ? { evicted: evicted.slice(2) } : {}) };
  }

  /** Removes the caller's own entry; a token of another user is left alone. Resolves true when removed. */
  async remove(userId: string, system: PushSystem, token: string, opts: { registeredBefore?: number } = {}): Promise<boolean> {
    const t = system === 'apns' ? token.toLowerCase() : token;
    const before = opts.registeredBefore === undefined ? '' : String(Math.floor(opts.registeredBefore));
    return (await this.redis.pfRemoveEntry(this.keys.user(userId), this.keys.owners, userId, `${SYSTEM_TAG[system]}:${t}`, before)) === 1;
  }

  /** GCM canonical id: the provider says the device now answers to another id. */
  async replaceGcm(userId: string, oldId: string, canonicalId: string): Promise<ReplaceResult> {
    const r = await this.redis.pfReplaceEntry(this.keys.user(userId), this.keys.owners, userId, `g:${oldId}`, `g:${canonicalId}`);
    return r === 1 ? 'replaced' : r === 2 ? 'dropped-old' : 'not-found';
  }

  /** One round trip (HGETALL) for all of a user's entries; ioredis auto-pipelining batches concurrent calls. */
  async entries(userId: string): Promise<UserEntries> {
    return decodeEntries(await this.redis.call('HGETALL', this.keys.user(userId)) as string[]);
  }

  /** The entries of several users in one command (one Lua call), in the order given. */
  async entriesOf(userIds: readonly string[]): Promise<UserEntries[]> {
    if (userIds.length === 0) return [];
    const replies = await this.redis.pfReadEntries(userIds.length, ...userIds.map((u) => this.keys.user(u)));
    return replies.map(decodeEntries);
  }

  /** What a delivery worker reads: the devices of one system for each user given, in that order. */
  async devicesOf<S extends PushSystem>(system: S, userIds: readonly string[]): Promise<DeviceOf<S>[][]> {
    return (await this.entriesOf(userIds)).map((e) => devicesIn(e, system));
  }

  async apnsEntries(userId: string): Promise<ApnsEntry[]> {
    return (await this.entries(userId)).apns;
  }

  async gcmEntries(userId: string): Promise<GcmEntry[]> {
    return (await this.entries(userId)).gcm;
  }

  async ownerOf(system: PushSystem, token: string): Promise<string | null> {
    const t = system === 'apns' ? token.toLowerCase() : token;
    return this.redis.hget(this.keys.owners, `${SYSTEM_TAG[system]}:${t}`);
  }
}
