import http from 'node:http';
import https from 'node:https';
import { Message, Sender } from 'node-gcm';
import { MAX_GCM_LEGACY_BODY_BYTES } from '../limits';
import type { Logger } from 'pino';
import { fitGcmData, PushEvent, ttlSecondsLeft } from '@pushfleet/events';
import { GCM_APP, GcmDevice } from '@pushfleet/registry';
import { gcmLegacyHttpRule, gcmLegacyResultRule } from './outcomes';
import type { DeliveryMetrics } from '../metrics';
import { markTruncated, TokenOutcome } from '../outcome';
import { parseRetryAfter, withRetryWait } from '../retry';
import type { PushTransport, SendContext } from '../transport';

/** The legacy API takes at most 1000 registration ids per request; node-gcm does not split for us. */
export const GCM_LEGACY_MAX_IDS = 1000;

export interface GcmLegacyTransportOptions {
  /** The server key (`Authorization: key=...`). */
  apiKey: string;
  /** GCM_LEGACY_URL, e.g. https://fcm.googleapis.com/fcm/send or the sandbox's. */
  url: string;
  /** PEM of extra CAs to trust (GCM_CA_FILE). */
  ca?: string;
  requestTimeoutMs: number;
  /** HTTP/1.1 requests in flight (kept-alive sockets): GCM_CONNECTIONS x GCM_MAX_INFLIGHT. */
  maxSockets: number;
  metrics: DeliveryMetrics;
  /** Where the one-time "legacy API is gone" warning goes. */
  logger?: Logger;
}

/** What the axios transformResponse hook saw of one request (node-gcm hides status and headers). */
interface Answer {
  status: number;
  retryAfter: string | undefined;
}

interface LegacyResult { message_id?: unknown; registration_id?: unknown; error?: unknown }

let deprecatedApiLogged = false;

/**
 * GCM / FCM legacy HTTP through node-gcm: one POST per event and up to 1000 registration ids, node-gcm's
 * own retries off (they ignore Retry-After and hide failures), every result mapped to one outcome through
 * GCM_LEGACY_RESULT_OUTCOMES. Google shut this API down in 2024; use FcmV1Transport in production.
 */
export class GcmLegacyTransport implements PushTransport<GcmDevice> {
  private readonly agent: http.Agent;
  /** One server key per process: every registration id has the same app label (the registry's). */
  private readonly app = GCM_APP;

  constructor(private readonly o: GcmLegacyTransportOptions) {
    const isHttp = new URL(o.url).protocol === 'http:';
    const agentOpts = { keepAlive: true, maxSockets: Math.max(1, o.maxSockets), ...(o.ca && !isHttp ? { ca: o.ca } : {}) };
    this.agent = isHttp ? new http.Agent(agentOpts) : new https.Agent(agentOpts);
  }

  async send(event: PushEvent, devices: readonly GcmDevice[], ctx: SendContext): Promise<TokenOutcome[]> {
    const fitted = fitGcmData(event);
    if (!fitted.ok) return devices.map((d) => ({ token: d.token, action: 'drop', reason: 'PayloadTooLarge', app: d.app }));
    const message = new Message({ priority: ctx.policy.gcmPriority, timeToLive: ttlSecondsLeft(ctx.expiresAt), data: fitted.data });
    const ids = devices.map((d) => d.token);
    if (ids.length === 0) return [];
    if (ids.length <= GCM_LEGACY_MAX_IDS) return markTruncated(await this.sendChunk(message, ids), fitted.truncated);
    const chunks: Promise<TokenOutcome[]>[] = [];
    for (let i = 0; i < ids.length; i += GCM_LEGACY_MAX_IDS) chunks.push(this.sendChunk(message, ids.slice(i, i + GCM_LEGACY_MAX_IDS)));
    return markTruncated((await Promise.all(chunks)).flat(), fitted.truncated);
  }

