import type { DeliveryPolicy, PushEvent } from '@pushfleet/events';
import type { Device } from '@pushfleet/registry';
import type { TokenOutcome } from './outcome';

/** What a transport needs to know of the event besides its body. */
export interface SendContext {
  policy: DeliveryPolicy;
  /** When the event expires (ms): becomes apns-expiration / what is left of time_to_live. */
  expiresAt: number;
}

/**
 * One provider adapter (APNs, GCM legacy, FCM v1), as small as Sygnal's `dispatch_notification`: `send`
 * pushes one event to some of one user's devices (which carry their token and app) and resolves with
 * exactly one outcome per device, in any order; a shortened payload shows as `truncated` on the outcomes.
 * Provider answers are outcomes, never exceptions; it rejects only on a bug.
 */
export interface PushTransport<D extends Device = Device> {
  send(event: PushEvent, devices: readonly D[], ctx: SendContext): Promise<TokenOutcome[]>;
  close(): Promise<void>;
}
