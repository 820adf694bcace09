import type { OutgoingHttpHeaders } from 'node:http2';
import type { Logger } from 'pino';
import { fitGcmData, PushEvent, ttlSecondsLeft } from '@pushfleet/events';
import type { GcmEntry } from '@pushfleet/registry';
import { FcmAuth, FcmAuthError } from './auth';
import { FcmErrorBody, fcmV1Rule, FCM_V1_OUTCOMES } from './outcomes';
import { H2Pool, H2TransportError } from '../h2/pool';
import type { DeliveryMetrics } from '../metrics';
import type { TokenOutcome } from '../outcome';
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
  /** App label for metrics and the circuit. Default 'gcm'. */
  app?: string;
}

/**
 * FCM HTTP v1: one `messages:send` per registration token, multiplexed over a few HTTP/2 connections
 * (H2Pool: in-flight cap, per-stream timeout, dead connections replaced), bearer token from FcmAuth.
 * Every answer is mapped through FCM_V1_OUTCOMES; a 401 UNAUTHENTICATED refreshes the token and resends once.
 */
export class FcmV1Transport implements PushTransport<GcmEntry> {
  readonly system = 'gcm' as const;
  private readonly pool: H2Pool;
  private readonly path: string;
  private readonly app: string;

  constructor(private readonly o: FcmV1TransportOptions) {
    const url = new URL(o.baseUrl);
    this.path = `${url.pathname.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(o.projectId)}/messages:send`;
    this.app = o.app ?? 'gcm';
    const gauge = o.metrics.inflight.labels({ system: 'gcm' });
    this.pool = new H2Pool({
      origin: url.origin,
      tls: o.ca ? { ca: o.ca } : {},
      sessions: o.connections,
      maxInflightPerSession: o.maxInflightPerConnection,
      requestTimeoutMs: o.requestTimeoutMs,
      onInflightChange: (d) => gauge.inc(d),
    });
  }

  tokenOf(e: GcmEntry): string { return e.registrationId; }
  appOf(): string { return this.app; }

  async send(event: PushEvent, entries: readonly GcmEntry[], ctx: SendContext): Promise<TokenOutcome[]> {
    const app = this.app;
    if (entries.length === 0) return [];
    const fitted = fitGcmData(event);
    if (!fitted.ok) return entries.map((e) => ({ token: e.registrationId, action: 'drop', reason: 'PayloadTooLarge', app }));
    if (fitted.truncated) ctx.onTruncated();
    // Everything after the token is the same for every device: build it once.
    const android = { priority: ctx.policy.gcmPriority === 'high' ? 'HIGH' : 'NORMAL', ttl: `${ttlSecondsLeft(ctx.expiresAt)}s` };
    const tail = `,"data":${JSON.stringify(fitted.data)},"android":${JSON.stringify(android)}}}`;
    // One access token for the whole send (cached by FcmAuth; a grant only when it is missing or expiring).
    let bearer: string;
    try {
      bearer = await this.o.auth.token();
    } catch (e) {
      this.o.logger?.warn({ system: 'gcm', err: (e as Error).message }, 'FCM OAuth token grant failed');
      return entries.map((entry) => this.authFailure(entry.registrationId, e));
    }
    return Promise.all(entries.map((e) => this.sendOne(e.registrationId, `{"message":{"token":${JSON.stringify(e.registrationId)}${tail}`, bearer)));
  }

  /** The OAuth grant failed: unreachable token endpoint -> retry later; refused grant -> configuration. */
  private authFailure(token: string, e: unknown): TokenOutcome {
    const transient = !(e instanceof FcmAuthError) || e.transient;
    return { token, action: transient ? 'retry' : 'fail', reason: transient ? 'oauth-unavailable' : 'oauth-rejected', app: this.app };
  }

  private async sendOne(token: string, body: string, bearer: string, refreshed = false): Promise<TokenOutcome> {
    const app = this.app;
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': this.path,
      authorization: `Bearer ${bearer}`,
      'content-type': 'application/json; charset=utf-8',
    };
    const started = performance.now();
    try {
      const res = await this.pool.request(headers, body);
      const answeredAt = Date.now();
      this.o.metrics.providerDuration.observe({ system: 'gcm', status: String(res.status) }, (performance.now() - started) / 1000);
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
          return this.authFailure(token, e);
        }
        return this.sendOne(token, body, fresh, true);
      }
      return withRetryWait({ token, action: rule.action, reason, app, answeredAt }, rule, parseRetryAfter(res.headers['retry-after']));
    } catch (e) {
      const kind = e instanceof H2TransportError ? e.kind : 'connection';
      this.o.metrics.providerDuration.observe({ system: 'gcm', status: '0' }, (performance.now() - started) / 1000);
      return { token, action: FCM_V1_OUTCOMES[kind].action, reason: kind, app };
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
    this.o.auth.close();
  }
}
