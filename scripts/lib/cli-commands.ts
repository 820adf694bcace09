import { parseArgs, ParseArgsConfig } from 'node:util';
import { Job, Queue } from 'bullmq';
import { ConfigError } from '@pushfleet/config';
import type { DeliveryJobData } from '@pushfleet/delivery';
import { EVENT_TYPES, EventType, isExpired, jobEvents, partitionQueueNames, PUSH_SYSTEMS, PushSystem, QueuedEvent, uuidSchema } from '@pushfleet/events';
import { createRedisClient, queueSnapshot, QueueSnapshot, RedisClient, tokenRef } from '@pushfleet/observability';
import { createProducer, InvalidEventsError, QueueUnavailableError, replayDeadLettered } from '@pushfleet/producer';
import { migrateLegacyRegistry, TokenRegistry } from '@pushfleet/registry';
import { CliEnv, loadCliEnv, safeRedisTarget } from './cli-env';
import { sampleEvent } from './cli-samples';

/**
 * The operator CLI (`npm run cli -- <command>`): queue stats, the dead-letter set, sample events and a
 * user's tokens. Every command is a function of (argv, env, output streams) -> exit code, so tests run it
 * in-process against a throwaway Redis. Output never carries a full device token, registration id or
 * message text.
 */

/** Exit codes (also in `--help` and docs/operations.md). */
export const EXIT = {
  OK: 0,
  /** Something failed: Redis unreachable, a Redis error, some jobs could not be replayed. */
  FAILURE: 1,
  /** Bad command line or configuration (nothing was changed). */
  USAGE: 2,
  /** Not found or nothing to do: unknown job id, no such token, empty dead-letter set, user without tokens. */
  NOT_FOUND: 3,
} as const;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** The file `npm start` writes with its fleet's REDIS_URL (.pushfleet/env); read when REDIS_URL is unset. */
  fleetEnvFile?: string;
}

class UsageError extends Error {}
class NotFoundError extends Error {}

/** Lazily opened resources of one command run; all closed when it ends. */
class Context {
  private redisClient?: RedisClient;
  private readonly queues = new Map<PushSystem, Queue<DeliveryJobData>[]>();

  constructor(readonly env: CliEnv, private readonly io: CliIo) {}

  /** Every line printed carries data from Redis (ids, reasons, app ids): escaped, see `printable`. */
  out(line = ''): void { this.io.stdout.write(`${printable(line)}\n`); }
  err(line: string): void { this.io.stderr.write(`${printable(line)}\n`); }

  /** One connection that fails fast: a CLI should say "cannot reach Redis", not wait for it. */
  async redis(): Promise<RedisClient> {
    if (this.redisClient) return this.redisClient;
    const redis = createRedisClient(this.env.redis, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 1,
      retryStrategy: (n) => (n > 2 ? null : 200),
    });
    // Say which Redis (host:port, never a password) and where that came from, on stderr: stdout stays data.
    this.err(`pushfleet cli: Redis ${safeRedisTarget(this.env.redis)} (${this.env.source}), prefix ${this.env.prefix}`);
    let lastError: Error | undefined;
    redis.on('error', (e: Error) => { lastError = e; }); // reported where a command fails
    this.redisClient = redis;
    try {
      await redis.connect();
    } catch (e) {
      throw new Error(`cannot reach Redis at ${safeRedisTarget(this.env.redis)}: ${(lastError ?? (e as Error)).message}`);
    }
    return redis;
  }

  /** Every partition queue of the system (QUEUE_PARTITIONS), partition 0 first. */
  async partitions(system: PushSystem): Promise<Queue<DeliveryJobData>[]> {
    let qs = this.queues.get(system);
    if (!qs) {
      const connection = await this.redis();
      qs = partitionQueueNames(system, this.env.redis.queues.count).map((name) => {
        const q = new Queue<DeliveryJobData>(name, { connection, prefix: this.env.prefix });
        q.on('error', () => undefined);
        return q;
      });
      this.queues.set(system, qs);
    }
    return qs;
  }

  async registry(): Promise<TokenRegistry> {
    return new TokenRegistry(await this.redis(), { prefix: this.env.prefix, ...this.env.redis.registry });
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].flat().map((q) => q.close().catch(() => undefined)));
    if (this.redisClient) {
      if (this.redisClient.status === 'ready') await this.redisClient.quit().catch(() => this.redisClient?.disconnect());
      else this.redisClient.disconnect();
    }
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

