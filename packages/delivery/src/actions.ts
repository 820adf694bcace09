import type { Logger } from 'pino';
import type { PushSystem, QueuedEvent } from '@pushfleet/events';
import type { Device, TokenRegistry } from '@pushfleet/registry';
import { tokenRef } from '@pushfleet/observability';
import type { AppCircuit } from './circuit';
import type { DeliveryMetrics } from './metrics';
import type { TokenOutcome } from './outcome';
import type { PruneGuard } from './prune-guard';
import type { EventRound } from './retry';

export interface OutcomeActionsOptions {
  system: PushSystem;
  tokens: TokenRegistry;
  circuit: AppCircuit;
  guard: PruneGuard;
  metrics: DeliveryMetrics;
  logger: Logger;
}

/** The scope of the prune-storm guard: the app, and its environment when the provider has two (APNs). */
const environmentOf = (out: TokenOutcome) => out.environment ?? 'default';

/**
 * Carries out each outcome's action after a send: metrics, the app's circuit, the prune-storm guard and
 * the registry writes (prune with the registration time the send saw, replace); what is still owed goes
 * in the event's round.
 */
export class OutcomeActions {
  /** The latency histogram's labels, one object for every observation. */
  private readonly systemLabels: { system: PushSystem };

  constructor(private readonly o: OutcomeActionsOptions) {
    this.systemLabels = { system: o.system };
  }

  /** Resolves once the registry writes are done; undefined when there are none (the common case: no promise to wait for). */
  act(q: QueuedEvent, outcomes: TokenOutcome[], sent: readonly Device[], round: EventRound): Promise<void> | undefined {
    const { system, metrics, circuit, guard } = this.o;
    const type = q.event.message;
    let registryWrites: Promise<unknown>[] | undefined;
    let devices: Map<string, Device> | undefined;
    for (const out of outcomes) {
      metrics.deliveryTally.inc([system, out.app, type, out.action, out.reason]);
      const pruneAllowed = guard.answer(out.app, environmentOf(out), out.action === 'prune');
      switch (out.action) {
        case 'delivered':
          metrics.latency.observe(this.systemLabels, ((out.answeredAt ?? Date.now()) - q.enqueuedAt) / 1000);
          circuit.success(out.app);
          break;
        case 'prune':
          if (!pruneAllowed) {
            this.hold(out, round);
            break;
          }
          circuit.success(out.app);
          devices ??= new Map(sent.map((d) => [d.token, d]));
          (registryWrites ??= []).push(this.prune(q.event.owner, out, devices.get(out.token)));
          break;
        case 'replace':
          circuit.success(out.app);
          (registryWrites ??= []).push(this.replace(q.event.owner, out));
          break;
        case 'retry':
          round.owed.push(out.token);
          round.providerWaitMs = Math.max(round.providerWaitMs, out.retryAfterMs ?? 0);
          break;
        case 'fail':
          round.failed++;
          round.owed.push(out.token);
          circuit.failure(out.app);
          this.o.logger.error({ system, app: out.app, reason: out.reason, event: type, eventId: q.id }, 'configuration failure: the provider refused our credentials or request; tokens kept');
          break;
        case 'drop':
          break;
      }
    }
    if (!registryWrites) return undefined;
    // A registry write that fails (Redis trouble) must not fail the job: the push itself went out, and the
    // next answer for that token asks again.
    return Promise.all(registryWrites.map((w) => w.catch((err: Error) => {
      this.o.logger.warn({ system, err: err.message, eventId: q.id }, 'registry update after a provider answer failed; the next answer for the token retries it');
    }))).then(() => undefined);
  }

  /** The guard holds this prune: the token stays registered and owed, the app waits on its circuit. */
  private hold(out: TokenOutcome, round: EventRound): void {
    const { system, metrics, circuit } = this.o;
    metrics.pruneGuardHeld.inc({ system, app: out.app, environment: environmentOf(out), reason: out.reason });
    circuit.hold(out.app);
    round.owed.push(out.token);
    round.heldForMs = Math.max(round.heldForMs, circuit.blockedFor(out.app));
  }

  /** Prunes the entry the answer was about (its registration time as the send saw it), keeping a tombstone. */
  private async prune(owner: string, out: TokenOutcome, device: (Device & { sandbox?: boolean; apnsTopic?: string }) | undefined): Promise<void> {
    const { system, tokens, metrics, logger } = this.o;
    if (!device) return;
    const removed = await tokens.prune(owner, system, out.token, {
      reason: out.reason,
      answer: `${out.action} ${out.reason}`,
      app: out.app,
      registeredAt: device.registeredAt,
      ...(device.sandbox === undefined ? {} : { sandbox: device.sandbox }),
      ...(device.apnsTopic === undefined ? {} : { apnsTopic: device.apnsTopic }),
      ...(out.invalidSince === undefined ? {} : { registeredBefore: out.invalidSince }),
    });
    if (removed) {
      metrics.prunes.inc({ system, reason: out.reason });
      logger.info({ system, app: out.app, reason: out.reason, token: tokenRef(out.token) }, 'pruned token');
    }
  }

  private async replace(owner: string, out: TokenOutcome): Promise<void> {
    if (!out.canonicalToken) return;
    const result = await this.o.tokens.replaceGcm(owner, out.token, out.canonicalToken);
    this.o.metrics.replacements.inc({ system: this.o.system, result });
  }
}
