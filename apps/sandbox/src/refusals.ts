import type { SandboxEndpoint, SandboxSystem } from './recorder';

/** Which hard behaviour refused something (closed set; see the README's "Hard behaviours"). */
export type RefusalRule =
  | 'streams-until-token' | 'max-concurrent-streams' | 'provider-token-expired' | 'provider-token-invalid'
  | 'provider-token-updates' | 'environment' | 'idle-timeout' | 'sender-id' | 'project-quota'
  | 'device-quota' | 'access-token-expired' | 'token-grant-rate';

export interface Refusal {
  time: number;
  rule: RefusalRule;
  system: SandboxSystem | 'oauth';
  endpoint?: SandboxEndpoint;
  /** HTTP status answered; 0 when the refusal was a frame (RST_STREAM, GOAWAY). */
  status: number;
  /** The provider's reason: APNs reason, FCM errorCode, legacy error, OAuth error, or the HTTP/2 error name. */
  reason: string;
  /** The first 8 characters of the device token, team id or account the refusal was about ('' if none). */
  subject: string;
}

export interface RefusalReport {
  total: number;
  /** rule -> reason -> count */
  byRule: Record<string, Record<string, number>>;
  /** Most recent first. */
  recent: Refusal[];
}

/** What the hard behaviours refused and why: counts per rule and reason, and the most recent refusals. */
export class Refusals {
  private counts = new Map<RefusalRule, Map<string, number>>();
  private recentList: Refusal[] = [];
  private total = 0;

  constructor(private readonly keep = 200) {}

  add(r: Omit<Refusal, 'time' | 'subject'> & { subject?: string }): void {
    const entry: Refusal = { ...r, subject: (r.subject ?? '').slice(0, 8), time: Date.now() };
    let byReason = this.counts.get(r.rule);
    if (byReason === undefined) this.counts.set(r.rule, (byReason = new Map()));
    byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
    this.total++;
    this.recentList.push(entry);
    if (this.recentList.length > this.keep * 2) this.recentList = this.recentList.slice(-this.keep);
  }

  /** How many refusals a rule made (optionally with one reason). */
  count(rule: RefusalRule, reason?: string): number {
    const m = this.counts.get(rule);
    if (m === undefined) return 0;
    if (reason !== undefined) return m.get(reason) ?? 0;
    let n = 0;
    for (const v of m.values()) n += v;
    return n;
  }

  report(limit = 50): RefusalReport {
    const byRule: Record<string, Record<string, number>> = {};
    for (const [rule, m] of this.counts) byRule[rule] = Object.fromEntries(m);
    return { total: this.total, byRule, recent: this.recentList.slice(-Math.min(limit, this.keep)).reverse() };
  }

  clear(): void {
    this.counts.clear();
    this.recentList = [];
    this.total = 0;
  }
}
