import { Counter, Histogram, Registry } from 'prom-client';
import { EVENT_TYPES, QueuedEvent } from '@pushfleet/events';

export type RejectReason = 'invalid' | 'unavailable';

/** The producer's metrics; registering twice on one registry (two producers) reuses the first ones. */
export class ProducerMetrics {
  private readonly acceptedTotal: Counter<'event'>;
  private readonly rejectedTotal: Counter<'reason'>;
  private readonly enqueueSeconds: Histogram;

  constructor(registry: Registry) {
    this.acceptedTotal = existing(registry, 'pushfleet_events_accepted_total') ?? new Counter({
      name: 'pushfleet_events_accepted_total',
      help: 'Push events validated and enqueued (to both the APNs and the GCM queue), by event type',
      labelNames: ['event'],
      registers: [registry],
    });
    this.rejectedTotal = existing(registry, 'pushfleet_events_rejected_total') ?? new Counter({
      name: 'pushfleet_events_rejected_total',
      help: 'Push events not enqueued: invalid (the batch failed validation) or unavailable (Redis did not take it)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.enqueueSeconds = existing(registry, 'pushfleet_enqueue_duration_seconds') ?? new Histogram({
      name: 'pushfleet_enqueue_duration_seconds',
      help: 'Time to enqueue one validated batch to both queues (Redis round trips included)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    for (const event of EVENT_TYPES) this.acceptedTotal.inc({ event }, 0);
    for (const reason of ['invalid', 'unavailable'] as const) this.rejectedTotal.inc({ reason }, 0);
  }

  accepted(events: readonly { queued: QueuedEvent }[], seconds: number): void {
    this.enqueueSeconds.observe(seconds);
    const counts = new Map<string, number>();
    for (const { queued: q } of events) counts.set(q.event.message, (counts.get(q.event.message) ?? 0) + 1);
    for (const [event, n] of counts) this.acceptedTotal.inc({ event }, n);
  }

  rejected(events: number, reason: RejectReason): void {
    this.rejectedTotal.inc({ reason }, events);
  }
}

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}
