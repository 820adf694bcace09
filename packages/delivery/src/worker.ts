import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { WORKER_DEFAULTS } from '@pushfleet/config';
import { expiresAt, Policies, PushJobData, PushSystem, QUEUE_NAMES, QUEUE_PREFIX, QueuedEvent } from '@pushfleet/events';
import type { DeviceOf, TokenRegistry } from '@pushfleet/registry';
import { OutcomeActions } from './actions';
import { AppCircuit } from './circuit';
import { validJobEvents } from './invalid-job';
import type { DeliveryMetrics } from './metrics';
import type { TokenOutcome } from './outcome';
import { PruneGuard, PruneGuardOptions } from './prune-guard';
import { decideRetry, EventRound, RetryPolicy } from './retry';
import type { PushTransport } from './transport';

export type DeliveryJobData = PushJobData;

export interface DeliveryWorkerOptions<S extends PushSystem> {
  system: S;
  /** A connection for BullMQ (maxRetriesPerRequest: null); the worker duplicates it for blocking calls. */
  connection: Redis | Cluster;
  /** @defaultValue QUEUE_PREFIX ('pushfleet') */
  prefix?: string;
  /** The queue (partition) to consume, e.g. `{apns-3}`. @defaultValue QUEUE_NAMES[system] */
  queueName?: string;
  /** The token registry: the worker reads the owners' devices from it and prunes or replaces tokens. */
  tokens: TokenRegistry;
  transport: PushTransport<DeviceOf<S>>;
  policies: Policies;
  retry: RetryPolicy;
  concurrency: number;
  /** @defaultValue WORKER_DEFAULTS.circuitThreshold, WORKER_DEFAULTS.circuitCooldownMs */
  circuit?: { threshold: number; cooldownMs: number };
  /** The prune-storm guard's limits. @defaultValue PRUNING_DEFAULTS (more than 20 % of at least 100 answers in 5 minutes) */
  pruneGuard?: Pick<PruneGuardOptions, 'maxShare' | 'minAnswers' | 'windowMs'>;
  metrics: DeliveryMetrics;
  logger: Logger;
  /** BullMQ stalled-job settings (tests shorten them to prove crash recovery quickly). @defaultValue WORKER_DEFAULTS */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** @defaultValue true */
  autorun?: boolean;
}

/** A job's events by what is to be done now: given up on (kept for the dead-letter set), waiting, due. */
interface Sorted { given: QueuedEvent[]; waiting: QueuedEvent[]; due: QueuedEvent[] }

/**
 * The delivery loop for one system, the same for APNs and GCM: a job carries one or more events; the
 * worker reads their owners' devices from the registry, the transport sends each event, and each token's
 * outcome picks an action. Only the events and tokens that still need it are retried (kept in the job's
 * data), so a token that got a 200 never sees the same event again from a retry.
 */
export class DeliveryWorker<S extends PushSystem> {
  readonly worker: Worker<DeliveryJobData>;
  readonly circuit: AppCircuit;
  readonly pruneGuard: PruneGuard;
  private readonly actions: OutcomeActions;
  private readonly o: DeliveryWorkerOptions<S>;
  /** Label values of the per-event counts, built once. */
  private readonly labels: { attempt: string[]; done: string[]; noDevices: string[] };

