import { z } from 'zod';
import { positiveInt } from './env';

/**
 * The prune-storm guard and the tombstones of pruned tokens (docs/operations.md "Prune-storm guard"),
 * declared once: the worker env below and the classes that take them as options both use these.
 */
export const PRUNING_DEFAULTS = Object.freeze({
  /**
   * PRUNE_GUARD_MAX_SHARE: the guard stops pruning an app (per environment) when prune answers are more
   * than this share of its answers in the window. @defaultValue 0.2 (20 %)
   */
  maxShare: 0.2,
  /**
   * PRUNE_GUARD_MIN_ANSWERS: the share is judged on at least this many answers; before the window holds
   * that many, at most `maxShare` of this number are pruned. @defaultValue 100
   */
  minAnswers: 100,
  /** PRUNE_GUARD_WINDOW_MS: the sliding window the guard counts answers in. @defaultValue 300000 (5 minutes) */
  windowMs: 300_000,
  /** PRUNED_RETENTION_SECONDS: how long a pruned token's tombstone is kept for `tokens restore`. @defaultValue 604800 (7 days) */
  retentionSeconds: 7 * 24 * 3600,
});

const share = z.coerce.number().gt(0).max(1);

/** The worker env variables of the guard and the tombstones. */
export const pruningEnv = {
  PRUNE_GUARD_MAX_SHARE: share.default(PRUNING_DEFAULTS.maxShare),
  PRUNE_GUARD_MIN_ANSWERS: positiveInt(PRUNING_DEFAULTS.minAnswers),
  PRUNE_GUARD_WINDOW_MS: positiveInt(PRUNING_DEFAULTS.windowMs),
  PRUNED_RETENTION_SECONDS: positiveInt(PRUNING_DEFAULTS.retentionSeconds),
};