interface Command {
  /** e.g. ['dead-letter', 'list'] */
  path: string[];
  synopsis: string;
  summary: string;
  details: string;
  options: Options;
  run(ctx: Context, values: Values): Promise<number>;
}

// ---------------------------------------------------------------------------------------------- helpers

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

export function formatAge(seconds: number): string {
  if (seconds <= 0) return '0s';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(seconds / 86_400)}d${String(Math.floor((seconds % 86_400) / 3600)).padStart(2, '0')}h`;
}

/**
 * Text safe for a terminal: control characters (C0, DEL, C1: ESC and CSI start terminal sequences), line
 * separators and bidi / zero-width format characters become `\uXXXX`, which stays valid inside JSON
 * strings. Redis holds what clients sent, so everything the CLI prints goes through this.
 */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, (c) => (c === '\n' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Text fit to print: one line, anything that looks like a device token or registration id (a long run of token characters, UUIDs aside) shortened to a reference. */
export function maskTokens(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/[A-Za-z0-9_:-]{32,}/g, (t) => (UUID_RE.test(t) ? t : tokenRef(t)));
}

/** A failure reason fit for a table: masked, at most 120 characters. */
export function safeReason(reason: string | undefined): string {
  if (!reason) return '-';
  const line = maskTokens(reason);
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

function system(values: Values, name = 'queue'): PushSystem {
  const v = values[name];
  if (v === undefined) throw new UsageError(`--${name} is required (${PUSH_SYSTEMS.join(' or ')})`);
  if (!PUSH_SYSTEMS.includes(v as PushSystem)) throw new UsageError(`--${name} must be ${PUSH_SYSTEMS.join(' or ')}, not "${String(v)}"`);
  return v as PushSystem;
}

function positiveInt(values: Values, name: string, def: number, max: number): number {
  const v = values[name];
  if (v === undefined) return def;
  if (typeof v !== 'string' || !/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}`);
  return Number(v);
}

function userId(values: Values): string {
  const v = values.user;
  if (typeof v !== 'string' || v.length === 0) throw new UsageError('--user is required');
  if (v.length > 200 || /[\s\x00-\x1f]/.test(v)) throw new UsageError('--user must be a user id (at most 200 characters, no spaces)');
  return v;
}

function oneOf(values: Values, a: string, b: string): 'a' | 'b' {
  const hasA = values[a] !== undefined && values[a] !== false;
  const hasB = values[b] !== undefined && values[b] !== false;
  if (hasA === hasB) throw new UsageError(`give exactly one of --${a} or --${b}`);
  return hasA ? 'a' : 'b';
}

/** Tokens a dead-lettered event is still owed: its `tokens` list, or all the owner's when it never sent. */
const owed = (q: QueuedEvent): string => (Array.isArray(q.tokens) ? String(q.tokens.length) : 'all');

/** The events of a job's data (also the shape of older versions); empty when it is neither. */
const eventsOf = (data: DeliveryJobData | undefined): QueuedEvent[] => jobEvents(data) ?? [];

const expiredEvent = (q: QueuedEvent, now: number, policies: CliEnv['policies']): boolean => {
  const type = q?.event?.message;
  return EVENT_TYPES.includes(type) && typeof q.enqueuedAt === 'number' && isExpired({ event: { message: type }, enqueuedAt: q.enqueuedAt }, now, policies);
};

/** The dead-lettered job with this id, in whichever partition of the system holds it. */
async function failedJob(queues: Queue<DeliveryJobData>[], id: string): Promise<Job<DeliveryJobData>> {
  const found = await Promise.all(queues.map((q) => q.getJob(id)));
  const job = found.find((j) => j !== undefined);
  if (!job) throw new NotFoundError(`no job ${id} in the ${queues[0].name} queue${queues.length > 1 ? ` or its ${queues.length - 1} other partition(s)` : ''}`);
  const state = await job.getState();
  if (state !== 'failed') throw new NotFoundError(`job ${id} is not in the dead-letter set (it is ${state})`);
  return job;
}

