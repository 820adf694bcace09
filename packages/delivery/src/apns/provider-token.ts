import { KeyObject, randomBytes, sign } from 'node:crypto';
import type { Logger } from 'pino';
import type { TokenStore } from './token-store';

/**
 * Apple's rules for the provider token (JWT) of a team's key: it expires one hour after its `iat`, and
 * replacing it sooner than 20 minutes after the last replacement answers 429 TooManyProviderTokenUpdates:
 * counted per team, and in practice across every instance behind one egress. So the whole fleet uses ONE
 * token per team and key, kept in a shared store (Redis: docs/redis-keys.md), replaced by one worker at a
 * time (a lock) between 20 and 60 minutes after its `iat`.
 */
export const PROVIDER_TOKEN_TIMING = Object.freeze({
  /** A worker that sees the fleet's token this old replaces it (under the lock). */
  refreshAfterS: 40 * 60,
  /** Never replace a token younger than this (Apple's 20-minute rule), even when Apple calls it expired. */
  minReplaceAgeS: 20 * 60,
  /** A token this old is not taken at start-up: it is replaced (Apple expires it at 60 minutes). */
  maxUsableAgeS: 55 * 60,
  /** The replacing worker's lock. */
  lockMs: 10_000,
  /** How often a worker with an old token asks the store again. */
  checkEveryMs: 5_000,
  /** A starting worker waits this long for the worker holding the lock before it signs alone. */
  startWaitMs: 15_000,
});

export interface StoredToken { iat: number; jwt: string }

interface Team {
  teamId: string;
  keyId: string;
  key: KeyObject;
  current?: StoredToken;
  busy?: Promise<void>;
  lastCheck: number;
}