  constructor(opts: DeliveryWorkerOptions<S>) {
    this.o = opts;
    const { system, metrics, logger } = opts;
    this.labels = { attempt: [system], done: [system, 'done'], noDevices: [system, 'no_devices'] };
    const circuit = opts.circuit ?? { threshold: WORKER_DEFAULTS.circuitThreshold, cooldownMs: WORKER_DEFAULTS.circuitCooldownMs };
    this.circuit = new AppCircuit(circuit.threshold, circuit.cooldownMs, (app) => {
      logger.error({ system, app }, 'circuit opened: repeated configuration failures for this app; its deliveries wait');
      metrics.circuitOpen.set({ system, app }, 1);
    });
    this.pruneGuard = new PruneGuard({
      ...opts.pruneGuard,
      onTrip: (app, environment) => {
        logger.error({ system, app, environment }, 'prune-storm guard: too many prune answers for this app; tokens kept, pruning stopped, its deliveries wait (docs/operations.md)');
        metrics.pruneGuardOpen.set({ system, app, environment }, 1);
      },
      onRelease: (app, environment) => {
        logger.warn({ system, app, environment }, 'prune-storm guard released: answers look normal again, pruning resumes');
        metrics.pruneGuardOpen.set({ system, app, environment }, 0);
      },
    });
    this.actions = new OutcomeActions({ system, tokens: opts.tokens, circuit: this.circuit, guard: this.pruneGuard, metrics, logger });
    this.worker = new Worker<DeliveryJobData>(opts.queueName ?? QUEUE_NAMES[system], (job, token) => this.process(job, token), {
      connection: opts.connection,
      prefix: opts.prefix ?? QUEUE_PREFIX,
      concurrency: opts.concurrency,
      autorun: opts.autorun ?? true,
      lockDuration: opts.lockDurationMs ?? WORKER_DEFAULTS.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs ?? WORKER_DEFAULTS.stalledIntervalMs,
      // A crashed worker's jobs go back to wait; several crashes in a row must not dead-letter an event.
      maxStalledCount: 10,
    });
    this.worker.on('error', (e) => logger.warn({ system, err: e.message }, 'worker error'));
  }

  private async process(job: Job<DeliveryJobData>, lockToken?: string): Promise<void> {
    const events = validJobEvents(job, this.o);
    const now = Date.now();
    const sorted = this.sort(events, now);
    if (sorted.due.length > 0) {
      // One registry read for all the owners of the job.
      const owners = [...new Set(sorted.due.map((q) => q.event.owner))];
      const loaded = await this.o.tokens.devicesOf(this.o.system, owners);
      const devicesOf = new Map(owners.map((owner, i) => [owner, loaded[i]]));
      const rounds = await this.sendAll(sorted.due, devicesOf, now);
      this.refreshCircuitGauge();
      const decidedAt = Date.now();
      sorted.due.forEach((q, i) => this.settle(q, rounds[i], decidedAt, sorted));
    }
    await this.finish(job, sorted, lockToken);
  }

  /** Each event keeps its own retry state: given up on, waiting for its next try, or due now. */
  private sort(events: QueuedEvent[], now: number): Sorted {
    const sorted: Sorted = { given: [], waiting: [], due: [] };
    for (const q of events) {
      if (q.failed) sorted.given.push(q);
      else if (now >= this.expiresAt(q)) this.expire(q);
      else if ((q.notBefore ?? 0) > now) sorted.waiting.push(q);
      else sorted.due.push(q);
    }
    return sorted;
  }

  /** After a round: the event is done, given up on, expired, or waits for its next try (retry.ts decides). */
  private settle(q: QueuedEvent, r: EventRound, decidedAt: number, sorted: Sorted): void {
    const { system, metrics } = this.o;
    const d = decideRetry(r, q.attempt ?? 1, this.expiresAt(q), this.o.retry, decidedAt);
    if (d.kind === 'done') return;
    if (d.kind === 'expire') return this.expire(q);
    const owed: QueuedEvent = { ...q, tokens: r.owed };
    delete owed.notBefore;
    if (d.kind === 'give-up') {
      metrics.deadLettered.inc({ system, cause: d.cause });
      metrics.events.inc({ system, result: 'dead_letter' });
      sorted.given.push({ ...owed, failed: d.cause });
      return;
    }
    metrics.events.inc({ system, result: d.strategy === 'backoff' ? 'retry' : 'circuit_open' });
    const next: QueuedEvent = { ...owed, notBefore: d.at };
    if (d.attempt !== (q.attempt ?? 1)) next.attempt = d.attempt;
    sorted.waiting.push(next);
  }

