import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { expiresAt, jobEvents, Policies, PushJobData, PushSystem, QUEUE_NAMES, QUEUE_PREFIX, QueuedEvent } from '@pushfleet/events';
import type { TokenRegistry } from '@pushfleet/registry';
import { tokenRef } from '@pushfleet/observability';
import { AppCircuit } from './circuit';
import type { DeliveryMetrics } from './metrics';
import type { TokenOutcome } from './outcome';
import type { PushTransport } from './transport';
import { EventRound, retryDelay, RetryPolicy } from './retry';

export type DeliveryJobData = PushJobData;

export interface DeliveryWorkerOptions<Entry> {
  system: PushSystem;
  /** A connection for BullMQ (maxRetriesPerRequest: null); the worker duplicates it for blocking calls. */
  connection: Redis;
  prefix?: string;
  registry: TokenRegistry;
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

/**
 * The delivery loop for one system, the same for APNs and GCM: a job carries one or more events; the
 * worker loads their owners' entries from the registry, the transport sends each event, and each token's
 * outcome picks an action. Only the events and tokens that still need it are retried (kept in the job's
 * data), so a token that got a 200 never sees the same event again from a retry.
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
    const { system, metrics, retry } = this.o;
    const events = jobEvents(job.data);
    if (!events) throw new UnrecoverableError('malformed job data: no events');
    const now = Date.now();
    // Each event keeps its own retry state: given up on (kept for the dead-letter set), waiting for its
    // next try, or due now.
    const given: QueuedEvent[] = [];
    const waiting: QueuedEvent[] = [];
    const due: QueuedEvent[] = [];
    for (const q of events) {
      if (q.failed) given.push(q);
      else if (now >= this.expiresAt(q)) this.expire(q);
      else if ((q.notBefore ?? 0) > now) waiting.push(q);
      else due.push(q);
    }

    if (due.length > 0) {
      // One registry read for all the owners of the job.
      const owners = [...new Set(due.map((q) => q.event.owner))];
      // The registry's entries of this worker's system are what its transport takes.
      const loaded = (await this.o.registry.entriesOf(owners)).map((e) => e[this.o.system] as unknown as Entry[]);
      const entriesOf = new Map(owners.map((owner, i) => [owner, loaded[i]]));
      const rounds = await this.sendAll(due, entriesOf, now);
      this.refreshCircuitGauge();
      const decidedAt = Date.now();
      due.forEach((q, i) => {
        const r = rounds[i];
        if (r.owed.length === 0) return;
        const attempt = q.attempt ?? 1;
        const owed: QueuedEvent = { ...q, tokens: r.owed };
        delete owed.notBefore;
        const onlyConfigFailures = r.failed > 0 && r.failed === r.owed.length;
        if (onlyConfigFailures || (r.sent && attempt >= retry.maxAttempts)) {
          const cause = onlyConfigFailures ? 'configuration' : 'attempts_exhausted';
          metrics.deadLettered.inc({ system, cause });
          metrics.events.inc({ system, result: 'dead_letter' });
          given.push({ ...owed, failed: cause });
          return;
        }
        // Waiting on an open circuit is not an attempt.
        const delay = r.sent ? Math.max(retryDelay(attempt, retry, r.providerWaitMs), r.heldForMs) : r.heldForMs;
        const retryAt = decidedAt + delay;
        if (retryAt >= this.expiresAt(q)) {
          this.expire(q);
          return;
        }
        metrics.events.inc({ system, result: r.sent ? 'retry' : 'circuit_open' });
        const next: QueuedEvent = { ...owed, notBefore: retryAt };
        if (r.sent) next.attempt = attempt + 1;
        waiting.push(next);
      });
    }

    if (waiting.length > 0) {
      // Back to the queue until the first event is due; the events given up on ride along.
      await job.updateData({ events: [...waiting, ...given] });
      await job.moveToDelayed(Math.min(...waiting.map((q) => q.notBefore ?? 0)), lockToken);
      throw new DelayedError();
    }
    if (given.length > 0) {
      await job.updateData({ events: given });
      const causes = [...new Set(given.map((q) => q.failed))].join('+');
      const tokens = given.reduce((n, q) => n + (q.tokens?.length ?? 0), 0);
      const attempts = Math.max(...given.map((q) => q.attempt ?? 1));
      throw new UnrecoverableError(`${causes}: ${tokens} token(s) of ${given.length} event(s) still owed after ${attempts} attempt(s)`);
    }
  }

  /**
   * Sends the due events concurrently, except those of an app that has configuration failures not yet
   * cleared by a success: those go one at a time, so a job of many events hits the provider with bad
   * credentials at most until the circuit opens (and holds the rest), not once per event. As soon as the
   * app answers a success, the rest go concurrently.
   */
  private async sendAll(due: QueuedEvent[], entriesOf: Map<string, Entry[]>, now: number): Promise<EventRound[]> {
    const { transport } = this.o;
    const rounds: EventRound[] = new Array(due.length);
    const appsOf = (q: QueuedEvent) => (entriesOf.get(q.event.owner) ?? []).map((e) => transport.appOf(e));
    const suspect = (q: QueuedEvent) => appsOf(q).some((app) => this.circuit.suspect(app));
    const send = async (i: number, at: number) => {
      rounds[i] = await this.sendEvent(due[i], entriesOf.get(due[i].event.owner) ?? [], at);
    };
    const risky: number[] = [];
    const safe: number[] = [];
    due.forEach((q, i) => (suspect(q) ? risky : safe).push(i));
    await Promise.all([
      Promise.all(safe.map((i) => send(i, now))),
      (async () => {
        for (let k = 0; k < risky.length; k++) {
          if (!suspect(due[risky[k]])) {
            await Promise.all(risky.slice(k).map((i) => send(i, Date.now())));
            return;
          }
          await send(risky[k], Date.now());
        }
      })(),
    ]);
    return rounds;
  }

