import type { Job } from 'bullmq';
import { jobEvents } from '@pushfleet/events';

/**
 * Sends a dead-lettered (failed) job again with a fresh retry budget: every event's retry state
 * (`attempt`, `notBefore`, `failed`) is cleared, BullMQ's attempt counters are reset, and the job goes
 * back to waiting. The events keep the tokens they still owe, so tokens already served are not sent
 * again. A plain BullMQ retry would leave `failed` set, and the worker would dead-letter the job again.
 * Used by `npm run cli -- dead-letter replay` and the admin dashboard's Retry.
 */
export async function replayDeadLettered(job: Job): Promise<void> {
  await job.updateData({ events: (jobEvents(job.data) ?? []).map(({ attempt: _a, notBefore: _n, failed: _f, ...q }) => q) });
  await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
}
