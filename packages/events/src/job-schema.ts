import { z } from 'zod';
import { EVENTS_PER_JOB, QueuedEvent } from './job';
import { describeIssues, eventIdSchema, EventIssue, pushEventSchema } from './schema';

/**
 * The job data a worker accepts, checked before it reads the registry or sends anything: the producer
 * writes it, but anyone with access to Redis, BullMQ or the admin dashboard can add a job by hand. Strict
 * objects (no extra field rides along to a provider), the event schema itself (so a hand-made job cannot
 * carry what `/internal/events` would refuse), and bounded sizes.
 */
const queuedEventShape = {
  id: eventIdSchema,
  event: pushEventSchema,
  enqueuedAt: z.number().int().nonnegative(),
  /** A retry's tokens: each a registry token (APNs hex, GCM registration id); an owner's devices are few. */
  tokens: z.array(z.string().min(1).max(4096)).max(10_000).optional(),
  attempt: z.number().int().positive().optional(),
  notBefore: z.number().int().nonnegative().optional(),
  failed: z.enum(['configuration', 'attempts_exhausted']).optional(),
};

export const queuedEventSchema = z.strictObject(queuedEventShape);

/** Today's shape, `{events: [...]}`, up to EVENTS_PER_JOB events. */
export const pushJobDataSchema = z.strictObject({ events: z.array(queuedEventSchema).min(1).max(EVENTS_PER_JOB) });

/** The shape jobs had before events shared them (see `jobEvents`): one event, no notBefore/failed. */
const legacyJobDataSchema = z.strictObject({ id: eventIdSchema, event: pushEventSchema, enqueuedAt: queuedEventShape.enqueuedAt, tokens: queuedEventShape.tokens, attempt: queuedEventShape.attempt });

export type JobDataCheck = { ok: true; events: QueuedEvent[] } | { ok: false; issues: EventIssue[] };

/** The events of a job, validated; `issues` name paths and problems only, never the values. */
export function parseJobData(data: unknown): JobDataCheck {
  const isLegacy = typeof data === 'object' && data !== null && !('events' in data) && 'event' in data;
  if (isLegacy) {
    const r = legacyJobDataSchema.safeParse(data);
    if (!r.success) return { ok: false, issues: describeIssues(r.error) };
    const { id, event, enqueuedAt, tokens, attempt } = r.data;
    const q: QueuedEvent = { id, event, enqueuedAt };
    if (tokens) q.tokens = tokens;
    if (attempt !== undefined) q.attempt = attempt;
    return { ok: true, events: [q] };
  }
  const r = pushJobDataSchema.safeParse(data);
  return r.success ? { ok: true, events: r.data.events as QueuedEvent[] } : { ok: false, issues: describeIssues(r.error) };
}