// --------------------------------------------------------------------------------------------- commands

const json = { type: 'boolean', default: false } as const;

const stats: Command = {
  path: ['stats'],
  synopsis: 'stats [--json]',
  summary: 'job counts per queue and the age of the oldest waiting job',
  details: `States: waiting (ready, not taken yet), active (being sent), delayed (retry backoff), prioritized,
paused (waiting in a paused queue), failed (the dead-letter set), completed (kept 1 h / 10k).
oldest-waiting is the time since the job next in line was first enqueued.`,
  options: { json },
  async run(ctx, values) {
    // One row per queue partition (`apns`, or `apns/0`, `apns/1`, ... with QUEUE_PARTITIONS > 1).
    const rows: { queue: string; system: PushSystem; partition: number; snap: QueueSnapshot }[] = [];
    for (const s of PUSH_SYSTEMS) {
      const qs = await ctx.partitions(s);
      for (const [p, q] of qs.entries()) rows.push({ queue: qs.length > 1 ? `${s}/${p}` : s, system: s, partition: p, snap: await queueSnapshot(q) });
    }
    if (values.json) {
      ctx.out(JSON.stringify(rows.map(({ system: queue, partition, snap }) => ({ queue, partition, ...snap.counts, oldestWaitingAgeSeconds: Math.round(snap.oldestWaitingAgeSeconds), paused: snap.paused }))));
      return EXIT.OK;
    }
    const header = ['queue', 'waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed', 'oldest-waiting'];
    const lines = table([header, ...rows.map(({ queue, snap }) => [
      queue + (snap.paused ? ' (PAUSED)' : ''),
      ...(['waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed'] as const).map((k) => String(snap.counts[k])),
      formatAge(snap.oldestWaitingAgeSeconds),
    ])]);
    for (const l of lines) ctx.out(l);
    return EXIT.OK;
  },
};

const deadLetterList: Command = {
  path: ['dead-letter', 'list'],
  synopsis: 'dead-letter list --queue apns|gcm [--limit N] [--json]',
  summary: 'the newest jobs of the dead-letter (failed) set',
  details: `One line per event still owed (a job carries one event, or up to 20 when the producer made the ids).
Columns: job id (the id replay and purge take), event id, event type, owner (user id), when the job failed,
the worker's attempts, tokens still owed (a count; "all" when the event failed before any send), whether
the event is past its TTL (the worker drops such events when replayed), and the failure reason. --limit
counts jobs and defaults to 20 (at most 1000).`,
  options: { queue: { type: 'string' }, limit: { type: 'string' }, json },
  async run(ctx, values) {
    const sys = system(values);
    const limit = positiveInt(values, 'limit', 20, 1000);
    const queues = await ctx.partitions(sys);
    // The newest `limit` over every partition.
    const per = await Promise.all(queues.map(async (q) => ({ total: await q.getFailedCount(), jobs: await q.getFailed(0, limit - 1) })));
    const total = per.reduce((n, x) => n + x.total, 0);
    const jobs = per.flatMap((x) => x.jobs).sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0)).slice(0, limit);
    const now = Date.now();
    // One row per event still owed (a job carries one or more events).
    const rows = jobs.flatMap((job) => {
      const base = { job: job.id ?? '-', failedAt: iso(job.finishedOn), reason: safeReason(job.failedReason) };
      const events = eventsOf(job.data);
      if (events.length === 0) return [{ ...base, id: '-', event: job.name, owner: '-', attempts: job.attemptsMade, tokensOwed: '-', expired: false }];
      return events.map((q) => ({
        ...base,
        id: typeof q?.id === 'string' ? q.id : '-',
        attempts: typeof q?.attempt === 'number' ? q.attempt : 1,
        event: (q?.event?.message as EventType | undefined) ?? job.name,
        owner: q?.event?.owner ?? '-',
        tokensOwed: owed(q),
        expired: expiredEvent(q, now, ctx.env.policies),
      }));
    });
    if (values.json) {
      ctx.out(JSON.stringify({ queue: sys, total, events: rows }));
      return EXIT.OK;
    }
    if (total === 0) {
      ctx.out(`the ${sys} dead-letter set is empty`);
      return EXIT.OK;
    }
    ctx.out(`${total} job(s) in the ${sys} dead-letter set, newest first${total > jobs.length ? ` (showing ${jobs.length}; --limit for more)` : ''}, one line per event:`);
    for (const l of table([
      ['job', 'event-id', 'event', 'owner', 'failed-at', 'attempts', 'tokens-owed', 'expired', 'reason'],
      ...rows.map((r) => [r.job, r.id, r.event, r.owner, r.failedAt, String(r.attempts), r.tokensOwed, r.expired ? 'yes' : 'no', r.reason]),
    ])) ctx.out(l);
    return EXIT.OK;
  },
};

