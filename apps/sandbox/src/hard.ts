import { EventEmitter } from 'node:events';
import { z } from 'zod';

/**
 * How hard the sandbox is: the real services' limits, each one a switch or a number (0 = off). Every
 * field is documented in the README ("Hard behaviours"). The `STRICT_RULES` are the ones the fleet once
 * did not survive; they are on by default like the rest, and `strict: false` turns them all off.
 */
export const hardSettingsSchema = z.object({
  /** APNs: a token-auth connection starts with MAX_CONCURRENT_STREAMS = apnsInitialStreams until a valid provider token is answered. */
  apnsStreamsUntilToken: z.boolean(),
  apnsInitialStreams: z.number().int().min(1),
  /** The limit after the first valid-token answer, and on certificate connections (or when the rule is off). */
  apnsRaisedStreams: z.number().int().min(1),
  /** APNs: 429 TooManyProviderTokenUpdates when a team's token (iat) changes sooner than this after the last change, across all connections. */
  apnsTeamTokenUpdates: z.boolean(),
  apnsTokenUpdateIntervalSeconds: z.number().min(0),
  /** APNs: 403 ExpiredProviderToken past this `iat` age (0 = never expires). */
  apnsProviderTokenMaxAgeSeconds: z.number().min(0),
  /** APNs: a device token issued for one environment answers 400 BadDeviceToken at the other. */
  apnsEnvironments: z.boolean(),
  /** APNs: GOAWAY `IdleTimeout` after this long without traffic on a connection (0 = never). New connections only. */
  apnsIdleTimeoutMs: z.number().int().min(0),
  /** FCM: a registration token issued for one project answers 403 SENDER_ID_MISMATCH (legacy: MismatchSenderId) under another. */
  fcmSenderId: z.boolean(),
  /** FCM v1: 429 QUOTA_EXCEEDED past this many messages per project per minute (0 = off). */
  fcmProjectQuotaPerMinute: z.number().int().min(0),
  /** FCM v1: 429 QUOTA_EXCEEDED past this many messages per device token per minute (0 = off). */
  fcmDeviceQuotaPerMinute: z.number().int().min(0),
  /** OAuth token endpoint: 429 rate_limit_exceeded past this many grant requests per service account per minute (0 = off). */
  fcmGrantsPerMinute: z.number().int().min(0),
  /** Lifetime of OAuth access tokens granted from now on (an expired one answers 401 UNAUTHENTICATED). */
  fcmAccessTokenTtlSeconds: z.number().min(0),
}).strict();

export type HardSettings = z.infer<typeof hardSettingsSchema>;

/** The rules the fleet (packages/delivery) once did not survive: on by default; `strict: false` switches them off together. */
export const STRICT_RULES = ['apnsStreamsUntilToken', 'apnsTeamTokenUpdates'] as const;

export const DEFAULT_HARD_SETTINGS: Readonly<HardSettings> = {
  apnsStreamsUntilToken: true,
  apnsInitialStreams: 1,
  apnsRaisedStreams: 1000,
  apnsTeamTokenUpdates: true,
  apnsTokenUpdateIntervalSeconds: 20 * 60,
  apnsProviderTokenMaxAgeSeconds: 3600,
  apnsEnvironments: true,
  apnsIdleTimeoutMs: 60 * 60 * 1000,
  fcmSenderId: true,
  fcmProjectQuotaPerMinute: 600_000,
  fcmDeviceQuotaPerMinute: 240,
  fcmGrantsPerMinute: 60,
  fcmAccessTokenTtlSeconds: 3600,
};

/** An update: any subset of the settings, plus `strict: true|false` to switch every strict rule at once. */
export const hardUpdateSchema = hardSettingsSchema.partial().extend({ strict: z.boolean().optional() }).strict();
export type HardUpdate = z.input<typeof hardUpdateSchema>;

function applyUpdate(base: HardSettings, update: HardUpdate): HardSettings {
  const { strict, ...rest } = hardUpdateSchema.parse(update);
  const next = { ...base };
  if (strict !== undefined) for (const k of STRICT_RULES) next[k] = strict;
  return { ...next, ...rest };
}

/** The live settings; emits 'change' with the new settings after each update. */
export class Hard extends EventEmitter {
  private current: HardSettings;
  private readonly initial: HardSettings;

  constructor(update: HardUpdate = {}) {
    super();
    this.initial = applyUpdate({ ...DEFAULT_HARD_SETTINGS }, update);
    this.current = { ...this.initial };
  }

  get settings(): Readonly<HardSettings> {
    return this.current;
  }

  /** Applies a partial update (validated; throws a ZodError on a bad one). */
  set(update: HardUpdate): HardSettings {
    this.current = applyUpdate(this.current, update);
    this.emit('change', this.current);
    return { ...this.current };
  }

  /** Back to the settings the sandbox was started with. */
  restore(): void {
    this.current = { ...this.initial };
    this.emit('change', this.current);
  }
}

/** Fixed one-minute windows per key: `over` answers undefined (allowed) or the seconds until the window ends. */
export class RateWindows {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly windowMs = 60_000, private readonly maxKeys = 200_000) {}

  /** Whether one more would go over `limit` (0 = no limit), without counting it. */
  over(key: string, limit: number, now = Date.now()): number | undefined {
    if (limit <= 0) return undefined;
    const w = this.window(key, now);
    return w.count >= limit ? Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)) : undefined;
  }

  /** Counts one. */
  add(key: string, now = Date.now()): void {
    this.window(key, now).count++;
  }

  /** `over`, then `add` when allowed. */
  take(key: string, limit: number, now = Date.now()): number | undefined {
    const over = this.over(key, limit, now);
    if (over === undefined && limit > 0) this.add(key, now);
    return over;
  }

  clear(): void {
    this.windows.clear();
  }

  private window(key: string, now: number): { start: number; count: number } {
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.windowMs) {
      if (w === undefined && this.windows.size >= this.maxKeys) this.prune(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    return w;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    if (this.windows.size >= this.maxKeys) this.windows.clear();
  }
}

/** The current provider token (its `iat`) of each APNs team, shared by every connection of the sandbox. */
export class TeamTokens {
  private teams = new Map<string, { iat: number; since: number }>();

  /**
   * False when `iat` replaces the team's token sooner than `minIntervalMs` after the last change, unless
   * the current token is already past `maxAgeMs` (0 = no limit): replacing an expired token is always allowed.
   */
  accept(teamId: string, iat: number, minIntervalMs: number, maxAgeMs = 0, now = Date.now()): boolean {
    const t = this.teams.get(teamId);
    if (t !== undefined && t.iat === iat) return true;
    const expired = t !== undefined && maxAgeMs > 0 && now - t.iat * 1000 > maxAgeMs;
    if (t !== undefined && !expired && now - t.since < minIntervalMs) return false;
    this.teams.set(teamId, { iat, since: now });
    return true;
  }

  clear(): void {
    this.teams.clear();
  }
}
