import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Policies, PushJobData, PushSystem, QUEUE_NAMES, QUEUE_PREFIX } from '@pushfleet/events';
import type { TokenRegistry } from '@pushfleet/registry';
import { tokenRef } from '@pushfleet/observability';
import { AppCircuit } from './circuit';
import type { DeliveryMetrics } from './metrics';
import type { TokenOutcome } from './outcome';
import type { PushTransport } from './transport';

export type DeliveryJobData = PushJobData;

export interface RetryPolicy {
  /** Send attempts per job before it is dead-lettered with the tokens still owed. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface DeliveryWorkerOptions<Entry> {
  system: PushSystem;
  /** A connection for BullMQ (maxRetriesPerRequest: null); the worker duplicates it for blocking calls. */
  connection: Redis;
  prefix?: string;
  registry: TokenRegistry;
  /** The owner's entries for this system, fresh at send time. */
  loadEntries: (owner: string) => Promise<Entry[]>;
  transport: PushTransport<Entry>;
  policies: Policies;
  retry: RetryPolicy;
  concurrency: number;
  circuit?: { threshold: number; cooldownMs: number };
  metrics: DeliveryMetrics;
  logger: Logger;
  /** BullMQ stalled-job settings (tests shorten them to prove crash recovery quickly). */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  autorun?: boolean;
}

/** Exponential backoff with ±50 % jitter, at least what the provider asked for. */
export function retryDelay(attempt: number, policy: RetryPolicy, providerWaitMs = 0, random = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(exp * (0.5 + random() / 2));
  return Math.max(jittered, providerWaitMs);
}

/**
 * The delivery loop for one system, the same for APNs and GCM: the job names an event and its owner; the
 * worker loads the owner's entries from the registry, the transport sends, and each token's outcome picks
 * an action. Only the tokens that still need it are retried (kept in the job's data), so a token that got
 * a 200 never sees the same event again from a retry.
 */
export class DeliveryWorker<Entry> {
  readonly worker: Worker<DeliveryJobData>;
  readonly circuit: AppCircuit;
  private readonly o: DeliveryWorkerOptions<Entry>;

  constructor(opts: DeliveryWorkerOptions<Entry>) {
    this.o = opts;
    const { system, metrics, logger } = opts;
    this.circuit = new AppCircuit(opts.circuit?.threshold ?? 3, opts.circuit?.cooldownMs ?? 30_000, (app) => {
      logger.error({ system, app }, 'circuit opened: repeated configuration failures for this app; its deliveries wait');
      metrics.circuitOpen.set({ system, app }, 1);
    });
    this.worker = new Worker<DeliveryJobData>(QUEUE_NAMES[system], (job, token) => this.process(job, token), {
      connection: opts.connection,
      prefix: opts.prefix ?? QUEUE_PREFIX,
      concurrency: opts.concurrency,
      autorun: opts.autorun ?? true,
      lockDuration: opts.lockDurationMs ?? 30_000,
      stalledInterval: opts.stalledIntervalMs ?? 15_000,
      // A crashed worker's jobs go back to wait; several crashes in a row must not dead-letter an event.
      maxStalledCount: 10,
    });
    this.worker.on('error', (e) => logger.warn({ system, err: e.message }, 'worker error'));
  }

