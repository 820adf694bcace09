import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ENDPOINTS, SYSTEMS, SandboxEndpoint, SandboxSystem } from './recorder';

/**
 * One scripted behaviour. Selectors say which requests it applies to; effects say what happens to them.
 * See apps/sandbox/README.md ("Behaviours") for the full semantics per system.
 */
export const behaviourRuleSchema = z
  .object({
    /** Assigned when absent; setting a rule with an existing id replaces it. */
    id: z.string().min(1).optional(),
    // --- selectors -------------------------------------------------------------------------------------
    system: z.enum(SYSTEMS as [SandboxSystem, ...SandboxSystem[]]).optional(),
    endpoint: z.enum(ENDPOINTS as [SandboxEndpoint, ...SandboxEndpoint[]]).optional(),
    /** Exact device token / registration id / topic. */
    token: z.string().min(1).optional(),
    /** Token prefix (the longest matching prefix wins over shorter ones). */
    tokenPrefix: z.string().min(1).optional(),
    /** Apply to the first N matching requests only, then fall through ("fail N times then succeed"). */
    times: z.number().int().positive().optional(),
    /** Apply to this fraction of matching requests (a 5xx storm). Deterministic: 0.5 = every 2nd request. */
    ratio: z.number().gt(0).lte(1).optional(),
    /** With `ratio`: pick requests with a seeded PRNG instead of the evenly spaced default. */
    seed: z.number().int().optional(),
    // --- effects ---------------------------------------------------------------------------------------
    /** HTTP status to answer (default from `reason` via the provider's table, else 200). */
    status: z.number().int().min(100).max(599).optional(),
    /** APNs reason / legacy per-result error / FCM v1 errorCode. */
    reason: z.string().min(1).optional(),
    /** APNs 410 `timestamp` (ms); default: now. */
    timestamp: z.number().int().nonnegative().optional(),
    /** `retry-after` response header (seconds or an HTTP date). */
    retryAfter: z.union([z.number().int().nonnegative(), z.string().min(1)]).optional(),
    /** Legacy only: answer `registration_id` (canonical id) in this token's result. */
    canonicalId: z.string().min(1).optional(),
    /** Delay the answer by this many milliseconds. */
    latencyMs: z.number().int().nonnegative().max(600_000).optional(),
    /** Accept the request and never answer it. */
    blackHole: z.boolean().optional(),
    /** HTTP/2: send GOAWAY (debug data `{"reason":...}`) and drop the connection; HTTP/1.1: destroy the socket. */
    goaway: z.union([z.boolean(), z.object({ code: z.number().int().nonnegative().optional(), reason: z.string().min(1).optional() }).strict()]).optional(),
    /** HTTP/2: reset the stream with this error code (11 = ENHANCE_YOUR_CALM); HTTP/1.1: destroy the socket. */
    reset: z.number().int().nonnegative().optional(),
    /** Raw response body instead of the provider-shaped one (e.g. an HTML 502, or '' for an empty 200). */
    body: z.string().optional(),
    /** Content-Type for `body` (default text/html for bodies starting with '<', else text/plain). */
    contentType: z.string().min(1).optional(),
    /** Extra response headers. */
    headers: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .refine((r) => !(r.token && r.tokenPrefix), { message: 'give token or tokenPrefix, not both' });

export type BehaviourRule = z.input<typeof behaviourRuleSchema>;
export type Behaviour = z.output<typeof behaviourRuleSchema> & { id: string };

/** A rule as listed: the rule plus how often it fired and what is left of `times`. */
export interface BehaviourState {
  rule: Behaviour;
  hits: number;
  remaining?: number;
}

interface Entry {
  rule: Behaviour;
  seq: number;
  rank: number;
  hits: number;
  remaining: number | undefined;
  acc: number;
  rng: (() => number) | undefined;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a request-level legacy rule is (answers the whole HTTP request) as opposed to a per-result one. */
export function isRequestLevel(r: Behaviour): boolean {
  if ((r.status !== undefined && r.status !== 200) || r.body !== undefined || r.blackHole === true) return true;
  if ((r.goaway !== undefined && r.goaway !== false) || r.reset !== undefined) return true;
  return r.reason === undefined && r.canonicalId === undefined;
}

/**
 * The scripted behaviours. The most specific matching rule wins: an exact `token` rule, then the longest
 * `tokenPrefix`, then rules without a token; among equals the newest. A rule whose `times` are used up,
 * or that `ratio` skips for this request, lets the request fall through to the next rule (and to normal
 * handling when none is left).
 */
export class Behaviours {
  private entries: Entry[] = [];
  private seq = 0;

  /** Adds (or, with an existing id, replaces) a rule; returns its id. Throws a ZodError on a bad rule. */
  set(rule: BehaviourRule): string {
    const parsed = behaviourRuleSchema.parse(rule);
    const id = parsed.id ?? randomUUID();
    const r: Behaviour = { ...parsed, id };
    this.entries = this.entries.filter((e) => e.rule.id !== id);
    const rank = r.token !== undefined ? 1_000_000 : r.tokenPrefix !== undefined ? r.tokenPrefix.length : -1;
    this.entries.push({
      rule: r, seq: ++this.seq, rank, hits: 0, remaining: r.times, acc: 0,
      rng: r.ratio !== undefined && r.seed !== undefined ? mulberry32(r.seed) : undefined,
    });
    this.entries.sort((a, b) => b.rank - a.rank || b.seq - a.seq);
    return id;
  }

  remove(id: string): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.rule.id !== id);
    return this.entries.length !== before;
  }

  clear(): void {
    this.entries = [];
  }

  list(): BehaviourState[] {
    return this.entries.map((e) => ({ rule: e.rule, hits: e.hits, ...(e.remaining !== undefined ? { remaining: e.remaining } : {}) }));
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * @internal The rule that applies to this request, consuming one of its `times` / ratio slots; undefined
   * when none does. `tokens` holds one token, or all registration ids of a legacy request (a token rule
   * then matches when any of them matches).
   */
  match(system: SandboxSystem, endpoint: SandboxEndpoint, tokens: string | readonly string[], accept?: (r: Behaviour) => boolean): Behaviour | undefined {
    const list = this.entries;
    if (list.length === 0) return undefined;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      const r = e.rule;
      if (r.system !== undefined && r.system !== system) continue;
      if (r.endpoint !== undefined && r.endpoint !== endpoint) continue;
      if (r.token !== undefined || r.tokenPrefix !== undefined) {
        if (!tokenMatches(r, tokens)) continue;
      }
      if (accept && !accept(r)) continue;
      if (e.remaining !== undefined && e.remaining <= 0) continue;
      if (r.ratio !== undefined && r.ratio < 1) {
        if (e.rng) {
          if (e.rng() >= r.ratio) continue;
        } else {
          e.acc += r.ratio;
          if (e.acc < 1 - 1e-9) continue;
          e.acc -= 1;
        }
      }
      if (e.remaining !== undefined) e.remaining--;
      e.hits++;
      return r;
    }
    return undefined;
  }
}

function tokenMatches(r: Behaviour, tokens: string | readonly string[]): boolean {
  if (typeof tokens === 'string') return one(r, tokens);
  for (const t of tokens) if (one(r, t)) return true;
  return false;
}

function one(r: Behaviour, token: string): boolean {
  return r.token !== undefined ? token === r.token : token.startsWith(r.tokenPrefix as string);
}
