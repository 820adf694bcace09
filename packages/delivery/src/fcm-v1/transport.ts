import type { OutgoingHttpHeaders } from 'node:http2';
import type { Logger } from 'pino';
import { fitGcmData, PushEvent, ttlSecondsLeft } from '@pushfleet/events';
import type { GcmDevice } from '@pushfleet/registry';
import { FcmAuth, FcmAuthError } from './auth';
import { FcmErrorBody, fcmV1Rule, FCM_V1_OUTCOMES } from './outcomes';
import { H2Pool, H2TransportError } from '../h2/pool';
import type { DeliveryMetrics } from '../metrics';
import { markTruncated, TokenOutcome } from '../outcome';
import { parseRetryAfter, withRetryWait } from '../retry';
import type { PushTransport, SendContext } from '../transport';

export interface FcmV1TransportOptions {
  /** Access tokens (FcmAuth over the service account); one per process, shared by every stream. */
  auth: FcmAuth;
  /** FCM_PROJECT_ID, else the service account's project_id. */
  projectId: string;
  /** FCM_BASE_URL, e.g. https://fcm.googleapis.com or the sandbox's. */
  baseUrl: string;
  /** PEM of extra CAs to trust (GCM_CA_FILE). */
  ca?: string;
  connections: number;
  maxInflightPerConnection: number;
  requestTimeoutMs: number;
  metrics: DeliveryMetrics;
  logger?: Logger;
}

/** The provider-duration histogram's labels per HTTP status, one object each. */
const statusLabelCache = new Map<number, { system: 'gcm'; status: string }>();
function statusLabels(status: number): { system: 'gcm'; status: string } {
  let l = statusLabelCache.get(status);
  if (!l) statusLabelCache.set(status, (l = { system: 'gcm', status: String(status) }));
  return l;
}

/**
 * FCM HTTP v1: one `messages:send` per registration token, multiplexed over a few HTTP/2 connections
 * (H2Pool: in-flight cap, per-stream timeout, dead connections replaced), bearer token from FcmAuth.
 * Every answer is mapped through FCM_V1_OUTCOMES; a 401 UNAUTHENTICATED refreshes the token and resends once.
 */
export class FcmV1Transport implements PushTransport<GcmDevice> {
  private readonly pool: H2Pool;
  private readonly path: string;

  constructor(private readonly o: FcmV1TransportOptions) {
    const url = new URL(o.baseUrl);
    this.path = `${url.pathname.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(o.projectId)}/messages:send`;
    const gauge = o.metrics.inflight.labels({ system: 'gcm' });
    this.pool = new H2Pool({
      origin: url.origin,
      tls: o.ca ? { ca: o.ca } : {},
      sessions: o.connections,
      maxInflightPerSession: o.maxInflightPerConnection,
      requestTimeoutMs: o.requestTimeoutMs,
      onInflightChange: (d) => gauge.inc(d),
      onResend: () => o.metrics.resends.inc({ system: 'gcm' }),
    });
  }

  async send(event: PushEvent, devices: readonly GcmDevice[], ctx: SendContext): Promise<TokenOutcome[]> {
    if (devices.length === 0) return [];
    const fitted = fitGcmData(event);
    if (!fitted.ok) return devices.map((d) => ({ token: d.token, action: 'drop', reason: 'PayloadTooLarge', app: d.app }));
    // Everything after the token is the same for every device: build it once.
    const android = { priority: ctx.policy.gcmPriority === 'high' ? 'HIGH' : 'NORMAL', ttl: `${ttlSecondsLeft(ctx.expiresAt)}s` };
    const tail = `,"data":${fitted.json},"android":${JSON.stringify(android)}}}`;
    // One access token for the whole send (cached by FcmAuth; a grant only when it is missing or expiring).
    let bearer: string;
    try {
      bearer = await this.o.auth.token();
    } catch (e) {
      this.o.logger?.warn({ system: 'gcm', err: (e as Error).message }, 'FCM OAuth token grant failed');
      return markTruncated(devices.map((d) => this.authFailure(d, e)), fitted.truncated);
    }
    const authorization = `Bearer ${bearer}`;
    const outcomes = await Promise.all(devices.map((d) => this.sendOne(d, `{"message":{"token":${JSON.stringify(d.token)}${tail}`, bearer, authorization)));
    return markTruncated(outcomes, fitted.truncated);
  }

  /** The OAuth grant failed: unreachable token endpoint -> retry later; refused grant -> configuration. */
  private authFailure(device: GcmDevice, e: unknown): TokenOutcome {
    const transient = !(e instanceof FcmAuthError) || e.transient;
    return { token: device.token, action: transient ? 'retry' : 'fail', reason: transient ? 'oauth-unavailable' : 'oauth-rejected', app: device.app };
  }

  private async sendOne(device: GcmDevice, body: string, bearer: string, authorization = `Bearer ${bearer}`, refreshed = false): Promise<TokenOutcome> {
    const { token, app } = device;
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': this.path,
      authorization,
      'content-type': 'application/json; charset=utf-8',
    };
    const started = performance.now();
    try {
      const res = await this.pool.request(headers, body);
      const answeredAt = Date.now();
      this.o.metrics.providerDuration.observe(statusLabels(res.status), (performance.now() - started) / 1000);
      if (res.status === 200) return { token, action: 'delivered', reason: 'Success', app, answeredAt };
      let parsed: FcmErrorBody | undefined;
      try {
        const v = JSON.parse(res.body) as unknown;
        if (v && typeof v === 'object') parsed = v as FcmErrorBody;
      } catch { /* an HTML error page: the HTTP status decides */ }
      const { rule, reason } = fcmV1Rule(res.status, parsed);
      if (rule.refreshCredentials && !refreshed) {
        // 401 UNAUTHENTICATED: our access token was refused. Forget it (once per stale token, however many
        // streams saw it), get a fresh one and resend this message once.
        this.o.auth.invalidate(bearer);
        let fresh: string;
        try {
          fresh = await this.o.auth.token();
        } catch (e) {
          return this.authFailure(device, e);
        }
        return this.sendOne(device, body, fresh, undefined, true);
      }
      return withRetryWait({ token, action: rule.action, reason, app, answeredAt }, rule, parseRetryAfter(res.headers['retry-after']));
    } catch (e) {
      const kind = e instanceof H2TransportError ? e.kind : 'connection';
      this.o.metrics.providerDuration.observe(statusLabels(0), (performance.now() - started) / 1000);
      return { token, action: FCM_V1_OUTCOMES[kind].action, reason: kind, app };
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
    this.o.auth.close();
  }
}