const deadLetterReplay: Command = {
  path: ['dead-letter', 'replay'],
  synopsis: 'dead-letter replay --queue apns|gcm (--id ID | --all)',
  summary: 'send dead-lettered jobs again, with a fresh retry budget',
  details: `Resets the worker's attempt counter in the job data and moves the job back to waiting; the job
keeps the events and tokens it still owes, so tokens that were already served are not sent again. Events
past their TTL are dropped by the worker (counted as expired). --all replays the whole set, oldest first.`,
  options: { queue: { type: 'string' }, id: { type: 'string' }, all: { type: 'boolean', default: false } },
  async run(ctx, values) {
    const sys = system(values);
    const which = oneOf(values, 'id', 'all');
    const queues = await ctx.partitions(sys);
    const now = Date.now();
    let replayed = 0;
    let expired = 0;
    const failures: string[] = [];
    const replay = async (job: Job<DeliveryJobData>) => {
      const data = job.data;
      // A fresh retry budget for every event, and none of them given up on any more.
      await replayDeadLettered(job);
      replayed++;
      expired += eventsOf(data).filter((q) => expiredEvent(q, now, ctx.env.policies)).length;
    };
    if (which === 'a') {
      await replay(await failedJob(queues, String(values.id)));
    } else {
      const all = (await Promise.all(queues.map(async (queue) => (await queue.getRanges(['failed'], 0, -1, true)).map((id) => ({ queue, id }))))).flat();
      if (all.length === 0) throw new NotFoundError(`the ${sys} dead-letter set is empty: nothing to replay`);
      for (let i = 0; i < all.length; i += 100) {
        const jobs = await Promise.all(all.slice(i, i + 100).map(({ queue, id }) => queue.getJob(id)));
        for (const job of jobs) {
          if (!job) continue; // removed meanwhile (retention)
          try {
            await replay(job);
          } catch (e) {
            failures.push(`${job.id}: ${safeReason((e as Error).message)}`);
          }
        }
      }
    }
    ctx.out(`replayed ${replayed} job(s) from the ${sys} dead-letter set${expired ? ` (${expired} past their TTL: the worker will drop them as expired)` : ''}`);
    if (failures.length) {
      ctx.err(`${failures.length} job(s) could not be replayed (moved or removed meanwhile?):`);
      for (const f of failures.slice(0, 20)) ctx.err(`  ${f}`);
      return EXIT.FAILURE;
    }
    return EXIT.OK;
  },
};