  private expiresAt(q: QueuedEvent): number {
    return expiresAt(q.enqueuedAt, this.o.policies[q.event.message]);
  }

  private expire(q: QueuedEvent): void {
    this.o.metrics.expired.inc({ system: this.o.system, event: q.event.message });
    this.o.metrics.events.inc({ system: this.o.system, result: 'expired' });
  }

  /** One event to the tokens it is owed; the outcomes' actions are carried out before it resolves. */
  private async sendEvent(q: QueuedEvent, all: Entry[], now: number): Promise<EventRound> {
    const { system, metrics, transport } = this.o;
    const type = q.event.message;
    let owed = all;
    if (q.tokens) {
      const wanted = new Set(q.tokens);
      owed = all.filter((e) => wanted.has(transport.tokenOf(e)));
    }
    const round: EventRound = { owed: [], sent: false, heldForMs: 0, providerWaitMs: 0, failed: 0 };
    if (owed.length === 0) {
      metrics.events.inc({ system, result: q.tokens ? 'done' : 'no_devices' });
      return round;
    }

    // Tokens of apps whose circuit is open wait; the rest go out now.
    const sendable: Entry[] = [];
    for (const e of owed) {
      const blocked = this.circuit.blockedFor(transport.appOf(e), now);
      if (blocked > 0) { round.owed.push(transport.tokenOf(e)); round.heldForMs = Math.max(round.heldForMs, blocked); } else sendable.push(e);
    }
    if (sendable.length === 0) return round;

    metrics.attempts.inc({ system });
    round.sent = true;
    let outcomes: TokenOutcome[];
    try {
      outcomes = await transport.send(q.event, sendable, {
        policy: this.o.policies[type],
        expiresAt: this.expiresAt(q),
        onTruncated: () => metrics.truncated.inc({ system, event: type }),
      });
    } catch (err) {
      // A transport answers with outcomes and rejects only on a bug: retry this event's tokens rather
      // than fail the job, which would resend its other events too.
      this.o.logger.error({ system, err: (err as Error).message, event: type, eventId: q.id }, 'transport failed; the event\'s tokens are retried');
      outcomes = sendable.map((e) => ({ token: transport.tokenOf(e), action: 'retry', reason: 'internal_error', app: transport.appOf(e) }));
    }
    const registryWrites: Promise<unknown>[] = [];
    for (const out of outcomes) {
      metrics.deliveries.inc({ system, app: out.app, event: type, outcome: out.action, reason: out.reason });
      switch (out.action) {
        case 'delivered':
          metrics.latency.observe({ system }, ((out.answeredAt ?? Date.now()) - q.enqueuedAt) / 1000);
          this.circuit.success(out.app);
          break;
        case 'prune':
          this.circuit.success(out.app);
          registryWrites.push(this.prune(q.event.owner, out));
          break;
        case 'replace':
          this.circuit.success(out.app);
          registryWrites.push(this.replace(q.event.owner, out));
          break;
        case 'retry':
          round.owed.push(out.token);
          round.providerWaitMs = Math.max(round.providerWaitMs, out.retryAfterMs ?? 0);
          break;
        case 'fail':
          round.failed++;
          round.owed.push(out.token);
          this.circuit.failure(out.app);
          this.o.logger.error({ system, app: out.app, reason: out.reason, event: type, eventId: q.id }, 'configuration failure: the provider refused our credentials or request; tokens kept');
          break;
        case 'drop':
          break;
      }
    }
    // A registry write that fails (Redis trouble) must not fail the job: the push itself went out, and the
    // next answer for that token asks again.
    await Promise.all(registryWrites.map((w) => w.catch((err: Error) => {
      this.o.logger.warn({ system, err: err.message, eventId: q.id }, 'registry update after a provider answer failed; the next answer for the token retries it');
    })));
    if (round.owed.length === 0) metrics.events.inc({ system, result: 'done' });
    return round;
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
