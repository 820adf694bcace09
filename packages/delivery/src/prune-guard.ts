import { PRUNING_DEFAULTS } from '@pushfleet/config';

export interface PruneGuardOptions {
  /** @defaultValue PRUNING_DEFAULTS.maxShare (0.2) */
  maxShare?: number;
  /** @defaultValue PRUNING_DEFAULTS.minAnswers (100) */
  minAnswers?: number;
  /** @defaultValue PRUNING_DEFAULTS.windowMs (5 minutes) */
  windowMs?: number;
  /** The guard stopped pruning this app and environment. */
  onTrip?: (app: string, environment: string) => void;
  /** The answers look normal again: pruning resumes. */
  onRelease?: (app: string, environment: string) => void;
}

/** The window in ten slices: old answers leave it a slice at a time. */
const SLICES = 10;

interface Slice { start: number; answers: number; prunes: number }
/** `answers` and `prunes` are the sums over the slices still in the window. */
interface Scope { slices: Slice[]; tripped: boolean; answers: number; prunes: number }

/**
 * The prune-storm guard: per app and environment, the share of provider answers in a sliding window that
 * ask to prune. Normal churn is a few percent (devices uninstalled); a share far above that means OUR
 * side is wrong (APNs production and sandbox endpoints swapped: BadDeviceToken for every token; a topic
 * or project mix-up), and pruning then would delete every good token at delivery speed. A prune is
 * carried out only while the window's prunes stay within `maxShare` of its answers (of at least
 * `minAnswers`, so the first answers after a start cannot prune more than `maxShare * minAnswers`).
 * Past that the guard trips for the scope and holds every prune until the share is back under the limit
 * on at least `minAnswers` answers. Local to the process, like the circuit.
 */
export class PruneGuard {
  /** Per app, per environment. */
  private readonly scopes = new Map<string, Map<string, Scope>>();
  private readonly maxShare: number;
  private readonly minAnswers: number;
  private readonly sliceMs: number;

  constructor(private readonly o: PruneGuardOptions = {}) {
    this.maxShare = o.maxShare ?? PRUNING_DEFAULTS.maxShare;
    this.minAnswers = o.minAnswers ?? PRUNING_DEFAULTS.minAnswers;
    this.sliceMs = Math.max(1, Math.floor((o.windowMs ?? PRUNING_DEFAULTS.windowMs) / SLICES));
  }

  /** Counts one provider answer for the app's environment; for a prune answer, whether to carry it out. */
  answer(app: string, environment: string, prune: boolean, now = Date.now()): boolean {
    const scope = this.scope(app, environment);
    const slice = this.slice(scope, now);
    slice.answers++;
    scope.answers++;
    if (prune) {
      slice.prunes++;
      scope.prunes++;
    }
    this.expire(scope, now);
    const { answers, prunes } = scope;
    const within = prunes <= this.maxShare * Math.max(answers, this.minAnswers);
    if (scope.tripped) {
      if (answers >= this.minAnswers && prunes <= this.maxShare * answers) {
        scope.tripped = false;
        this.o.onRelease?.(app, environment);
        return prune;
      }
      return false;
    }
    if (prune && !within) {
      scope.tripped = true;
      this.o.onTrip?.(app, environment);
      return false;
    }
    return true;
  }

  /** Whether pruning is stopped for the app's environment now. */
  tripped(app: string, environment: string): boolean {
    return this.scopes.get(app)?.get(environment)?.tripped ?? false;
  }

  private scope(app: string, environment: string): Scope {
    let envs = this.scopes.get(app);
    if (!envs) this.scopes.set(app, (envs = new Map()));
    let s = envs.get(environment);
    if (!s) envs.set(environment, (s = { slices: [], tripped: false, answers: 0, prunes: 0 }));
    return s;
  }

  private slice(scope: Scope, now: number): Slice {
    const start = now - (now % this.sliceMs);
    const last = scope.slices[scope.slices.length - 1];
    if (last && last.start === start) return last;
    const s = { start, answers: 0, prunes: 0 };
    scope.slices.push(s);
    return s;
  }

  /** Drops the slices that left the window, and their counts from the scope's sums. */
  private expire(scope: Scope, now: number): void {
    const oldest = now - SLICES * this.sliceMs;
    while (scope.slices.length > 0 && scope.slices[0].start <= oldest) {
      const s = scope.slices.shift()!;
      scope.answers -= s.answers;
      scope.prunes -= s.prunes;
    }
  }
}