const deadLetterPurge: Command = {
  path: ['dead-letter', 'purge'],
  synopsis: 'dead-letter purge --queue apns|gcm (--id ID | --all --yes)',
  summary: 'delete dead-lettered jobs for good',
  details: `--id deletes one job of the dead-letter set. --all deletes the whole set and needs --yes.
The events are lost: list them first (dead-letter list) and replay what should still go out.`,
  options: { queue: { type: 'string' }, id: { type: 'string' }, all: { type: 'boolean', default: false }, yes: { type: 'boolean', default: false } },
  async run(ctx, values) {
    const sys = system(values);
    const which = oneOf(values, 'id', 'all');
    if (which === 'b' && !values.yes) throw new UsageError('--all deletes every job in the dead-letter set: add --yes to confirm');
    const queues = await ctx.partitions(sys);
    if (which === 'a') {
      const job = await failedJob(queues, String(values.id));
      await job.remove();
      ctx.out(`purged job ${job.id} from the ${sys} dead-letter set`);
      return EXIT.OK;
    }
    let purged = 0;
    for (const queue of queues) {
      for (;;) {
        const removed = await queue.clean(0, 1000, 'failed');
        purged += removed.length;
        if (removed.length < 1000) break;
      }
    }
    if (purged === 0) throw new NotFoundError(`the ${sys} dead-letter set is empty: nothing to purge`);
    ctx.out(`purged ${purged} job(s) from the ${sys} dead-letter set`);
    return EXIT.OK;
  },
};

const sendSample: Command = {
  path: ['send-sample'],
  synopsis: 'send-sample --user <owner uuid> --event <type> [--text TEXT] [--id EVENT_ID]',
  summary: 'publish a valid sample event to both queues, to test a user\'s devices end to end',
  details: `<type> is one of ${EVENT_TYPES.join(', ')}. The owner is the user's UUID as the
telephony backend names it. --text sets the chat_message text (chat_message only). --id sets the event id
(publishing the same id again is a no-op for 24 h, the producer's default DEDUPE_TTL). Prints the event id and how many tokens the
owner has; follow it in the workers' logs and metrics, or in the admin dashboard.`,
  options: { user: { type: 'string' }, event: { type: 'string' }, text: { type: 'string' }, id: { type: 'string' } },
  async run(ctx, values) {
    const owner = values.user;
    if (typeof owner !== 'string') throw new UsageError('--user is required (the owner\'s UUID)');
    if (!uuidSchema.safeParse(owner).success) throw new UsageError('--user must be a UUID (8-4-4-4-12 hex digits): events name their owner by UUID');
    const type = values.event;
    if (typeof type !== 'string') throw new UsageError(`--event is required (${EVENT_TYPES.join(', ')})`);
    if (!EVENT_TYPES.includes(type as EventType)) throw new UsageError(`--event must be one of ${EVENT_TYPES.join(', ')}`);
    if (values.text !== undefined && type !== 'chat_message') throw new UsageError('--text only applies to --event chat_message');
    const event = sampleEvent(type as EventType, owner, { text: values.text as string | undefined, id: values.id as string | undefined });
    const redis = await ctx.redis();
    const producer = createProducer({ connection: redis, prefix: ctx.env.prefix, readyTimeoutMs: 3000, partitions: ctx.env.redis.queues.count });
    let id: string;
    try {
      id = (await producer.publish(event)).id;
    } catch (e) {
      if (e instanceof InvalidEventsError) throw new UsageError(e.errors.map((x) => `${x.path || 'event'}: ${x.message}`).join('; '));
      if (e instanceof QueueUnavailableError) throw new Error(`could not enqueue: ${e.message}`);
      throw e;
    } finally {
      await producer.close();
    }
    const entries = await (await ctx.registry()).entries(owner);
    ctx.out(`published ${type} ${id} for owner ${owner} to the apns and gcm queues`);
    ctx.out(`the owner has ${entries.apns.length} APNs and ${entries.gcm.length} GCM token(s)${entries.apns.length + entries.gcm.length === 0 ? ': the workers will find no device (jobs result "no_devices")' : ''}`);
    return EXIT.OK;
  },
};

