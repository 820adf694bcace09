import { randomBytes, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  DEFAULT_JOB_OPTIONS,
  PUSH_SYSTEMS,
  PushEventInput,
  PushJobData,
  QUEUE_NAMES,
  parsePushEventInput,
} from '@pushfleet/events';
import { ADD_BULK_CHUNK, BulkJob, buildJobs, createProducer } from '@pushfleet/producer';

export interface BenchIngestOptions {
  /** A Redis the benchmark may fill (it removes its queues afterwards); use a throwaway one. */
  redisUrl: string;
  /** Events per round; each becomes two jobs (APNs and GCM queue). */
  events: number;
  /** Events per publishMany call (the HTTP API allows at most 1000). Default 1000. */
  batchSize?: number;
  /** publishMany calls in flight at once (like concurrent API requests). Default 2. */
  concurrency?: number;
  /** Producer and raw rounds alternate this many times; medians are reported. Default 3. */
  rounds?: number;
}

export interface BenchIngestResult {
  /** Events/s through producer.publishMany: validation, ids, job building, addBulk to both queues. */
  producerEventsPerSec: number;
  /**
   * Events/s of bare queue.addBulk of the same jobs the producer builds (`buildJobs`, prebuilt), same
   * chunking and concurrency: the ceiling for the producer, whose own cost is the gap.
   */
  rawAddBulkEventsPerSec: number;
  /** Events/s of bare addBulk of one prebuilt job per event and queue: what sharing jobs saves. */
  rawJobPerEventEventsPerSec: number;
  /** Events/s of validation alone (parsePushEventInput), no Redis. */
  validateEventsPerSec: number;
  events: number;
  batchSize: number;
  concurrency: number;
  rounds: number;
}

const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';

/**
 * A realistic mix: 70 % chat messages (short texts), 15 % faxes, 15 % call-reverse notices; no ids, as
 * the backend sends them (the producer generates them and lets events share jobs).
 */
export function sampleEvents(n: number): PushEventInput[] {
  const out: PushEventInput[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 20;
    if (k < 14) {
      out[i] = {
        owner: OWNER, message: 'chat_message', chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0',
        time: 1362407297 + i, user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text',
        text: `what's for lunch today? Message number ${i}, with some more words to make it a typical chat line.`,
      };
    } else if (k < 17) {
      out[i] = { owner: OWNER, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: String(1 + (i % 9)) };
    } else {
      out[i] = { owner: OWNER, message: 'dialplan_callreverse_start', phone_from: '+4989123248278', phone_to: '+492216698000' };
    }
  }
  return out;
}

/** Runs `task(batch)` over `items` in batches, `concurrency` at a time; resolves with the elapsed seconds. */
async function timed<T>(items: readonly T[], batchSize: number, concurrency: number, task: (batch: T[]) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const start = next;
      next += batchSize;
      await task(items.slice(start, start + batchSize));
    }
  }));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Measures, in one run, events/s through `publishMany` (events without ids, so they share jobs) next to
 * bare `addBulk` of one prebuilt job per event and queue: the gap is what shared jobs save, net of the
 * producer's own cost (validation, ids, job objects).
 */