  /** One HTTP request for at most 1000 ids; resolves with one outcome per id, in request order. */
  private sendChunk(message: Message, ids: string[]): Promise<TokenOutcome[]> {
    const answer: Answer = { status: 0, retryAfter: undefined };
    // node-gcm merges these into the axios config. A Sender per request is cheap (it stores two fields)
    // and gives each request its own `answer`.
    const options = {
      uri: this.o.url,
      timeout: this.o.requestTimeoutMs,
      httpAgent: this.agent,
      httpsAgent: this.agent,
      maxRedirects: 0,
      // axios buffers the whole answer; past this it aborts the response (then: retry, body-too-large).
      maxContentLength: MAX_GCM_LEGACY_BODY_BYTES,
      transformResponse: [(data: unknown, headers: Record<string, unknown>, status?: number) => {
        answer.status = status ?? 0;
        const ra = headers['retry-after'];
        if (typeof ra === 'string') answer.retryAfter = ra;
        if (typeof data !== 'string' || data === '') return data;
        try { return JSON.parse(data) as unknown; } catch { return data; }
      }],
    };
    const sender = new Sender(this.o.apiKey, options as ConstructorParameters<typeof Sender>[1]);
    const gauge = this.o.metrics.inflight.labels({ system: 'gcm' });
    gauge.inc();
    const started = performance.now();
    return new Promise<TokenOutcome[]>((resolve) => {
      sender.send(message, { registrationTokens: ids }, 0 /* node-gcm retries off: the worker owns them */, (err: unknown, body: unknown) => {
        gauge.dec();
        this.o.metrics.providerDuration.observe({ system: 'gcm', status: String(answer.status) }, (performance.now() - started) / 1000);
        resolve(this.outcomes(ids, answer, err, body));
      });
    });
  }

  private outcomes(ids: string[], answer: Answer, err: unknown, body: unknown): TokenOutcome[] {
    const app = this.app;
    const answeredAt = Date.now();
    const wait = parseRetryAfter(answer.retryAfter);
    const results = !err && body && typeof body === 'object' ? (body as { results?: unknown }).results : undefined;
    if (!Array.isArray(results)) {
      // The whole request: 4xx/5xx, no answer, or a 200 that is not the documented JSON.
      const kind = isTimeout(err) ? 'timeout' : isTooLarge(err) ? 'body-too-large' : 'connection';
      const { rule, reason } = gcmLegacyHttpRule(answer.status, kind);
      return ids.map((token) => withRetryWait({ token, action: rule.action, reason, app }, rule, wait));
    }
    const out: TokenOutcome[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const r = results[i] as LegacyResult | undefined;
      if (!r || typeof r !== 'object') {
        // Fewer results than ids: nothing says the rest were delivered.
        out[i] = { token: ids[i], action: 'retry', reason: 'InvalidResponse', app };
        continue;
      }
      let { rule, reason } = gcmLegacyResultRule(r);
      // A "canonical" id equal to the one we sent is just a delivery.
      if (rule.action === 'replace' && r.registration_id === ids[i]) ({ rule, reason } = gcmLegacyResultRule({}));
      const o: TokenOutcome = { token: ids[i], action: rule.action, reason, app, answeredAt };
      if (rule.action === 'replace') o.canonicalToken = r.registration_id as string;
      if (reason === 'DeprecatedApi') this.warnDeprecated();
      else if (reason === 'UnknownError') this.o.logger?.warn({ system: 'gcm', error: String(r.error).slice(0, 64) }, 'unknown GCM result error: treated as a configuration failure, registration id kept');
      out[i] = withRetryWait(o, rule, wait);
    }
    return out;
  }

  private warnDeprecated(): void {
    if (deprecatedApiLogged) return;
    deprecatedApiLogged = true;
    this.o.logger?.error({ system: 'gcm' }, 'the GCM/FCM legacy HTTP API answered DeprecatedApi: Google shut it down in 2024; switch to GCM_TRANSPORT=fcm-v1 (FCM HTTP v1 with a service account)');
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNABORTED' || code === 'ETIMEDOUT';
}

/** axios' maxContentLength error (it has no code of its own). */
function isTooLarge(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ERR_BAD_RESPONSE' && typeof e.message === 'string' && e.message.startsWith('maxContentLength');
}

/** @internal Tests reset the once-per-process DeprecatedApi warning. */
export function resetDeprecatedApiWarning(): void {
  deprecatedApiLogged = false;
}
