import { z } from 'zod';
import { allPartitions, DEFAULT_QUEUE_PARTITIONS, MAX_QUEUE_PARTITIONS, parsePartitionSet } from '@pushfleet/events';
import { ConfigError } from './env';

/** How each system's queue is split (docs/operations.md, "Scaling on Redis Cluster"). Read by every process. */
export const queueEnv = {
  /**
   * BullMQ queues per push system, each with its own hash tag (`{apns}`, `{apns-1}`, ...) so they spread
   * over the shards of a Redis Cluster; the producer routes by owner. Fixed for a deployment: every
   * process must agree, and changing it needs drained queues. @defaultValue 1 (the unpartitioned names)
   */
  QUEUE_PARTITIONS: z.coerce.number().int().min(1).max(MAX_QUEUE_PARTITIONS).default(DEFAULT_QUEUE_PARTITIONS),
  /**
   * Workers only: the partitions this worker consumes, e.g. `0-3` or `0-1,6-7`, for fleets too large for
   * every worker to hold a connection to every partition. @defaultValue all partitions
   */
  WORKER_PARTITIONS: z.string().optional(),
};

export interface QueuePartitions {
  /** QUEUE_PARTITIONS */
  count: number;
  /** The partitions a worker consumes (WORKER_PARTITIONS, else all). */
  consumed: number[];
}

/** The partition settings, WORKER_PARTITIONS checked against QUEUE_PARTITIONS. */
export function queuePartitions(e: { QUEUE_PARTITIONS: number; WORKER_PARTITIONS?: string }): QueuePartitions {
  const count = e.QUEUE_PARTITIONS;
  if (e.WORKER_PARTITIONS === undefined) return { count, consumed: allPartitions(count) };
  const consumed = parsePartitionSet(e.WORKER_PARTITIONS, count);
  if (typeof consumed === 'string') throw new ConfigError([`WORKER_PARTITIONS: ${consumed}`]);
  return { count, consumed };
}
