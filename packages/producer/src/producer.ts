import { JobsOptions, Queue } from 'bullmq';
import { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Registry } from 'prom-client';
import {
  DEFAULT_JOB_OPTIONS,
  PushEventInput,
  PushJobData,
  QUEUE_PREFIX,
} from '@pushfleet/events';
import { InvalidEventsError, QueueUnavailableError } from './errors';
import { AcceptedEvent, BulkJob, jobsOf, validateEvents } from './jobs';
import { GroupCommit } from './group-commit';
import { ProducerMetrics } from './metrics';
import { jobsByPartition, partitionedQueues } from './partition-routing';

/** Jobs per `addBulk` call (one Redis pipeline). */
export const ADD_BULK_CHUNK = 1000;

/** DEDUPE_TTL default: an event id given by the caller is remembered for 24 h after its first acceptance. */
export const DEFAULT_DEDUPE_TTL_MS = 24 * 3600 * 1000;

/**
 * The key that remembers an event id for one queue (docs/redis-keys.md): derived from the queue name and
 * the event id only, inside the queue's hash tag, so it shares the queue's slot in a Redis Cluster (also
 * once queues are partitioned: a partition's markers live with that partition). `~dedupe` can be neither
 * a job id (event ids are [A-Za-z0-9_.-]) nor one of BullMQ's own key names.
 */
export function dedupeKey(prefix: string, queueName: string, eventId: string): string {
  return `${prefix}:${queueName}:~dedupe:${eventId}`;
}

export interface ProducerOptions {
  /**
   * An ioredis client (used as is, never closed by the producer; it must not use ioredis `keyPrefix`),
   * or a Redis URL: the producer then opens its own fail-fast connection (see `redisOptions`).
   */
  connection: Redis | Cluster | string;
  /** BullMQ key prefix, default `pushfleet` (keys `pushfleet:{apns}:...`). */
  prefix?: string;
  /** Laid over `DEFAULT_JOB_OPTIONS`; `jobId` is always the (first) event's id. */
  jobOptions?: Omit<JobsOptions, 'jobId'>;
  /**
   * How long an event id given by the caller is deduplicated (DEDUPE_TTL), counted from its first
   * acceptance, whatever the job retention and however many events came since. Default 24 h.
   */
  dedupeTtlMs?: number;
  /** Registers pushfleet_events_accepted_total, pushfleet_events_rejected_total, pushfleet_enqueue_duration_seconds. */
  metrics?: Registry;
  /**
   * How long a publish waits for a connection that is still being opened before it fails with
   * QueueUnavailableError. Default 800 ms, so an HTTP caller gets its 503 within a second.
   */
  readyTimeoutMs?: number;
  /** Laid over the options of the producer's own connection (only when `connection` is a URL). */
  redisOptions?: RedisOptions;
  /** QUEUE_PARTITIONS: queues per system; an owner's events all go to one (partition-routing.ts). @defaultValue 1 */
  partitions?: number;
}

export interface Producer {
  /** Validates and enqueues one event; resolves with its id (the given one or a new UUID). */
  publish(input: PushEventInput): Promise<{ id: string }>;
  /**
   * Validates every event, then enqueues each to the APNs and the GCM queue. One invalid event rejects the
   * whole batch (InvalidEventsError, nothing enqueued). Redis trouble: QueueUnavailableError. Events
   * without an id share jobs (up to `EVENTS_PER_JOB` each); an event with an id has its own (dedupe).
   * Calls made within one turn of the event loop are written together (group-commit.ts): each resolves
   * once its events are in Redis, and a Redis failure rejects exactly the calls of that write.
   */
  publishMany(inputs: readonly PushEventInput[]): Promise<{ ids: string[] }>;
  /** Closes the queues, and the connection if the producer opened it. Later publishes fail. */
  close(): Promise<void>;
}

/**
 * Options of the connection a producer opens from a URL: fail fast instead of queueing commands while
 * Redis is away, so callers can answer 503 at once; reconnect within a second once it is back.
 */
export const PRODUCER_REDIS_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1000,
  commandTimeout: 2000,
  disconnectTimeout: 200, // ioredis keeps a dead socket's timer (default 2 s) alive after disconnect()
  retryStrategy: (times: number) => Math.min(times * 100, 1000),
};