export async function benchIngest(opts: BenchIngestOptions): Promise<BenchIngestResult> {
  const batchSize = opts.batchSize ?? 1000;
  const concurrency = opts.concurrency ?? 2;
  const rounds = opts.rounds ?? 3;
  const run = randomBytes(4).toString('hex');
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
  const prefixes: string[] = [];
  const producerRates: number[] = [];
  const rawRates: number[] = [];
  const perEventRates: number[] = [];
  const validateRates: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first, and empty Redis of the previous measurement's jobs before each one,
      // so neither side pays for the other's keys.
      const order = round % 2 === 0 ? ['producer', 'raw', 'per-event'] as const : ['per-event', 'raw', 'producer'] as const;
      for (const what of order) {
        const prefix = `bench-ingest-${run}-${what}${round}`;
        prefixes.push(prefix);
        if (what === 'producer') producerRates.push(await measureProducer(redis, prefix, opts.events, batchSize, concurrency));
        else if (what === 'raw') rawRates.push(await measureRaw(redis, prefix, opts.events, batchSize, concurrency, 'shared'));
        else perEventRates.push(await measureRaw(redis, prefix, opts.events, batchSize, concurrency, 'per-event'));
        await removePrefixes(redis, prefixes.splice(0));
      }
      // Validation alone.
      const inputs = sampleEvents(opts.events);
      const v0 = process.hrtime.bigint();
      for (const input of inputs) parsePushEventInput(input);
      validateRates.push(opts.events / (Number(process.hrtime.bigint() - v0) / 1e9));
    }
  } finally {
    await removePrefixes(redis, prefixes).catch(() => {});
    await redis.quit().catch(() => redis.disconnect());
  }
  return {
    producerEventsPerSec: Math.round(median(producerRates)),
    rawAddBulkEventsPerSec: Math.round(median(rawRates)),
    rawJobPerEventEventsPerSec: Math.round(median(perEventRates)),
    validateEventsPerSec: Math.round(median(validateRates)),
    events: opts.events,
    batchSize,
    concurrency,
    rounds,
  };
}

/** Events/s through publishMany: validation, ids, job building, addBulk to both queues. */
async function measureProducer(redis: Redis, prefix: string, events: number, batchSize: number, concurrency: number): Promise<number> {
  const producer = createProducer({ connection: redis, prefix });
  try {
    await producer.publish(sampleEvents(1)[0]);
    const inputs = sampleEvents(events);
    const secs = await timed(inputs, batchSize, concurrency, (batch) => producer.publishMany(batch));
    return events / secs;
  } finally {
    await producer.close();
  }
}

/**
 * Events/s of bare addBulk of prebuilt jobs, both queues in parallel, the producer's chunking: `shared`
 * builds exactly the producer's jobs (`buildJobs`), `per-event` one job per event and queue.
 */
async function measureRaw(redis: Redis, prefix: string, events: number, batchSize: number, concurrency: number, mode: 'shared' | 'per-event'): Promise<number> {
  const inputs = sampleEvents(events);
  const batches: BulkJob[][] = [];
  for (let i = 0; i < inputs.length; i += batchSize) {
    const slice = inputs.slice(i, i + batchSize);
    if (mode === 'shared') {
      batches.push(buildJobs(slice).jobs);
    } else {
      const enqueuedAt = Date.now();
      batches.push(slice.map((input) => {
        const r = parsePushEventInput(input);
        if (!r.ok) throw new Error('sample event invalid');
        const id = randomUUID();
        return { name: r.value.message, data: { events: [{ id, event: r.value, enqueuedAt }] }, opts: { ...DEFAULT_JOB_OPTIONS, jobId: id }, partition: 0 };
      }));
    }
  }
  const queues = PUSH_SYSTEMS.map((s) => new Queue<PushJobData>(QUEUE_NAMES[s], { connection: redis, prefix }));
  try {
    await Promise.all(queues.map((q) => q.waitUntilReady()));
    const secs = await timed(batches, 1, concurrency, ([jobs]) => Promise.all(queues.map(async (q) => {
      for (let i = 0; i < jobs.length; i += ADD_BULK_CHUNK) await q.addBulk(jobs.slice(i, i + ADD_BULK_CHUNK));
    })));
    return events / secs;
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
}

/** Deletes every key under the given BullMQ prefixes (SCAN + UNLINK, no KEYS). */
async function removePrefixes(redis: Redis, prefixes: string[]): Promise<void> {
  for (const prefix of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

// `node scripts/dist/bench/ingest.js redis://127.0.0.1:6390 20000 [batchSize] [concurrency]`
if (require.main === module) {
  const [url, events, batchSize, concurrency] = process.argv.slice(2);
  if (!url) {
    console.error('usage: bench-ingest <redisUrl> [events=20000] [batchSize=1000] [concurrency=2]');
    process.exit(2);
  }
  benchIngest({
    redisUrl: url,
    events: Number(events ?? 20000),
    batchSize: batchSize ? Number(batchSize) : undefined,
    concurrency: concurrency ? Number(concurrency) : undefined,
  }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => { console.error(e); process.exit(1); },
  );
}
