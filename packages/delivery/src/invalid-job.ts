import { Job, UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import { parseJobData, PushSystem, QueuedEvent } from '@pushfleet/events';
import { producerJobEvents } from './job-shape';
import type { DeliveryMetrics } from './metrics';

/** Paths in a job's data come from whoever wrote it: keep them short and printable. */
const safePath = (p: string) => p.replace(/[^A-Za-z0-9_.-]/g, '?').slice(0, 64);

/**
 * The job's events, validated with the event schemas before the worker reads the registry or sends
 * anything. A job the producer did not write (added by hand through BullMQ, the admin dashboard or
 * redis-cli) that does not fit them is dead-lettered at once, unsent, with reason `invalid-job`; the
 * reason names at most three paths and problems, never a value.
 */
export function validJobEvents(job: Job, o: { system: PushSystem; metrics: DeliveryMetrics; logger: Logger }): QueuedEvent[] {
  // The producer's jobs pass a fast check of the same rules (job-shape.ts); anything else meets the schema.
  const fast = producerJobEvents(job.data);
  if (fast) return fast;
  const r = parseJobData(job.data);
  if (r.ok) return r.events;
  const issues = r.issues.slice(0, 3).map((i) => `${safePath(i.path) || '(data)'}: ${i.message}`);
  o.metrics.invalidJobs.inc({ system: o.system });
  o.logger.warn({ system: o.system, jobId: safePath(String(job.id)), issues }, 'invalid job data: dead-lettered unsent (a job the producer did not write?)');
  throw new UnrecoverableError(`invalid-job: ${issues.join('; ')}`);
}
