import type { DefaultJobOptions } from 'bullmq';
import type { PushEvent } from './schema';

/** The two push systems; each has its own queue and worker. */
export type PushSystem = 'apns' | 'gcm';
export const PUSH_SYSTEMS: readonly PushSystem[] = ['apns', 'gcm'];

/** BullMQ key prefix: keys look like `pushfleet:{apns}:wait`. */
export const QUEUE_PREFIX = 'pushfleet';

/**
 * Queue names carry a Redis Cluster hash tag, so all keys of one queue share one slot (BullMQ's Lua
 * scripts need that) and the two queues can live on different shards.
 */
export const QUEUE_NAMES = { apns: '{apns}', gcm: '{gcm}' } as const satisfies Record<PushSystem, string>;

/** Why a worker gave up on an event: it then stays in its job, unsent, until the job is dead-lettered. */
export type DeadLetterCause = 'configuration' | 'attempts_exhausted';

/** One event in a job, with what is still owed of it. Each event keeps its own retry state. */
export interface QueuedEvent {
  /** The event id: given by the caller (then also the job id, see `PushJobData`) or generated. */
  id: string;
  event: PushEvent;
  /** When the producer accepted the event (ms since epoch); TTLs count from here, across retries. */
  enqueuedAt: number;
  /**
   * Set by a worker before a retry: the tokens (or registration ids) still owed this event. Absent means
   * all of the owner's tokens for this system.
   */
  tokens?: string[];
  /** Set by a worker before a retry: the send attempt the next send will be (absent = 1). */
  attempt?: number;
  /** Set by a worker before a retry: not sent again before this time (ms since epoch). */
  notBefore?: number;
  /** Set by a worker that gave up on the event: it is not sent again (replay clears it). */
  failed?: DeadLetterCause;
}

/**
 * Events per job when the producer generates their ids. The queue costs the same per job whatever the
 * job holds (two Lua calls, a job hash, its options), so carrying several events amortises it; a retry
 * keeps only the events (and tokens) still owed, so one failing device never resends the others.
 */
export const EVENTS_PER_JOB = 20;

/**
 * The data of one job on the APNs or GCM queue. The producer writes the events and nothing derived (no
 * tokens, no payload): the worker reads each owner's tokens at send time.
 *
 * An event whose id the caller gave travels alone, with its id as the job id, so publishing the same id
 * again is a no-op while the job is kept (BullMQ checks that in the same script that adds the job). Events
 * with generated ids cannot be duplicates and travel up to `EVENTS_PER_JOB` per job, whose id is then the
 * first event's id.
 */
export interface PushJobData {
  events: QueuedEvent[];
}

/**
 * The events of a job's data. Also reads the shape jobs had before events shared them
 * (`{id, event, enqueuedAt, tokens?, attempt?}`), so a backlog, a delayed retry or a dead-lettered job
 * written by an older version is still delivered or replayed. Undefined when the data is neither.
 */
export function jobEvents(data: unknown): QueuedEvent[] | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as { events?: unknown; id?: unknown; event?: unknown; enqueuedAt?: unknown; tokens?: unknown; attempt?: unknown };
  if (Array.isArray(d.events)) return d.events as QueuedEvent[];
  if (typeof d.id !== 'string' || typeof d.event !== 'object' || d.event === null || typeof d.enqueuedAt !== 'number') return undefined;
  const q: QueuedEvent = { id: d.id, event: d.event as PushEvent, enqueuedAt: d.enqueuedAt };
  if (Array.isArray(d.tokens)) q.tokens = d.tokens as string[];
  if (typeof d.attempt === 'number') q.attempt = d.attempt;
  return [q];
}

/**
 * Options of every job the producer adds. Retention is bounded so Redis does not grow without limit
 * (completed: 1 h or the last 10k; failed, i.e. the dead-letter set: 7 days or the last 100k). A job id
 * dedupes only while its job is still kept, so these also bound the dedupe window.
 *
 * `attempts`/`backoff` cover unexpected errors only (a Redis blip while reading the registry, a bug): 10
 * attempts, exponential from 1 s with jitter (about 8.5 min in all). Provider retries do not use them: the
 * delivery worker reschedules the tokens still owed itself (moveToDelayed, which is not an attempt) and
 * dead-letters with UnrecoverableError.
 */
export const DEFAULT_JOB_OPTIONS = Object.freeze({
  attempts: 10,
  backoff: Object.freeze({ type: 'exponential', delay: 1000, jitter: 0.5 }),
  removeOnComplete: Object.freeze({ age: 3600, count: 10_000 }),
  removeOnFail: Object.freeze({ age: 7 * 24 * 3600, count: 100_000 }),
}) satisfies DefaultJobOptions;
