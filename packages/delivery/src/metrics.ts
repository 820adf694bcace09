import { Counter, Gauge, Histogram, LabelValues, Registry } from 'prom-client';

/** Every delivery metric a worker exports; names and labels are catalogued in docs/operations.md. */
export function createDeliveryMetrics(metricsRegistry: Registry) {
  return { ...countMetrics(metricsRegistry), ...outcomeMetrics(metricsRegistry), ...providerMetrics(metricsRegistry), ...jobMetrics(metricsRegistry) };
}

interface Cell { labels: LabelValues<string>; n: number }
/** One level per label: the next level's map, or the cell at the last label. */
type Level = Map<string, Level | Cell>;

/**
 * Increments of one counter, kept in memory per label set and added to the prom-client counter when it is
 * read (its `collect` runs before every scrape and every `get()`): the same names, labels and values on
 * every read, without prom-client's label validation and hashing per increment (a 5-label `inc()` costs
 * about 2.8 us here). For the per-token and per-event counters of the hot path.
 */
export class Tally {
  private readonly root: Level = new Map();
  private readonly cells: Cell[] = [];

  constructor(private readonly names: readonly string[]) {}

  /** One more for the label values, given in the order of the names. */
  inc(values: readonly string[]): void {
    let level = this.root;
    const last = this.names.length - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i]) as Level | undefined;
      if (next === undefined) level.set(values[i], (next = new Map()));
      level = next;
    }
    const cell = level.get(values[last]) as Cell | undefined;
    if (cell !== undefined) {
      cell.n++;
      return;
    }
    const labels: LabelValues<string> = {};
    this.names.forEach((n, i) => { labels[n] = values[i]; });
    const c: Cell = { labels, n: 1 };
    level.set(values[last], c);
    this.cells.push(c);
  }

  /** Adds what was counted since the last read to the counter (from its `collect`). */
  flushTo(counter: Counter<string>): void {
    for (const c of this.cells) {
      if (c.n === 0) continue;
      counter.inc(c.labels, c.n);
      c.n = 0;
    }
  }
}

/** Jobs refused before any work (invalid-job.ts). */
function jobMetrics(registry: Registry) {
  return {
    invalidJobs: new Counter({
      name: 'pushfleet_invalid_jobs_total',
      help: 'Jobs whose data failed the event schemas, dead-lettered unsent (reason invalid-job), by system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
  };
}

/** The worker's counts of every token and event (tallied, added to their counters on every read). */
function countMetrics(registry: Registry) {
  const deliveryTally = new Tally(['system', 'app', 'event', 'outcome', 'reason']);
  const eventTally = new Tally(['system', 'result']);
  const attemptTally = new Tally(['system']);
  return {
    deliveryTally,
    eventTally,
    attemptTally,
    deliveries: new Counter({
      name: 'pushfleet_deliveries_total',
      help: 'Per-token send outcomes by system, app, event type, action and provider reason',
      labelNames: ['system', 'app', 'event', 'outcome', 'reason'] as const,
      registers: [registry],
      collect() { deliveryTally.flushTo(this); },
    }),
    events: new Counter({
      name: 'pushfleet_events_processed_total',
      help: 'Events a worker finished or rescheduled, by system and result (done, no_devices, expired, retry, circuit_open, dead_letter)',
      labelNames: ['system', 'result'] as const,
      registers: [registry],
      collect() { eventTally.flushTo(this); },
    }),
    attempts: new Counter({
      name: 'pushfleet_send_attempts_total',
      help: 'Send attempts (one per event and attempt that reached the provider), by system',
      labelNames: ['system'] as const,
      registers: [registry],
      collect() { attemptTally.flushTo(this); },
    }),
  };
}

/** What the worker counts per event and token. */
function outcomeMetrics(registry: Registry) {
  return {
    prunes: new Counter({
      name: 'pushfleet_prunes_total',
      help: 'Tokens removed from the registry on a provider answer, by system and reason',
      labelNames: ['system', 'reason'] as const,
      registers: [registry],
    }),
    replacements: new Counter({
      name: 'pushfleet_replacements_total',
      help: 'Registration ids replaced by the provider\'s canonical id, by system and result',
      labelNames: ['system', 'result'] as const,
      registers: [registry],
    }),
    expired: new Counter({
      name: 'pushfleet_events_expired_total',
      help: 'Events dropped because their TTL passed before delivery, by system and event type',
      labelNames: ['system', 'event'] as const,
      registers: [registry],
    }),
    truncated: new Counter({
      name: 'pushfleet_payloads_truncated_total',
      help: 'Payloads whose text or user_name was shortened to fit the provider limit, by system and event type',
      labelNames: ['system', 'event'] as const,
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'pushfleet_dead_lettered_total',
      help: 'Events moved to the failed (dead-letter) set with tokens still owed, by system and cause',
      labelNames: ['system', 'cause'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'pushfleet_delivery_latency_seconds',
      help: 'Enqueue to provider answer for delivered tokens, by system',
      labelNames: ['system'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
}

/** What the transports and the circuit measure of the providers. */
function providerMetrics(registry: Registry) {
  return {
    providerDuration: new Histogram({
      name: 'pushfleet_provider_request_duration_seconds',
      help: 'Provider HTTP request duration by system and HTTP status (0 = no answer)',
      labelNames: ['system', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    inflight: new Gauge({
      name: 'pushfleet_provider_inflight_requests',
      help: 'Provider requests (HTTP/2 streams) in flight, by system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
    resends: new Counter({
      name: 'pushfleet_provider_resends_total',
      help: 'Streams the provider refused or never processed (REFUSED_STREAM, beyond a GOAWAY), sent again at once; not attempts, by system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
    circuitOpen: new Gauge({
      name: 'pushfleet_circuit_open',
      help: '1 while an app\'s circuit is open after repeated configuration failures',
      labelNames: ['system', 'app'] as const,
      registers: [registry],
    }),
    pruneGuardOpen: new Gauge({
      name: 'pushfleet_prune_guard_open',
      help: '1 while the prune-storm guard holds an app\'s prunes (too many prune answers: likely our configuration), by system, app and environment',
      labelNames: ['system', 'app', 'environment'] as const,
      registers: [registry],
    }),
    pruneGuardHeld: new Counter({
      name: 'pushfleet_prune_guard_held_total',
      help: 'Prune answers the prune-storm guard did not carry out (token kept), by system, app, environment and reason',
      labelNames: ['system', 'app', 'environment', 'reason'] as const,
      registers: [registry],
    }),
    credentialFailures: new Counter({
      name: 'pushfleet_credential_refresh_failures_total',
      help: 'Provider credential refreshes that failed (APNs JWT signing, FCM OAuth token), by system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
    workersRecreated: new Counter({
      name: 'pushfleet_worker_recreated_total',
      help: 'Queue-partition consumers replaced by the stuck-worker detector (jobs waiting, none taken), by system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
  };
}

export type DeliveryMetrics = ReturnType<typeof createDeliveryMetrics>;