const tokensList: Command = {
  path: ['tokens', 'list'],
  synopsis: 'tokens list --user <id> [--json]',
  summary: 'a user\'s registered devices (short token references only)',
  details: `<id> is the user id as the API knows it (the JWT subject; the owner UUID of events). Tokens show as
references "<first 6 characters>…#<8 hex of sha256>" that \`tokens remove --ref\` accepts.`,
  options: { user: { type: 'string' }, json },
  async run(ctx, values) {
    const user = userId(values);
    const entries = await (await ctx.registry()).entries(user);
    const rows = [
      ...entries.apns.map((e) => ({ system: 'apns', token: tokenRef(e.deviceToken), app: e.applicationId, sandbox: e.sandbox, topic: e.apnsTopic ?? null, registeredAt: iso(e.registeredAt) })),
      ...entries.gcm.map((e) => ({ system: 'gcm', token: tokenRef(e.registrationId), app: null, sandbox: null, topic: null, registeredAt: iso(e.registeredAt) })),
    ];
    if (values.json) {
      ctx.out(JSON.stringify({ user, tokens: rows }));
      return rows.length ? EXIT.OK : EXIT.NOT_FOUND;
    }
    if (rows.length === 0) throw new NotFoundError(`no tokens registered for user ${user}`);
    for (const l of table([
      ['system', 'token', 'app', 'sandbox', 'topic', 'registered-at'],
      ...rows.map((r) => [r.system, r.token, r.app ?? '-', r.sandbox === null ? '-' : r.sandbox ? 'yes' : 'no', r.topic ?? '-', r.registeredAt]),
    ])) ctx.out(l);
    return EXIT.OK;
  },
};

const tokensRemove: Command = {
  path: ['tokens', 'remove'],
  synopsis: 'tokens remove --user <id> --system apns|gcm (--token TOKEN | --ref REF)',
  summary: 'unregister one of a user\'s devices',
  details: `--token is the full device token / registration id; --ref is the reference \`tokens list\` prints.
Only the user's own entry is removed (a token that now belongs to someone else is left alone).`,
  options: { user: { type: 'string' }, system: { type: 'string' }, token: { type: 'string' }, ref: { type: 'string' } },
  async run(ctx, values) {
    const user = userId(values);
    const sys = system(values, 'system');
    const which = oneOf(values, 'token', 'ref');
    const registry = await ctx.registry();
    let token = String(values[which === 'a' ? 'token' : 'ref']);
    if (which === 'b') {
      const entries = await registry.entries(user);
      const all = sys === 'apns' ? entries.apns.map((e) => e.deviceToken) : entries.gcm.map((e) => e.registrationId);
      const found = all.find((t) => tokenRef(t) === token);
      if (!found) throw new NotFoundError(`user ${user} has no ${sys} token with reference ${token}`);
      token = found;
    }
    if (!(await registry.remove(user, sys, token))) throw new NotFoundError(`${sys} token ${tokenRef(token)} is not registered to user ${user}`);
    ctx.out(`removed ${sys} token ${tokenRef(sys === 'apns' ? token.toLowerCase() : token)} of user ${user}`);
    return EXIT.OK;
  },
};

const tokensPruned: Command = {
  path: ['tokens', 'pruned'],
  synopsis: 'tokens pruned [--limit N] [--full] [--json]',
  summary: 'tokens the workers pruned, kept as tombstones for PRUNED_RETENTION_SECONDS (newest first)',
  details: `Each line: system, token reference (the full token with --full), owner, app, reason, the answer that
pruned it, when it was registered and pruned. \`tokens restore --ref\` takes the reference.`,
  options: { limit: { type: 'string' }, full: { type: 'boolean', default: false }, json },
  async run(ctx, values) {
    const limit = positiveInt(values, 'limit', 100, 10_000);
    const stones = await (await ctx.registry()).tombstones.list(limit);
    const rows = stones.map((t) => ({
      system: t.system, token: values.full ? t.token : tokenRef(t.token), owner: t.owner, app: t.app, reason: t.reason,
      answer: t.answer, registeredAt: iso(t.registeredAt), prunedAt: iso(t.prunedAt),
    }));
    if (values.json) {
      ctx.out(JSON.stringify({ pruned: rows }));
      return rows.length ? EXIT.OK : EXIT.NOT_FOUND;
    }
    if (rows.length === 0) throw new NotFoundError('no pruned tokens kept');
    for (const l of table([
      ['system', 'token', 'owner', 'app', 'reason', 'answer', 'registered-at', 'pruned-at'],
      ...rows.map((r) => [r.system, r.token, r.owner, r.app, r.reason, r.answer, r.registeredAt, r.prunedAt]),
    ])) ctx.out(l);
    return EXIT.OK;
  },
};