export function createProducer(options: ProducerOptions): Producer {
  const ownConnection = typeof options.connection === 'string';
  const redis = typeof options.connection === 'string'
    ? new Redis(options.connection, { ...PRODUCER_REDIS_OPTIONS, ...options.redisOptions })
    : options.connection;
  let lastError: Error | undefined;
  const onError = (err: Error) => { lastError = err; };
  const onReadyAgain = () => { lastError = undefined; };
  redis.on('error', onError); // also keeps ioredis from printing "Unhandled error event"
  redis.on('ready', onReadyAgain);

  const prefix = options.prefix ?? QUEUE_PREFIX;
  const jobOptions: JobsOptions = { ...DEFAULT_JOB_OPTIONS, ...options.jobOptions };
  const partitions = options.partitions ?? 1;
  // One queue per system and partition; queues[s][p] takes the jobs of partition p.
  const queues = partitionedQueues(partitions, (name) => {
    const queue = new Queue<PushJobData>(name, { connection: redis, prefix });
    queue.on('error', onError); // an 'error' without a listener would crash the process
    return queue;
  });
  const metrics = options.metrics ? new ProducerMetrics(options.metrics) : undefined;
  const readyTimeoutMs = options.readyTimeoutMs ?? 800;
  let closed = false;
  let pendingReady: Promise<void> | undefined;

  function unavailable(what: string, cause?: unknown): QueueUnavailableError {
    const reason = cause instanceof Error ? cause.message : lastError?.message;
    return new QueueUnavailableError(`${what}${reason ? `: ${reason}` : ''}`, { cause: cause ?? lastError });
  }

  /** Resolves when the connection can take commands; never waits longer than readyTimeoutMs. */
  function ready(): Promise<void> {
    const status = redis.status;
    if (closed) return Promise.reject(new QueueUnavailableError('the producer is closed'));
    if (status === 'ready') return Promise.resolve();
    if (status === 'end') return Promise.reject(unavailable('the Redis connection is closed'));
    // Between reconnect attempts: Redis was just found unreachable; do not make callers wait for it.
    if (status === 'reconnecting' || status === 'close') return Promise.reject(unavailable('Redis is unreachable'));
    if (status === 'wait') redis.connect().catch(() => { /* reported through 'error' */ });
    pendingReady ??= new Promise<void>((resolve, reject) => {
      const done = (err?: QueueUnavailableError) => {
        clearTimeout(timer);
        redis.off('ready', onReady);
        redis.off('close', onClose);
        redis.off('end', onClose);
        pendingReady = undefined;
        if (err) reject(err); else resolve();
      };
      const onReady = () => done();
      const onClose = () => done(unavailable('Redis is unreachable'));
      const timer = setTimeout(() => done(unavailable(`Redis did not answer within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      redis.once('ready', onReady);
      redis.once('close', onClose);
      redis.once('end', onClose);
    });
    return pendingReady;
  }

  const dedupeTtlMs = options.dedupeTtlMs ?? DEFAULT_DEDUPE_TTL_MS;

  // On an auto-pipelining connection (the API's) every job is its own command: ioredis sends all the
  // commands of one event-loop turn (both queues', other requests') as one pipeline, in one socket write.
  // addBulk would build a pipeline per queue, each a write of its own and a copy of every script the
  // connection knows (ioredis copies them onto each pipeline): for one-event requests that was a third
  // of the API's Redis cost (docs/benchmarks.md, "Session 4 findings: edge"). Order is kept: commands
  // enter the pipeline in call order, and one queue's jobs all take the same path.
  const autoPipelined = (redis.options as RedisOptions | undefined)?.enableAutoPipelining === true;
  const addJobs = (queue: Queue<PushJobData>, jobs: BulkJob[]): Promise<unknown> => (autoPipelined
    ? Promise.all(jobs.map((j) => queue.add(j.name, j.data, j.opts)))
    : queue.addBulk(jobs));

  async function addInChunks(queue: Queue<PushJobData>, jobs: BulkJob[]): Promise<void> {
    for (let i = 0; i < jobs.length; i += ADD_BULK_CHUNK) {
      const chunk = jobs.length <= ADD_BULK_CHUNK ? jobs : jobs.slice(i, i + ADD_BULK_CHUNK);
      await (chunk.some((j) => j.dedupe) ? addDeduped(queue, chunk) : addJobs(queue, chunk));
    }
  }

  /**
   * Skips the jobs whose event id is remembered for this queue, adds the others, then remembers their ids
   * (SET NX PX DEDUPE_TTL). The marker is written only after the job was added, so a failure in between
   * never loses an event: the retry finds no marker and adds again, and BullMQ's job-id check (the job
   * still exists) keeps that from duplicating it.
   */
  async function addDeduped(queue: Queue<PushJobData>, jobs: BulkJob[]): Promise<void> {
    const keyed = jobs.filter((j) => j.dedupe);
    const keys = keyed.map((j) => dedupeKey(prefix, queue.name, String(j.opts.jobId)));
    const seen = await redis.mget(...keys);
    const known = new Set(keyed.filter((_, i) => seen[i] !== null));
    const fresh = jobs.filter((j) => !known.has(j));
    if (fresh.length > 0) await addJobs(queue, fresh);
    const mark = redis.pipeline();
    keyed.forEach((j, i) => { if (!known.has(j)) mark.set(keys[i], '1', 'PX', dedupeTtlMs, 'NX'); });
    if (mark.length > 0) {
      for (const [err] of (await mark.exec()) ?? []) if (err) throw err;
    }
  }

  // Concurrent calls (one event per API request, say) share one write per queue, their id-less events
  // sharing jobs: see group-commit.ts. At most ADD_BULK_CHUNK events per batch.
  const committer = new GroupCommit<AcceptedEvent>(async (events) => {
    await ready();
    const byPartition = jobsByPartition(jobsOf(events, jobOptions, partitions), partitions);
    await Promise.all(queues.flatMap((perSystem) => byPartition.map((part, p) => (part.length > 0 ? addInChunks(perSystem[p], part) : undefined))));
  }, ADD_BULK_CHUNK);

  async function publishMany(inputs: readonly PushEventInput[]): Promise<{ ids: string[] }> {
    const { ids, events, errors } = validateEvents(inputs);
    if (errors.length > 0) {
      metrics?.rejected(inputs.length, 'invalid');
      throw new InvalidEventsError(errors);
    }
    if (events.length === 0) return { ids };

    const started = process.hrtime.bigint();
    try {
      await committer.submit(events);
    } catch (err) {
      metrics?.rejected(inputs.length, 'unavailable');
      throw err instanceof QueueUnavailableError ? err : unavailable('enqueueing failed', err);
    }
    metrics?.accepted(events, Number(process.hrtime.bigint() - started) / 1e9);
    return { ids };
  }

  return {
    publishMany,
    async publish(input) {
      const { ids } = await publishMany([input]);
      return { id: ids[0] };
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(queues.flat().map((q) => q.close().catch(() => { /* closing anyway */ })));
      if (ownConnection) {
        if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
        else redis.disconnect();
      }
      redis.off('error', onError);
      redis.off('ready', onReadyAgain);
    },
  };
}
