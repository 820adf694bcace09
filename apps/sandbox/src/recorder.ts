import { EventEmitter } from 'node:events';

export type SandboxSystem = 'apns' | 'gcm' | 'fcm';
export type SandboxEndpoint = 'production' | 'development' | 'legacy' | 'v1';

export const SYSTEMS: readonly SandboxSystem[] = ['apns', 'gcm', 'fcm'];
export const ENDPOINTS: readonly SandboxEndpoint[] = ['production', 'development', 'legacy', 'v1'];

/**
 * One request as a provider would have seen it. A legacy (`/fcm/send`) request for N registration ids is
 * recorded as N entries that share the same headers and body.
 */
export interface RecordedRequest {
  system: SandboxSystem;
  endpoint: SandboxEndpoint;
  /** Device token / registration id / topic; '' when the request named none that could be read. */
  token: string;
  /** Request headers as received (HTTP/2 pseudo-headers included). */
  headers: Record<string, string | string[] | undefined>;
  /** The raw request body. */
  body: string;
  /** When the request arrived (ms since epoch). */
  time: number;
  /** HTTP status answered, or 0 when none was (black hole, GOAWAY, stream reset). */
  status: number;
  /** APNs reason, legacy per-result error, or FCM v1 errorCode; absent on success. */
  reason?: string;
  /** apns-id / legacy message_id / v1 message name, on success. */
  id?: string;
}

export interface DeliveryFilter {
  system?: SandboxSystem;
  endpoint?: SandboxEndpoint;
  token?: string;
  /** Only the most recent `limit` matches. */
  limit?: number;
}

export interface SandboxStats {
  /** Requests received per system (legacy: per registration id). */
  requests: Record<SandboxSystem, number>;
  /** Of those, the ones answered 200 without a per-result error. */
  succeeded: Record<SandboxSystem, number>;
  /** Count per answered status ("0" = never answered). */
  byStatus: Record<string, number>;
  /** Count per reason / error code. */
  byReason: Record<string, number>;
  /** OAuth2 access tokens granted by the token endpoint. */
  oauthGrants: number;
  /** Distinct tokens seen. */
  tokens: number;
  /** Entries currently held in memory (capped). */
  recorded: number;
}

/**
 * Records every request the sandbox receives. The list of entries is a ring buffer capped at `limit`
 * (oldest dropped first, or nothing kept when recording is off); per-token and per-system counts are
 * always kept. Emits `'request'` with each {@link RecordedRequest} and `'grant'` for each OAuth grant.
 */
export class Recorder extends EventEmitter {
  private ring: (RecordedRequest | undefined)[] = [];
  private next = 0;
  private size = 0;
  private readonly perToken: Record<SandboxSystem, Map<string, number>> = { apns: new Map(), gcm: new Map(), fcm: new Map() };
  private requests: Record<SandboxSystem, number> = { apns: 0, gcm: 0, fcm: 0 };
  private succeeded: Record<SandboxSystem, number> = { apns: 0, gcm: 0, fcm: 0 };
  private byStatus = new Map<number, number>();
  private byReason = new Map<string, number>();
  private grants = 0;

  constructor(readonly limit = 100_000, readonly keepEntries = true) {
    super();
    this.setMaxListeners(0);
  }

  /** @internal Called by the servers for each request (per registration id on legacy). */
  record(entry: RecordedRequest): void {
    const sys = entry.system;
    this.requests[sys]++;
    const counts = this.perToken[sys];
    counts.set(entry.token, (counts.get(entry.token) ?? 0) + 1);
    this.byStatus.set(entry.status, (this.byStatus.get(entry.status) ?? 0) + 1);
    if (entry.reason !== undefined) {
      this.byReason.set(entry.reason, (this.byReason.get(entry.reason) ?? 0) + 1);
    } else if (entry.status === 200) {
      this.succeeded[sys]++;
    }
    if (this.keepEntries && this.limit > 0) {
      this.ring[this.next] = entry;
      this.next = this.next + 1 === this.limit ? 0 : this.next + 1;
      if (this.size < this.limit) this.size++;
    }
    if (this.listenerCount('request') > 0) this.emit('request', entry);
  }

  /** @internal */
  recordGrant(clientEmail: string): void {
    this.grants++;
    if (this.listenerCount('grant') > 0) this.emit('grant', clientEmail);
  }

  /** Recorded requests, oldest first. */
  deliveries(filter: DeliveryFilter = {}): RecordedRequest[] {
    const out: RecordedRequest[] = [];
    const start = this.size < this.limit ? 0 : this.next;
    for (let i = 0; i < this.size; i++) {
      const e = this.ring[(start + i) % this.limit];
      if (!e) continue;
      if (filter.system && e.system !== filter.system) continue;
      if (filter.endpoint && e.endpoint !== filter.endpoint) continue;
      if (filter.token !== undefined && e.token !== filter.token) continue;
      out.push(e);
    }
    return filter.limit !== undefined && filter.limit >= 0 && out.length > filter.limit ? out.slice(out.length - filter.limit) : out;
  }

  /** How many requests named this token (on one system, or on all of them). */
  countFor(token: string, system?: SandboxSystem): number {
    if (system) return this.perToken[system].get(token) ?? 0;
    return (this.perToken.apns.get(token) ?? 0) + (this.perToken.gcm.get(token) ?? 0) + (this.perToken.fcm.get(token) ?? 0);
  }

  /** Requests received per system. */
  totals(): Record<SandboxSystem, number> {
    return { ...this.requests };
  }

  get oauthGrants(): number {
    return this.grants;
  }

  stats(): SandboxStats {
    return {
      requests: { ...this.requests },
      succeeded: { ...this.succeeded },
      byStatus: Object.fromEntries([...this.byStatus].map(([k, v]) => [String(k), v])),
      byReason: Object.fromEntries(this.byReason),
      oauthGrants: this.grants,
      tokens: this.perToken.apns.size + this.perToken.gcm.size + this.perToken.fcm.size,
      recorded: this.size,
    };
  }

  /** Forgets every entry and count. */
  clear(): void {
    this.ring = [];
    this.next = 0;
    this.size = 0;
    for (const s of Object.values(this.perToken)) s.clear();
    this.requests = { apns: 0, gcm: 0, fcm: 0 };
    this.succeeded = { apns: 0, gcm: 0, fcm: 0 };
    this.byStatus.clear();
    this.byReason.clear();
    this.grants = 0;
  }
}
