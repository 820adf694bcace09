import type { Queue } from 'bullmq';
import { Gauge, Registry } from 'prom-client';
import { allPartitions, partitionQueueName, PUSH_SYSTEMS } from '@pushfleet/events';

/**
 * A queue and the labels it is exported under: `queue` is the system's short name (`apns`, `gcm`),
 * `partition` its partition (QUEUE_PARTITIONS; "0" when the queue is not partitioned). Sum over
 * `partition` for a system's total, `max` for its oldest waiting job.
 */
export interface NamedQueue {
  name: string;
  queue: Queue;
  /** @defaultValue 0 */
  partition?: number;
}

/**
 * Every partition queue of both systems (QUEUE_PARTITIONS = `count`), built by `make` from the BullMQ queue
 * name, labelled for the gauges, the admin UI and the CLI: `{apns}`, `{apns-1}`, ... then the GCM ones.
 */
export function partitionedNamedQueues(count: number, make: (queueName: string) => Queue): NamedQueue[] {
  return PUSH_SYSTEMS.flatMap((system) => allPartitions(count).map((partition) => ({ name: system, partition, queue: make(partitionQueueName(system, partition, count)) })));
}

/** The admin UI's name for a partition queue: the system alone when the queue is not partitioned. */
export function queueDisplayName(q: NamedQueue, count: number): string {
  return count > 1 ? `${q.name} partition ${q.partition ?? 0}` : q.name;
}

/**
 * The job states exported as `pushfleet_queue_jobs{state}`, in BullMQ's words; they are disjoint, so their
 * sum is every job the queue holds. `failed` is the dead-letter set. BullMQ 6 keeps the jobs of a paused
 * queue in its wait list; we report them as `paused` (and `waiting` as 0) while the queue is paused, as
 * BullMQ did before version 5, so a paused backlog is not mistaken for work workers could take.
 */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed', 'paused'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export interface QueueSnapshot {
  counts: Record<QueueState, number>;
  /** Seconds since the job next in line (the tail of the wait list) was enqueued; 0 when the list is empty. */
  oldestWaitingAgeSeconds: number;
  paused: boolean;
}

/**
 * Reads one queue's state in three cheap round trips: the counts (one Lua script of LLEN/ZCARD), the job
 * at the tail of the wait list (the oldest, next to be taken: `getWaiting(0, 0)` is `LRANGE wait -1 -1`),
 * and the paused flag. The age counts from the job's `timestamp`, i.e. when the producer first enqueued
 * it: a retried event that is back in line keeps its original enqueue time.
 */
export async function queueSnapshot(queue: Queue, now = Date.now()): Promise<QueueSnapshot> {
  const [raw, oldest, paused] = await Promise.all([
    queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'),
    queue.getWaiting(0, 0),
    queue.isPaused(),
  ]);
  const waiting = Number(raw.waiting ?? 0);
  const counts: Record<QueueState, number> = {
    waiting: paused ? 0 : waiting,
    active: Number(raw.active ?? 0),
    delayed: Number(raw.delayed ?? 0),
    prioritized: Number(raw.prioritized ?? 0),
    failed: Number(raw.failed ?? 0),
    completed: Number(raw.completed ?? 0),
    paused: paused ? waiting : 0,
  };
  const ts = oldest[0]?.timestamp;
  const oldestWaitingAgeSeconds = typeof ts === 'number' && ts > 0 ? Math.max(0, (now - ts) / 1000) : 0;
  return { counts, oldestWaitingAgeSeconds, paused };
}

export interface QueueMetricsOptions {
  /**
   * How long one reading of Redis is reused (ms, default 1000). Prometheus calls every gauge's collect in
   * parallel on a scrape; they all share one reading, and several Prometheus servers scraping at once
   * cost Redis one reading per second at most.
   */
  cacheMs?: number;
  /** A reading that takes longer than this (ms, default 2000) counts as failed, so /metrics never hangs. */
  timeoutMs?: number;
}

