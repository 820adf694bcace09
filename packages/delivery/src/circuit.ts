/**
 * Per-app circuit for configuration failures (bad credentials, wrong topic, API gone): after `threshold`
 * consecutive failures the app's tokens are held back for `cooldownMs` instead of hammering the provider;
 * then one job probes again. Local to the process: every worker learns on its own, which is enough to stop
 * the hammering.
 */
export class AppCircuit {
  private readonly failures = new Map<string, number>();
  private readonly openUntil = new Map<string, number>();

  constructor(private readonly threshold = 3, private readonly cooldownMs = 30_000, private readonly onOpen?: (app: string) => void) {}

  /** Milliseconds the app stays blocked, 0 when closed. */
  blockedFor(app: string, now = Date.now()): number {
    const until = this.openUntil.get(app);
    if (until === undefined) return 0;
    if (until <= now) {
      this.openUntil.delete(app); // half-open: the next send probes
      return 0;
    }
    return until - now;
  }

  failure(app: string, now = Date.now()): void {
    const n = (this.failures.get(app) ?? 0) + 1;
    this.failures.set(app, n);
    if (n >= this.threshold && !this.openUntil.has(app)) {
      this.openUntil.set(app, now + this.cooldownMs);
      this.failures.set(app, 0);
      this.onOpen?.(app);
    }
  }

  /** Opens the app's circuit now (the prune-storm guard holds its prunes); no-op while already open. */
  hold(app: string, now = Date.now()): void {
    if ((this.openUntil.get(app) ?? 0) > now) return;
    this.openUntil.set(app, now + this.cooldownMs);
    this.failures.set(app, 0);
    this.onOpen?.(app);
  }

  success(app: string): void {
    if (this.failures.has(app)) this.failures.delete(app);
  }

  /** True while the app has configuration failures not yet cleared by a success (or open). */
  suspect(app: string): boolean {
    return (this.failures.get(app) ?? 0) > 0 || this.openUntil.has(app);
  }

  openApps(now = Date.now()): string[] {
    return [...this.openUntil.entries()].filter(([, until]) => until > now).map(([app]) => app);
  }
}