  /** Back to the queue until the first waiting event is due (the given-up ones ride along), or dead-letter. */
  private async finish(job: Job<DeliveryJobData>, { waiting, given }: Sorted, lockToken?: string): Promise<void> {
    if (waiting.length > 0) {
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
  private async sendAll(due: QueuedEvent[], devicesOf: Map<string, DeviceOf<S>[]>, now: number): Promise<EventRound[]> {
    const devices = (q: QueuedEvent) => devicesOf.get(q.event.owner) ?? [];
    const suspect = (q: QueuedEvent) => devices(q).some((d) => this.circuit.suspect(d.app));
    if (!due.some(suspect)) return Promise.all(due.map((q) => this.sendEvent(q, devices(q), now)));
    const rounds: EventRound[] = new Array(due.length);
    const send = async (i: number, at: number) => {
      rounds[i] = await this.sendEvent(due[i], devices(due[i]), at);
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

  /** One event to the devices it is owed; the outcomes' actions are carried out before it resolves. */
  private async sendEvent(q: QueuedEvent, all: DeviceOf<S>[], now: number): Promise<EventRound> {
    const { system, metrics, transport } = this.o;
    const round: EventRound = { owed: [], sent: false, heldForMs: 0, providerWaitMs: 0, failed: 0 };
    const sendable = this.sendable(q, all, now, round);
    if (sendable === undefined) return round;
    metrics.attemptTally.inc(this.labels.attempt);
    round.sent = true;
    const type = q.event.message;
    let outcomes: TokenOutcome[];
    try {
      outcomes = await transport.send(q.event, sendable, { policy: this.o.policies[type], expiresAt: this.expiresAt(q) });
    } catch (err) {
      // A transport that rejects (a bug) gets the event's devices retried, not the job failed (that would resend its other events too).
      this.o.logger.error({ system, err: (err as Error).message, event: type, eventId: q.id }, 'transport failed; the event\'s tokens are retried');
      outcomes = sendable.map((d) => ({ token: d.token, action: 'retry', reason: 'internal_error', app: d.app }));
    }
    if (outcomes.some((o) => o.truncated)) metrics.truncated.inc({ system, event: type });
    const writes = this.actions.act(q, outcomes, sendable, round);
    if (writes) await writes;
    if (round.owed.length === 0) metrics.eventTally.inc(this.labels.done);
    return round;
  }

  /** The devices to send the event to now, or undefined when none (counted, or all held by an open circuit). */
  private sendable(q: QueuedEvent, all: DeviceOf<S>[], now: number, round: EventRound): DeviceOf<S>[] | undefined {
    let owed = all;
    if (q.tokens) {
      const wanted = new Set(q.tokens);
      owed = all.filter((d) => wanted.has(d.token));
    }
    if (owed.length === 0) {
      this.o.metrics.eventTally.inc(q.tokens ? this.labels.done : this.labels.noDevices);
      return undefined;
    }
    // Tokens of apps whose circuit is open wait; the rest go out now.
    let sendable: DeviceOf<S>[] | undefined;
    for (let i = 0; i < owed.length; i++) {
      const d = owed[i];
      const blocked = this.circuit.blockedFor(d.app, now);
      if (blocked > 0) {
        sendable ??= owed.slice(0, i);
        round.owed.push(d.token);
        round.heldForMs = Math.max(round.heldForMs, blocked);
      } else if (sendable) sendable.push(d);
    }
    sendable ??= owed;
    return sendable.length === 0 ? undefined : sendable;
  }

  /** 1 for each app whose circuit is open now, 0 once it has closed again. */
  private readonly appsEverOpened = new Set<string>();
  private refreshCircuitGauge(): void {
    const open = new Set(this.circuit.openApps());
    for (const app of open) this.appsEverOpened.add(app);
    for (const app of this.appsEverOpened) this.o.metrics.circuitOpen.set({ system: this.o.system, app }, open.has(app) ? 1 : 0);
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