type Reading = [{ queue: string; partition: string }, QueueSnapshot | undefined][];

/**
 * Queue gauges computed on scrape: `pushfleet_queue_jobs{queue,partition,state}`,
 * `pushfleet_queue_oldest_waiting_age_seconds{queue,partition}`, `pushfleet_dead_letter_jobs{queue,partition}`,
 * `pushfleet_queue_paused{queue,partition}` and `pushfleet_queue_metrics_ok{queue,partition}` (0 when Redis could not be read;
 * the other gauges of that queue are then left out rather than showing stale numbers).
 *
 * Register them in ONE process (the API), not in every worker: N exporters of the same queue would make
 * `sum()` count the backlog N times. With several API replicas, aggregate with `max by (queue, partition, state)`, then `sum by (queue, state)`.
 */
export function registerQueueMetrics(registry: Registry, queues: readonly NamedQueue[], opts: QueueMetricsOptions = {}): void {
  const cacheMs = opts.cacheMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 2000;
  let cached: { doneAt?: number; reading: Promise<Reading> } | undefined;

  const readOne = (q: NamedQueue): Promise<QueueSnapshot | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutMs); });
    return Promise.race([queueSnapshot(q.queue).catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
  };
  /** One reading shared by every gauge of a scrape (they collect in parallel), reused for cacheMs after. */
  const read = (): Promise<Reading> => {
    const fresh = cached && (cached.doneAt === undefined || Date.now() - cached.doneAt < cacheMs);
    if (!fresh) {
      const entry: { doneAt?: number; reading: Promise<Reading> } = {
        reading: Promise.all(queues.map(async (q) => [{ queue: q.name, partition: String(q.partition ?? 0) }, await readOne(q)] as const)).then((entries) => {
          entry.doneAt = Date.now();
          return entries as Reading;
        }),
      };
      cached = entry;
    }
    return cached!.reading;
  };

  new Gauge({
    name: 'pushfleet_queue_jobs',
    help: 'Jobs in each BullMQ state, by queue and partition (failed = the dead-letter set); read from Redis on scrape',
    labelNames: ['queue', 'partition', 'state'] as const,
    registers: [registry],
    async collect() {
      const reading = await read();
      this.reset();
      for (const [labels, snap] of reading) {
        if (!snap) continue;
        for (const state of QUEUE_STATES) this.set({ ...labels, state }, snap.counts[state]);
      }
    },
  });
  new Gauge({
    name: 'pushfleet_queue_oldest_waiting_age_seconds',
    help: 'Seconds since the job next in line in the wait list was first enqueued (0 when the list is empty), by queue and partition',
    labelNames: ['queue', 'partition'] as const,
    registers: [registry],
    async collect() {
      const reading = await read();
      this.reset();
      for (const [labels, snap] of reading) if (snap) this.set(labels, snap.oldestWaitingAgeSeconds);
    },
  });
  new Gauge({
    name: 'pushfleet_dead_letter_jobs',
    help: 'Jobs in the dead-letter (failed) set, by queue and partition; replay or purge them with the operator CLI',
    labelNames: ['queue', 'partition'] as const,
    registers: [registry],
    async collect() {
      const reading = await read();
      this.reset();
      for (const [labels, snap] of reading) if (snap) this.set(labels, snap.counts.failed);
    },
  });
  new Gauge({
    name: 'pushfleet_queue_paused',
    help: '1 while the queue is paused (workers take no job from it), by queue and partition',
    labelNames: ['queue', 'partition'] as const,
    registers: [registry],
    async collect() {
      const reading = await read();
      this.reset();
      for (const [labels, snap] of reading) if (snap) this.set(labels, snap.paused ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pushfleet_queue_metrics_ok',
    help: '1 when the queue could be read from Redis on this scrape, 0 when not (its other queue gauges are then absent)',
    labelNames: ['queue', 'partition'] as const,
    registers: [registry],
    async collect() {
      const reading = await read();
      for (const [labels, snap] of reading) this.set(labels, snap ? 1 : 0);
    },
  });
}
