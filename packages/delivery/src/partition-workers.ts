import { Queue } from 'bullmq';
import { partitionQueueName, PushSystem } from '@pushfleet/events';
import { DeliveryWorker, DeliveryWorkerOptions } from './worker';

/** The stuck-worker detector's settings (WORKER_STUCK_AFTER_MS, WORKER_PROBE_INTERVAL_MS). */
export interface StuckWorkerProbe {
  /** A partition with jobs waiting and no job taken, finished or failed for this long is recreated. */
  stuckAfterMs: number;
  /** How often each partition is checked (one LLEN-like count per partition). */
  intervalMs: number;
}

export interface PartitionWorkersOptions<S extends PushSystem> extends Omit<DeliveryWorkerOptions<S>, 'queueName'> {
  /** QUEUE_PARTITIONS */
  partitionCount: number;
  /** The partitions to consume (WORKER_PARTITIONS, else all of QUEUE_PARTITIONS). */
  partitions: readonly number[];
  probe: StuckWorkerProbe;
  /** Bound on the graceful close of a replaced consumer (its in-flight jobs, if any, finish meanwhile). */
  closeTimeoutMs: number;
}

interface Consumer<S extends PushSystem> {
  partition: number;
  worker: DeliveryWorker<S>;
  queue: Queue;
  lastActivity: number;
}

/**
 * One DeliveryWorker per consumed queue partition, sharing the process's concurrency budget (each gets
 * ceil(concurrency / partitions), at least 1), plus the stuck-worker detector: BullMQ's blocking
 * connection can stay wedged after a Redis failover (bullmq #4138, #3185) while the process looks healthy.
 * Every `intervalMs` each partition is checked; one whose queue has jobs waiting (and is not paused) but
 * whose worker has taken, finished or failed none for `stuckAfterMs` is replaced by a fresh worker (new
 * connections) and the old one is closed gracefully in the background. Counted in
 * pushfleet_worker_recreated_total{system}.
 */
export class PartitionWorkers<S extends PushSystem> {
  private readonly consumers: Consumer<S>[];
  private readonly timer: NodeJS.Timeout;
  private probing = false;
  private closed = false;

  constructor(private readonly o: PartitionWorkersOptions<S>) {
    const concurrency = Math.max(1, Math.ceil(o.concurrency / o.partitions.length));
    this.consumers = o.partitions.map((partition) => {
      const queue = new Queue(partitionQueueName(o.system, partition, o.partitionCount), { connection: o.connection, prefix: o.prefix });
      queue.on('error', () => { /* the probe treats an unreadable queue as "not stuck" */ });
      const c: Consumer<S> = { partition, queue, lastActivity: Date.now(), worker: undefined as unknown as DeliveryWorker<S> };
      c.worker = this.start(c, concurrency);
      return c;
    });
    this.timer = setInterval(() => void this.probe(), o.probe.intervalMs);
    this.timer.unref();
  }

  /** The current worker of each partition (replaced ones are gone). */
  get workers(): DeliveryWorker<S>[] {
    return this.consumers.map((c) => c.worker);
  }

  /** True when every partition's worker is running (readiness). */
  isRunning(): boolean {
    return this.consumers.every((c) => c.worker.worker.isRunning());
  }

  private start(c: Consumer<S>, concurrency: number): DeliveryWorker<S> {
    const w = new DeliveryWorker<S>({ ...this.o, concurrency, queueName: partitionQueueName(this.o.system, c.partition, this.o.partitionCount) });
    const touch = () => { c.lastActivity = Date.now(); };
    for (const e of ['active', 'completed', 'failed', 'drained'] as const) w.worker.on(e, touch);
    return w;
  }

  /** Checks every partition once; recreates the workers found stuck. Resolves with the partitions recreated. */
  async probe(now = Date.now()): Promise<number[]> {
    if (this.probing || this.closed) return [];
    this.probing = true;
    try {
      const stuck: number[] = [];
      for (const c of this.consumers) {
        if (now - c.lastActivity < this.o.probe.stuckAfterMs) continue;
        if (await this.hasWaitingWork(c.queue)) stuck.push(c.partition);
        else c.lastActivity = now; // nothing to take: idle, not stuck
      }
      for (const p of stuck) this.recreate(this.consumers.find((c) => c.partition === p)!);
      return stuck;
    } finally {
      this.probing = false;
    }
  }

  private async hasWaitingWork(queue: Queue): Promise<boolean> {
    try {
      const [counts, paused] = await Promise.all([queue.getJobCounts('wait', 'prioritized'), queue.isPaused()]);
      return !paused && (counts.wait ?? 0) + (counts.prioritized ?? 0) > 0;
    } catch {
      return false; // Redis unreadable: the connection itself is recovering; look again next round
    }
  }

  private recreate(c: Consumer<S>): void {
    if (this.closed) return;
    const old = c.worker;
    this.o.logger.warn({ system: this.o.system, partition: c.partition, stuckAfterMs: this.o.probe.stuckAfterMs }, 'worker took no job while jobs waited: recreating it');
    this.o.metrics.workersRecreated.inc({ system: this.o.system });
    c.lastActivity = Date.now();
    c.worker = this.start(c, old.worker.concurrency);
    void old.close(this.o.closeTimeoutMs).catch(() => undefined);
  }

  /** Stops every partition's worker within `timeoutMs`, then the probe queues. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all(this.consumers.map((c) => c.worker.close(timeoutMs)));
    await Promise.all(this.consumers.map((c) => c.queue.close().catch(() => undefined)));
  }
}