const tokensRestore: Command = {
  path: ['tokens', 'restore'],
  synopsis: 'tokens restore --system apns|gcm (--token TOKEN | --ref REF)',
  summary: 'put a pruned token back to its owner, as it was registered',
  details: `--ref is the reference \`tokens pruned\` prints. A token registered again since (by anyone) is left as it
is and its tombstone dropped.`,
  options: { system: { type: 'string' }, token: { type: 'string' }, ref: { type: 'string' } },
  async run(ctx, values) {
    const sys = system(values, 'system');
    const which = oneOf(values, 'token', 'ref');
    const registry = await ctx.registry();
    let token = String(values[which === 'a' ? 'token' : 'ref']);
    if (which === 'b') {
      const found = (await registry.tombstones.list(10_000)).find((t) => t.system === sys && tokenRef(t.token) === token);
      if (!found) throw new NotFoundError(`no pruned ${sys} token with reference ${token}`);
      token = found.token;
    }
    const result = await registry.restore(sys, token);
    if (result === 'not-found') throw new NotFoundError(`no pruned ${sys} token ${tokenRef(token)} is kept`);
    ctx.out(result === 'restored' ? `restored ${sys} token ${tokenRef(token)}` : `${sys} token ${tokenRef(token)} is registered again already; tombstone dropped`);
    return EXIT.OK;
  },
};

const registryMigrate: Command = {
  path: ['registry', 'migrate'],
  synopsis: 'registry migrate [--json]',
  summary: 'copy the registry from the old single-slot {registry} layout into the sharded one',
  details: `Reads <prefix>:{registry}:owners and the old user hashes and registers every token to its owner in
the sharded layout (docs/redis-keys.md), keeping registered_at. Safe to run again: tokens the new layout
already knows are skipped (so a token re-registered since is never moved back). The old keys stay; delete
them once every process runs this version. Reports: seen, copied, present (skipped), orphaned (listed in
owners without an entry), users.`,
  options: { json },
  async run(ctx, values) {
    const redis = await ctx.redis();
    const report = await migrateLegacyRegistry(redis, await ctx.registry(), ctx.env.prefix);
    if (values.json) ctx.out(JSON.stringify(report));
    else ctx.out(`registry migrate: ${report.seen} token(s) in the old layout: ${report.copied} copied (${report.users} user(s)), ${report.present} already present, ${report.orphaned} orphaned`);
    return EXIT.OK;
  },
};

export const COMMANDS: readonly Command[] = [stats, deadLetterList, deadLetterReplay, deadLetterPurge, sendSample, tokensList, tokensRemove, tokensPruned, tokensRestore, registryMigrate];

// ------------------------------------------------------------------------------------------------- help

const ENV_HELP = `Environment:
  REDIS_URL          Redis of the fleet (default redis://127.0.0.1:6379)
  REDIS_CLUSTER_NODES  host:port,... of a Redis Cluster instead (wins over REDIS_URL)
  PUSHFLEET_PREFIX   key prefix of queues and registry (default pushfleet)
  EVENT_POLICIES     the workers' TTL overrides (JSON), to tell expired events`;

const EXIT_HELP = `Exit codes:
  0  done
  1  failed (Redis unreachable or an error; some jobs not replayed)
  2  usage or configuration error (nothing changed)
  3  not found / nothing to do (unknown job id or token, empty dead-letter set, user without tokens)`;

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(' ').length));
  return `pushfleet operator CLI

Usage: npm run cli -- <command> [options]      (or: node scripts/dist/cli.js <command> ...)

Commands:
${COMMANDS.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`).join('\n')}

Run "<command> --help" for its options.

${ENV_HELP}

${EXIT_HELP}
`;
}

function commandHelp(c: Command): string {
  return `Usage: npm run cli -- ${c.synopsis}

${c.summary[0].toUpperCase()}${c.summary.slice(1)}.

${c.details}

${ENV_HELP}

