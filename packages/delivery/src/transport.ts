import type { DeliveryPolicy, PushEvent, PushSystem } from '@pushfleet/events';
import type { TokenOutcome } from './outcome';

export interface SendContext {
  policy: DeliveryPolicy;
  /** When the event expires (ms): becomes apns-expiration / what is left of time_to_live. */
  expiresAt: number;
  /** Called when the payload had to be shortened to fit the provider's limit. */
  onTruncated(): void;
}

/**
 * One provider adapter (APNs, GCM legacy, FCM v1). `send` pushes one event to some of one user's entries
 * and resolves with exactly one outcome per entry, in any order. Provider answers are outcomes, never
 * exceptions; it rejects only on a bug.
 */
export interface PushTransport<Entry> {
  readonly system: PushSystem;
  send(event: PushEvent, entries: readonly Entry[], ctx: SendContext): Promise<TokenOutcome[]>;
  /** The token string of an entry (the registry field). */
  tokenOf(entry: Entry): string;
  /** The app an entry belongs to (metrics label, circuit key). */
  appOf(entry: Entry): string;
  close(): Promise<void>;
}