  private async process(job: Job<DeliveryJobData>, lockToken?: string): Promise<void> {
    const { system, metrics, transport } = this.o;
    const data = job.data;
    const type = data.event.message;
    const policy = this.o.policies[type];
    const expiresAt = data.enqueuedAt + policy.ttlSeconds * 1000;
    const now = Date.now();
    if (now >= expiresAt) {
      metrics.expired.inc({ system, event: type });
      metrics.jobs.inc({ system, result: 'expired' });
      return;
    }

    const all = await this.o.loadEntries(data.event.owner);
    let owed = all;
    if (data.tokens) {
      const wanted = new Set(data.tokens);
      owed = all.filter((e) => wanted.has(transport.tokenOf(e)));
    }
    if (owed.length === 0) {
      metrics.jobs.inc({ system, result: data.tokens ? 'done' : 'no_devices' });
      return;
    }

    // Tokens of apps whose circuit is open wait; the rest go out now.
    let held: Entry[] = [];
    let heldForMs = 0;
    const sendable: Entry[] = [];
    for (const e of owed) {
      const blocked = this.circuit.blockedFor(transport.appOf(e), now);
      if (blocked > 0) { held.push(e); heldForMs = Math.max(heldForMs, blocked); } else sendable.push(e);
    }

    let outcomes: TokenOutcome[] = [];
    if (sendable.length) {
      metrics.attempts.inc({ system });
      outcomes = await transport.send(data.event, sendable, {
        policy,
        expiresAt,
        eventId: data.id,
        onTruncated: () => metrics.truncated.inc({ system, event: type }),
      });
    }

    const stillOwed: string[] = held.map((e) => transport.tokenOf(e));
    let providerWaitMs = 0;
    let failed = 0;
    const registryWrites: Promise<unknown>[] = [];
    for (const out of outcomes) {
      metrics.deliveries.inc({ system, app: out.app, event: type, outcome: out.action, reason: out.reason });
      switch (out.action) {
        case 'delivered':
          metrics.latency.observe({ system }, ((out.answeredAt ?? Date.now()) - data.enqueuedAt) / 1000);
          this.circuit.success(out.app);
          break;
        case 'prune':
          this.circuit.success(out.app);
          registryWrites.push(this.prune(data.event.owner, out));
          break;
        case 'replace':
          this.circuit.success(out.app);
          registryWrites.push(this.replace(data.event.owner, out));
          break;
        case 'retry':
          stillOwed.push(out.token);
          providerWaitMs = Math.max(providerWaitMs, out.retryAfterMs ?? 0);
          break;
        case 'fail':
          failed++;
          stillOwed.push(out.token);
          this.circuit.failure(out.app);
          this.o.logger.error({ system, app: out.app, reason: out.reason, event: type, jobId: job.id }, 'configuration failure: the provider refused our credentials or request; tokens kept');
          break;
        case 'drop':
          break;
      }
    }
    await Promise.all(registryWrites);
    this.refreshCircuitGauge();

    if (stillOwed.length === 0) {
      metrics.jobs.inc({ system, result: 'done' });
      return;
    }

    const attempt = data.attempt ?? 1;
    // Waiting on an open circuit is not an attempt.
    const next: DeliveryJobData = { ...data, tokens: stillOwed, attempt: outcomes.length ? attempt + 1 : attempt };
    const onlyConfigFailures = failed > 0 && failed === stillOwed.length;
    if (onlyConfigFailures || (outcomes.length > 0 && attempt >= this.o.retry.maxAttempts)) {
      await job.updateData({ ...next, attempt });
      const cause = onlyConfigFailures ? 'configuration' : 'attempts_exhausted';
      metrics.deadLettered.inc({ system, cause });
      metrics.jobs.inc({ system, result: 'dead_letter' });
      throw new UnrecoverableError(`${cause}: ${stillOwed.length} token(s) still owed after ${attempt} attempt(s)`);
    }

    const delay = outcomes.length === 0 ? heldForMs : Math.max(retryDelay(attempt, this.o.retry, providerWaitMs), held.length ? heldForMs : 0);
    if (Date.now() + delay >= expiresAt) {
      metrics.expired.inc({ system, event: type });
      metrics.jobs.inc({ system, result: 'expired' });
      return;
    }
    metrics.jobs.inc({ system, result: outcomes.length === 0 ? 'circuit_open' : 'retry' });
    await job.updateData(next);
    await job.moveToDelayed(Date.now() + delay, lockToken);
    throw new DelayedError();
  }

  /** 1 for each app whose circuit is open now, 0 once it has closed again. */
  private readonly appsEverOpened = new Set<string>();
  private refreshCircuitGauge(): void {
    const open = new Set(this.circuit.openApps());
    for (const app of open) this.appsEverOpened.add(app);
    for (const app of this.appsEverOpened) this.o.metrics.circuitOpen.set({ system: this.o.system, app }, open.has(app) ? 1 : 0);
  }

  private async prune(owner: string, out: TokenOutcome): Promise<void> {
    const removed = await this.o.registry.remove(owner, this.o.system, out.token, out.invalidSince === undefined ? {} : { registeredBefore: out.invalidSince });
    if (removed) {
      this.o.metrics.prunes.inc({ system: this.o.system, reason: out.reason });
      this.o.logger.info({ system: this.o.system, app: out.app, reason: out.reason, token: tokenRef(out.token) }, 'pruned token');
    }
  }

  private async replace(owner: string, out: TokenOutcome): Promise<void> {
    if (!out.canonicalToken) return;
    const result = await this.o.registry.replaceGcm(owner, out.token, out.canonicalToken);
    this.o.metrics.replacements.inc({ system: this.o.system, result });
  }

  /**
   * Stop taking jobs; wait for in-flight ones up to `timeoutMs`. A job still running then is left to
   * BullMQ's stalled-job recovery: once this process closes Redis its lock expires and another worker
   * takes the job (BullMQ's close(true) would only return the same graceful promise, so it is not awaited).
   */
  async close(timeoutMs: number): Promise<void> {
    const graceful = this.worker.close();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      graceful.then(() => false, () => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut) this.o.logger.warn({ system: this.o.system, timeoutMs }, 'shutdown timeout: in-flight jobs go back to the queue via stalled recovery');
  }

}