${EXIT_HELP}
`;
}

function groupHelp(group: string): string {
  const cs = COMMANDS.filter((c) => c.path[0] === group);
  return `Usage: npm run cli -- ${group} <${cs.map((c) => c.path[1]).join('|')}> [options]

${cs.map((c) => `  ${c.synopsis}\n      ${c.summary}`).join('\n')}

Run "${group} <subcommand> --help" for details.
`;
}

// -------------------------------------------------------------------------------------------------- run

/**
 * Finds the command named by the leading words of argv (`stats`, `dead-letter list`, ...). Returns the
 * command and the arguments after its name, or what to print instead.
 */
function dispatch(argv: readonly string[]): { command: Command; rest: string[]; help: boolean } | { text: string; code: number; toStderr: boolean } {
  const help = argv.includes('--help') || argv.includes('-h');
  let args = [...argv];
  let explicitHelp = false;
  if (args[0] === 'help') { explicitHelp = true; args = args.slice(1); }
  const [first, second] = args;
  if (first === undefined || first.startsWith('-')) {
    if (help || explicitHelp) return { text: mainHelp(), code: EXIT.OK, toStderr: false };
    return { text: argv.length === 0 ? mainHelp() : `pushfleet cli: give a command first\n\n${mainHelp()}`, code: EXIT.USAGE, toStderr: argv.length > 0 };
  }
  const single = COMMANDS.find((c) => c.path.length === 1 && c.path[0] === first);
  if (single) return { command: single, rest: args.slice(1), help: help || explicitHelp };
  const group = COMMANDS.filter((c) => c.path.length === 2 && c.path[0] === first);
  if (group.length === 0) return { text: `pushfleet cli: unknown command "${first}"\n\n${mainHelp()}`, code: EXIT.USAGE, toStderr: true };
  const sub = group.find((c) => c.path[1] === second);
  if (sub) return { command: sub, rest: args.slice(2), help: help || explicitHelp };
  if (second === undefined || second.startsWith('-')) {
    if (help || explicitHelp) return { text: groupHelp(first), code: EXIT.OK, toStderr: false };
    return { text: `pushfleet cli: ${first} needs a subcommand\n\n${groupHelp(first)}`, code: EXIT.USAGE, toStderr: true };
  }
  return { text: `pushfleet cli: unknown ${first} subcommand "${second}"\n\n${groupHelp(first)}`, code: EXIT.USAGE, toStderr: true };
}

/** Runs one CLI invocation; never throws; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const d = dispatch(argv);
  if ('text' in d) {
    (d.toStderr ? io.stderr : io.stdout).write(d.text);
    return d.code;
  }
  const { command } = d;
  if (d.help) {
    io.stdout.write(commandHelp(command));
    return EXIT.OK;
  }

  let values: Values;
  try {
    values = parseArgs({ args: d.rest, options: command.options, strict: true, allowPositionals: false }).values as Values;
  } catch (e) {
    io.stderr.write(`pushfleet cli: ${(e as Error).message.split('\n')[0]}\n\nUsage: npm run cli -- ${command.synopsis}\n`);
    return EXIT.USAGE;
  }

  let env: CliEnv;
  try {
    env = loadCliEnv(io.env, io.fleetEnvFile);
  } catch (e) {
    if (e instanceof ConfigError) {
      io.stderr.write(`pushfleet cli: ${e.message}\n`);
      return EXIT.USAGE;
    }
    throw e;
  }

  const ctx = new Context(env, io);
  try {
    return await command.run(ctx, values);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`pushfleet cli: ${printable(e.message)}\n\nUsage: npm run cli -- ${command.synopsis}\n`);
      return EXIT.USAGE;
    }
    if (e instanceof NotFoundError) {
      io.stderr.write(`pushfleet cli: ${printable(e.message)}\n`);
      return EXIT.NOT_FOUND;
    }
    io.stderr.write(`pushfleet cli: ${printable(maskTokens((e as Error)?.message ?? String(e)))}\n`);
    return EXIT.FAILURE;
  } finally {
    await ctx.close();
  }
}
