import { randomUUID } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { DEFAULT_JOB_OPTIONS, ParsedEventInput, PushEvent, PushEventInput, PushJobData, QueuedEvent, parsePushEventInput } from '@pushfleet/events';
import type { InvalidEvent } from './errors';
import { SharedJobs } from './partition-routing';

export interface BulkJob {
  name: string;
  data: PushJobData;
  opts: JobsOptions;
  /** Set on a job whose (one) event carries a caller id: deduplicated for DEDUPE_TTL. */
  dedupe?: true;
  /** The queue partition of the job's owner(s): a job only holds events of owners of one partition. */
  partition: number;
}

/** A validated event on its way to the queues; `keyed` when the caller gave its id (a job of its own, dedupe). */
export interface AcceptedEvent {
  queued: QueuedEvent;
  keyed: boolean;
}

/**
 * Validates the inputs: `ids` in input order (the given one or a new UUID), `events` the valid ones, and
 * `errors` every invalid input (then nothing should be enqueued).
 */
export function validateEvents(inputs: readonly PushEventInput[]): { ids: string[]; events: AcceptedEvent[]; errors: InvalidEvent[] } {
  const errors: InvalidEvent[] = [];
  const events: AcceptedEvent[] = [];
  const ids: string[] = new Array(inputs.length);
  const enqueuedAt = Date.now();
  for (let index = 0; index < inputs.length; index++) {
    const r = parsePushEventInput(inputs[index]);
    if (!r.ok) {
      for (const issue of r.issues) errors.push({ index, path: issue.path, message: issue.message });
      continue;
    }
    const givenId = r.value.id;
    // Without an id (the common case) the parsed object is the event as is (zod leaves an absent optional
    // key out): a copy without `id` cost about a fifth of the validation (docs/benchmarks.md).
    const event: PushEvent = givenId === undefined ? r.value : withoutId(r.value);
    const id = givenId ?? randomUUID();
    ids[index] = id;
    events.push({ queued: { id, event, enqueuedAt }, keyed: givenId !== undefined });
  }
  return { ids, events, errors };
}

function withoutId({ id: _id, ...event }: ParsedEventInput): PushEvent {
  return event;
}

/**
 * The jobs `publishMany` adds to each queue for validated events (of one or several calls, in order): a
 * job per event with a caller id (job id = that id), the others EVENTS_PER_JOB to a job (job id = the
 * first one's generated id).
 */
export function jobsOf(events: readonly AcceptedEvent[], jobOptions: JobsOptions = DEFAULT_JOB_OPTIONS, partitions = 1): BulkJob[] {
  const jobs: BulkJob[] = [];
  const toJob = (queued: QueuedEvent[], partition: number): BulkJob => ({
    name: queued.length === 1 ? queued[0].event.message : 'batch',
    data: { events: queued },
    opts: { ...jobOptions, jobId: queued[0].id },
    partition,
  });
  const shared = new SharedJobs(partitions, toJob, jobs);
  for (const { queued, keyed } of events) {
    if (keyed) jobs.push({ ...toJob([queued], shared.partitionOf(queued.event.owner)), dedupe: true });
    else shared.push(queued);
  }
  shared.flush();
  return jobs;
}

/** `validateEvents` then `jobsOf`: the jobs one `publishMany` call of `inputs` alone would add. */
export function buildJobs(inputs: readonly PushEventInput[], jobOptions: JobsOptions = DEFAULT_JOB_OPTIONS, partitions = 1): { ids: string[]; jobs: BulkJob[]; errors: InvalidEvent[] } {
  const { ids, events, errors } = validateEvents(inputs);
  return { ids, jobs: errors.length > 0 ? [] : jobsOf(events, jobOptions, partitions), errors };
}