export interface ProviderTokensOptions {
  store: TokenStore;
  logger?: Logger;
  /** Tests: the clock, in ms. */
  now?: () => number;
  /** Called on every new signature (tests count them). */
  onSign?: (teamId: string) => void;
  /** Tests: shorter ages (seconds) against a sandbox whose tokens expire in seconds. @defaultValue PROVIDER_TOKEN_TIMING */
  timing?: Partial<typeof PROVIDER_TOKEN_TIMING>;
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** An ES256 provider token: header {alg, kid}, claims {iss: team, iat}; JWS wants the raw r||s signature (IEEE P1363). */
export function signProviderToken(key: KeyObject, keyId: string, teamId: string, iat: number): string {
  const input = `${b64({ alg: 'ES256', kid: keyId })}.${b64({ iss: teamId, iat })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** The fleet's provider tokens, one per (team, key), as this process sees them. */
export class ProviderTokens {
  private readonly teams = new Map<string, Team>();
  private lastTeam?: Team;
  private readonly now: () => number;
  private readonly timing: typeof PROVIDER_TOKEN_TIMING;

  constructor(private readonly o: ProviderTokensOptions) {
    this.now = o.now ?? Date.now;
    this.timing = { ...PROVIDER_TOKEN_TIMING, ...o.timing };
  }

  /** Registers a team's key, loaded by `loadApnsSigningKey` (once per team and key; later calls are ignored). */
  register(teamId: string, keyId: string, key: KeyObject): void {
    const id = `${teamId}:${keyId}`;
    if (!this.teams.has(id)) this.teams.set(id, { teamId, keyId, key, lastCheck: 0 });
  }

  /** The token to send now and its `iat`. Loads the fleet's token first; an old one is replaced in the background. */
  async current(teamId: string, keyId: string): Promise<StoredToken> {
    const t = this.team(teamId, keyId);
    if (!t.current) await this.once(t, () => this.start(t));
    else if (this.age(t.current.iat) >= this.timing.refreshAfterS && this.now() - t.lastCheck >= this.timing.checkEveryMs) {
      t.lastCheck = this.now();
      void this.once(t, () => this.refresh(t)).catch((e: Error) => this.o.logger?.warn({ teamId, err: e.message }, 'provider token refresh failed; the current token is kept'));
    }
    return t.current!;
  }

  /**
   * The token `current` would resolve with when it has nothing to do first (a token is loaded and no
   * refresh check is due), else undefined: then call `current`. Lets a send skip a promise per request.
   */
  ready(teamId: string, keyId: string): StoredToken | undefined {
    const t = this.team(teamId, keyId);
    if (!t.current || (this.age(t.current.iat) >= this.timing.refreshAfterS && this.now() - t.lastCheck >= this.timing.checkEveryMs)) return undefined;
    return t.current;
  }

  /**
   * Apple answered ExpiredProviderToken for a request signed at `iat`: take the fleet's newer token, or
   * replace it when it really is old enough to be (never sooner than 20 minutes after its iat).
   */
  async afterExpired(teamId: string, keyId: string, iat: number): Promise<void> {
    const t = this.team(teamId, keyId);
    await this.once(t, async () => {
      if (t.current && t.current.iat > iat) return;
      const stored = await this.o.store.read(this.id(t));
      if (stored && stored.iat > iat) return this.take(t, stored);
      if (this.age(iat) >= this.timing.minReplaceAgeS && !(await this.replace(t, iat))) await this.awaitNewer(t, iat);
    });
  }

  /** Apple answered TooManyProviderTokenUpdates: take whatever token the fleet has now. Never signs. */
  async adopt(teamId: string, keyId: string): Promise<void> {
    const t = this.team(teamId, keyId);
    await this.once(t, async () => {
      const stored = await this.o.store.read(this.id(t));
      if (stored && (!t.current || stored.iat >= t.current.iat)) this.take(t, stored);
    });
  }

  async close(): Promise<void> {
    await this.o.store.close();
  }

  private team(teamId: string, keyId: string): Team {
    const l = this.lastTeam;
    if (l && l.teamId === teamId && l.keyId === keyId) return l; // most processes have one team: no key string per send
    const t = this.teams.get(`${teamId}:${keyId}`);
    if (t) this.lastTeam = t;
    if (!t) throw new Error(`no APNs key registered for team ${teamId} key ${keyId}`);
    return t;
  }

  private id(t: Team): string {
    return `${t.teamId}:${t.keyId}`;
  }

  private age(iat: number): number {
    return this.now() / 1000 - iat;
  }

  /** One store conversation per team at a time; concurrent callers share it. */
  private once(t: Team, run: () => Promise<void>): Promise<void> {
    t.busy ??= run().finally(() => { t.busy = undefined; });
    return t.busy;
  }

  private take(t: Team, token: StoredToken): void {
    t.current = token;
  }

  /** Start-up: the fleet's token unless it is (nearly) expired; else replace it, or wait for whoever is. */
  private async start(t: Team): Promise<void> {
    const deadline = Date.now() + this.timing.startWaitMs;
    for (;;) {
      const stored = await this.o.store.read(this.id(t));
      if (stored && this.age(stored.iat) < this.timing.maxUsableAgeS) return this.take(t, stored);
      if (await this.replace(t, stored?.iat)) return;
      if (Date.now() >= deadline) {
        this.o.logger?.warn({ teamId: t.teamId }, 'no shared provider token and the lock stays taken: signing one for this worker alone');
        return this.take(t, this.signNew(t));
      }
      await pause(50);
    }
  }

  /** Another worker holds the lock: wait (real time, at most the lock's life) for the token it stores. */
  private async awaitNewer(t: Team, iat: number): Promise<void> {
    const deadline = Date.now() + this.timing.lockMs;
    while (Date.now() < deadline) {
      const stored = await this.o.store.read(this.id(t));
      if (stored && stored.iat > iat) return this.take(t, stored);
      await pause(50);
    }
  }

  /** In the background, once the token is old: a newer one in the store, or replace it under the lock. */
  private async refresh(t: Team): Promise<void> {
    const stored = await this.o.store.read(this.id(t));
    if (stored && t.current && stored.iat > t.current.iat) this.take(t, stored);
    if (t.current && this.age(t.current.iat) >= this.timing.refreshAfterS) await this.replace(t, t.current.iat);
  }

  /**
   * Under the lock: unless someone replaced the token seen (`seenIat`) meanwhile, sign a new one and
   * store it. False when another worker holds the lock.
   */
  private async replace(t: Team, seenIat: number | undefined): Promise<boolean> {
    const id = this.id(t);
    const lock = randomBytes(8).toString('hex');
    if (!(await this.o.store.lock(id, lock, this.timing.lockMs))) return false;
    try {
      const stored = await this.o.store.read(id);
      if (stored && stored.iat !== seenIat && this.age(stored.iat) < this.timing.maxUsableAgeS) {
        this.take(t, stored);
        return true;
      }
      const fresh = this.signNew(t);
      await this.o.store.write(id, fresh, 3600_000);
      this.take(t, fresh);
      this.o.logger?.info({ teamId: t.teamId, keyId: t.keyId, iat: fresh.iat }, 'signed the fleet\'s new APNs provider token');
      return true;
    } finally {
      await this.o.store.unlock(id, lock).catch(() => undefined);
    }
  }

  private signNew(t: Team): StoredToken {
    const iat = Math.floor(this.now() / 1000);
    this.o.onSign?.(t.teamId);
    return { iat, jwt: signProviderToken(t.key, t.keyId, t.teamId, iat) };
  }
}
