import { EVENTS_PER_JOB, partitionOf, partitionQueueNames, PUSH_SYSTEMS, QueuedEvent } from '@pushfleet/events';
import type { BulkJob } from './jobs';

/**
 * Routes events by owner: with QUEUE_PARTITIONS = n, an owner's events all go to partition
 * `partitionOf(owner, n)` of each system's queue (`{apns}`, `{apns-1}`, ...), so one user's events keep
 * their order, and the partitions, each its own hash tag, spread over the shards of a Redis Cluster.
 */

/** Events with generated ids share jobs, up to EVENTS_PER_JOB a job, per partition (a job never spans two). */
export class SharedJobs {
  private readonly open = new Map<number, QueuedEvent[]>();

  constructor(
    private readonly partitions: number,
    private readonly toJob: (events: QueuedEvent[], partition: number) => BulkJob,
    private readonly out: BulkJob[],
  ) {}

  partitionOf(owner: string): number {
    return partitionOf(owner, this.partitions);
  }

  push(q: QueuedEvent): void {
    const p = this.partitionOf(q.event.owner);
    let events = this.open.get(p);
    if (!events) this.open.set(p, (events = []));
    events.push(q);
    if (events.length === EVENTS_PER_JOB) this.close(p);
  }

  /** Emits the jobs still open, in partition order. */
  flush(): void {
    for (const p of [...this.open.keys()].sort((a, b) => a - b)) this.close(p);
  }

  private close(p: number): void {
    const events = this.open.get(p);
    this.open.delete(p);
    if (events && events.length > 0) this.out.push(this.toJob(events, p));
  }
}

/** The jobs of each partition, in their original order. */
export function jobsByPartition(jobs: readonly BulkJob[], partitions: number): BulkJob[][] {
  if (partitions === 1) return [jobs as BulkJob[]];
  const by: BulkJob[][] = Array.from({ length: partitions }, () => []);
  for (const j of jobs) by[j.partition].push(j);
  return by;
}

/** One queue per system and partition, built by `make` from the queue name: result[system][partition]. */
export function partitionedQueues<Q>(partitions: number, make: (name: string) => Q): Q[][] {
  return PUSH_SYSTEMS.map((system) => partitionQueueNames(system, partitions).map(make));
}
