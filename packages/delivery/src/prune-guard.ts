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
interface Scope { slices: Slice[]; tripped: boolean }

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
  private readonly scopes = new Map<string, Scope>();
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
    if (prune) slice.prunes++;
    const { answers, prunes } = this.totals(scope, now);
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
    return this.scopes.get(`${app}|${environment}`)?.tripped ?? false;
  }

  private scope(app: string, environment: string): Scope {
    const key = `${app}|${environment}`;
    let s = this.scopes.get(key);
    if (!s) {
      s = { slices: [], tripped: false };
      this.scopes.set(key, s);
    }
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

  private totals(scope: Scope, now: number): { answers: number; prunes: number } {
    const oldest = now - SLICES * this.sliceMs;
    while (scope.slices.length > 0 && scope.slices[0].start <= oldest) scope.slices.shift();
    let answers = 0;
    let prunes = 0;
    for (const s of scope.slices) { answers += s.answers; prunes += s.prunes; }
    return { answers, prunes };
  }
}
