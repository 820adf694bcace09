// The package's public surface: the delivery contract and the factories that build its pieces. Outcome
// tables, retry arithmetic and the HTTP/2 pool are internal (import them from their files in tests).

// The contract: a transport turns an event and devices into one outcome per device; the worker acts on them.
export type { PushTransport, SendContext } from './transport';
export type { DeliveryAction, TokenOutcome } from './outcome';
export type { RetryPolicy } from './retry';
export { DeliveryWorker, type DeliveryJobData, type DeliveryWorkerOptions } from './worker';
export { runWorkerProcess, type WorkerProcessOptions } from './process';
export { createDeliveryMetrics, type DeliveryMetrics } from './metrics';

// Factories, one folder per provider.
export { ApnsTransport, registerApnsCredentialMetrics, type ApnsTransportOptions } from './apns/transport';
export { ProviderTokens, type ProviderTokensOptions } from './apns/provider-token';
export { fleetProviderTokens, MemoryTokenStore, RedisTokenStore, type TokenStore } from './apns/token-store';
export { FcmAuth, FcmAuthError, loadServiceAccount, parseServiceAccount, type FcmAuthOptions, type ServiceAccount } from './fcm-v1/auth';
export { FcmV1Transport, type FcmV1TransportOptions } from './fcm-v1/transport';
export { GcmLegacyTransport, type GcmLegacyTransportOptions } from './gcm-legacy/transport';
