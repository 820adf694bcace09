import { X509Certificate } from 'node:crypto';
import { Gauge, Registry } from 'prom-client';
import { ApnsApp, ApnsCredentials, ConfigError, CredentialError, loadApnsCertificate, loadApnsSigningKey } from '@pushfleet/config';
import { FittedApnsPayload, fitApnsPayload, PushEvent } from '@pushfleet/events';
import type { ApnsDevice } from '@pushfleet/registry';
import { H2Pool, H2Response, H2TransportError } from '../h2/pool';
import { apnsRule, TRANSPORT_ERROR_RULE } from './outcomes';
import { ProviderTokens, StoredToken } from './provider-token';
import { Authorization, oneGroup, requestHeaders, RequestGroup, statusLabels } from './request';
import { MemoryTokenStore } from './token-store';
import type { DeliveryMetrics } from '../metrics';
import { markTruncated, TokenOutcome } from '../outcome';
import { parseRetryAfter } from '../retry';
import type { PushTransport, SendContext } from '../transport';

// Credentials are loaded with node:crypto (packages/config/src/apns-credentials.ts; errors name the file,
// never its contents); the provider token is the fleet's, one per team (provider-token.ts). H2Pool carries
// the requests: no node-apn client here (no in-flight cap, hides retry-after, shared/notes/measured-here.md).

export interface ApnsTransportOptions {
  apps: ReadonlyMap<string, ApnsApp>;
  productionUrl: string;
  sandboxUrl: string;
  /** PEM of extra CAs to trust (APNS_CA_FILE), e.g. the sandbox's. */
  ca?: string;
  connectionsPerEndpoint: number;
  maxInflightPerConnection: number;
  requestTimeoutMs: number;
  metrics: DeliveryMetrics;
  /** The fleet's shared provider tokens (Redis in a worker process). @defaultValue this process's own (MemoryTokenStore) */
  providerTokens?: ProviderTokens;
}

/** One long-lived HTTP/2 pool and credential per (app, environment), reused across jobs. */
class ApnsEndpoint {
  readonly pool: H2Pool;
  private readonly team?: { teamId: string; keyId: string };

  constructor(app: ApnsApp, origin: string, production: boolean, o: ApnsTransportOptions, private readonly tokens: ProviderTokens) {
    const tls: Record<string, unknown> = {};
    if (o.ca) tls.ca = o.ca;
    const c = app.credentials;
    if (c.kind === 'token') {
      this.team = { teamId: c.teamId, keyId: c.keyId };
      tokens.register(c.teamId, c.keyId, loadApnsSigningKey(c.keyPem, keyFileOf(c)));
    } else {
      const cert = loadApnsCertificate(c, certFilesOf(c));
      if (production ? !cert.production : !cert.development) throw new CredentialError(certFilesOf(c).cert, `not valid for the ${production ? 'production' : 'development'} environment`);
      Object.assign(tls, { cert: c.certPem, key: c.keyPem, passphrase: c.passphrase });
    }
    const gauge = o.metrics.inflight.labels({ system: 'apns' });
    this.pool = new H2Pool({
      origin,
      tls,
      sessions: o.connectionsPerEndpoint,
      maxInflightPerSession: o.maxInflightPerConnection,
      requestTimeoutMs: o.requestTimeoutMs,
      onInflightChange: (d) => gauge.inc(d),
      onResend: () => o.metrics.resends.inc({ system: 'apns' }),
    });
  }

  private last?: Authorization & { jwt: string };

  /**
   * The fleet's provider token to send now, and its iat (certificate apps: none): at once while it needs no
   * store conversation (the common case), else a promise. The header string is built once per token.
   */
  authorization(): Authorization | undefined | Promise<Authorization | undefined> {
    if (!this.team) return undefined;
    const t = this.tokens.ready(this.team.teamId, this.team.keyId);
    return t ? this.header(t) : this.tokens.current(this.team.teamId, this.team.keyId).then((c) => this.header(c));
  }

  private header(t: StoredToken): Authorization {
    if (this.last?.jwt !== t.jwt || this.last.iat !== t.iat) this.last = { jwt: t.jwt, header: `bearer ${t.jwt}`, iat: t.iat };
    return this.last;
  }

  /** Apple said ExpiredProviderToken for a request signed at `iat`: the fleet's newer token, or a new one if due. */
  async afterExpired(iat: number): Promise<void> {
    if (this.team) await this.tokens.afterExpired(this.team.teamId, this.team.keyId, iat);
  }

  /** Apple said TooManyProviderTokenUpdates: take the fleet's current token, never a new signature. */
  async adopt(): Promise<void> {
    if (this.team) await this.tokens.adopt(this.team.teamId, this.team.keyId);
  }
}

const keyFileOf = (c: ApnsCredentials) => c.keyFile ?? 'the APNs key';
const certFilesOf = (c: ApnsCredentials & { kind: 'certificate' }) => ({ cert: c.certFile ?? 'the APNs certificate', key: keyFileOf(c) });

/** Topic = the device's apns_topic, else the bundle id part of the application id. */
export function topicFor(device: ApnsDevice): string {
  return device.apnsTopic ?? device.app.slice(11);
}

/** Stamps the outcomes with the environment they were sent to (the prune guard's scope); returns them. */
function inEnvironment(outs: TokenOutcome[], sandbox: boolean): TokenOutcome[] {
  const environment = sandbox ? 'sandbox' : 'production';
  for (const o of outs) o.environment = environment;
  return outs;
}

/** Days until an APNs client certificate expires (credential health metric). */
export function certificateDaysLeft(certPem: string, now = Date.now()): number {
  return (Date.parse(new X509Certificate(certPem).validTo) - now) / 86_400_000;
}

/** Credential health per app: p8 key loaded (1/0), client certificate days to expiry. */
export function registerApnsCredentialMetrics(registry: Registry, apps: Iterable<ApnsApp>, now = Date.now()): void {
  const keyLoaded = new Gauge({ name: 'pushfleet_apns_key_loaded', help: '1 when the app\'s APNs p8 key loaded', labelNames: ['app'] as const, registers: [registry] });
  const certDays = new Gauge({ name: 'pushfleet_apns_certificate_expiry_days', help: 'Days until the app\'s APNs client certificate expires', labelNames: ['app'] as const, registers: [registry] });
  for (const app of apps) {
    if (app.credentials.kind === 'token') keyLoaded.set({ app: app.applicationId }, keyLoads(app.credentials) ? 1 : 0);
    else certDays.set({ app: app.applicationId }, certificateDaysLeft(app.credentials.certPem, now));
  }
}

function keyLoads(c: ApnsCredentials & { kind: 'token' }): boolean {
  try {
    return Boolean(loadApnsSigningKey(c.keyPem, keyFileOf(c)));
  } catch {
    return false;
  }
}

export class ApnsTransport implements PushTransport<ApnsDevice> {
  /** Per application id, its production and sandbox endpoints, made on first use. */
  private readonly endpoints = new Map<string, { production?: ApnsEndpoint; sandbox?: ApnsEndpoint }>();
  private readonly tokens: ProviderTokens;

  /** Validates every app's credentials now (a bad p8 key or certificate is a start-up ConfigError, not a failed push). */
  constructor(private readonly o: ApnsTransportOptions) {
    const problems: string[] = [];
    for (const app of o.apps.values()) {
      try {
        const c = app.credentials;
        if (c.kind === 'token') loadApnsSigningKey(c.keyPem, keyFileOf(c));
        else loadApnsCertificate(c, certFilesOf(c)); // environment checked per endpoint
      } catch (e) {
        // Only our own messages (file + problem); anything else might quote the key.
        problems.push(`PUSH_APPS_FILE ${app.applicationId}: unusable APNs credentials: ${e instanceof CredentialError ? e.message : 'unreadable'}`);
      }
    }
    if (problems.length) throw new ConfigError(problems);
    this.tokens = o.providerTokens ?? new ProviderTokens({ store: new MemoryTokenStore() });
  }

  private endpoint(app: ApnsApp, sandbox: boolean): ApnsEndpoint {
    let pair = this.endpoints.get(app.applicationId);
    if (!pair) this.endpoints.set(app.applicationId, (pair = {}));
    const env = sandbox ? 'sandbox' : 'production';
    return (pair[env] ??= new ApnsEndpoint(app, sandbox ? this.o.sandboxUrl : this.o.productionUrl, !sandbox, this.o, this.tokens));
  }

  send(event: PushEvent, devices: readonly ApnsDevice[], ctx: SendContext): Promise<TokenOutcome[]> {
    // Group by (application id, environment, topic): one payload and one header set per group. Most
    // events go to one group (one device, or a user's devices of one app): no map, no flattening.
    if (devices.length === 0) return Promise.resolve([]);
    if (oneGroup(devices)) return this.sendGroup(event, devices, ctx);
    const groups = new Map<string, ApnsDevice[]>();
    for (const e of devices) {
      const key = `${e.app}|${e.sandbox ? 1 : 0}|${topicFor(e)}`;
      const g = groups.get(key);
      if (g) g.push(e); else groups.set(key, [e]);
    }
    // The payload is fitted once per event and kind (VoIP or not), not once per group.
    const fits = new Map<boolean, FittedApnsPayload>();
    return Promise.all([...groups.values()].map((g) => this.sendGroup(event, g, ctx, fits))).then((results) => results.flat());
  }

  /** The outcomes of one group, stamped with its environment. */
  private sendGroup(event: PushEvent, group: readonly ApnsDevice[], ctx: SendContext, fits?: Map<boolean, FittedApnsPayload>): Promise<TokenOutcome[]> {
    const first = group[0];
    const appId = first.app;
    const app = this.o.apps.get(appId);
    const answer = (outs: TokenOutcome[]) => inEnvironment(outs, first.sandbox);
    if (!app) {
      // Registered while the app was configured, since removed from PUSH_APPS_FILE: a configuration failure.
      return Promise.resolve(answer(group.map((e) => ({ token: e.token, action: 'fail', reason: 'UnknownApplication', app: appId }))));
    }
    const topic = topicFor(first);
    const voip = topic.endsWith('.voip');
    const fitted = fits?.get(voip) ?? fitApnsPayload(event, { voip });
    fits?.set(voip, fitted);
    if (!fitted.ok) return Promise.resolve(answer(group.map((e) => ({ token: e.token, action: 'drop', reason: 'PayloadTooLarge', app: appId }))));
    let endpoint: ApnsEndpoint;
    try {
      endpoint = this.endpoint(app, first.sandbox);
    } catch {
      // The certificate does not cover this environment (validated at start-up otherwise).
      return Promise.resolve(answer(markTruncated(group.map((e) => ({ token: e.token, action: 'fail', reason: 'BadCertificateEnvironment', app: appId })), fitted.truncated)));
    }
    const g: RequestGroup<ApnsEndpoint> = {
      endpoint, app: appId, body: fitted.body, topic,
      pushType: voip ? 'voip' : 'background',
      // Background (content-available) pushes must use priority 5; VoIP is delivered at once (10).
      priority: voip ? '10' : '5',
      expiration: String(Math.floor(ctx.expiresAt / 1000)),
    };
    // One provider token for the group (the fleet's, cached: a store conversation only when one is due).
    const auth = endpoint.authorization();
    const sendAll = (a: Authorization | undefined) => Promise.all(group.map((e) => this.sendOne(g, e, a)));
    const sent = auth instanceof Promise ? auth.then(sendAll) : sendAll(auth);
    return sent.then((outs) => answer(markTruncated(outs, fitted.truncated)));
  }

  private async sendOne(g: RequestGroup<ApnsEndpoint>, entry: ApnsDevice, auth: Authorization | undefined, refreshed = false): Promise<TokenOutcome> {
    const token = entry.token;
    const started = performance.now();
    try {
      const res = await g.endpoint.pool.request(requestHeaders(g, token, auth), g.body);
      const answeredAt = Date.now();
      this.o.metrics.providerDuration.observe(statusLabels(res.status), (performance.now() - started) / 1000);
      if (res.status === 200) return { token, action: 'delivered', reason: 'Success', app: g.app, answeredAt };
      return await this.refused(g, entry, auth, refreshed, res, answeredAt);
    } catch (e) {
      const kind = e instanceof H2TransportError ? e.kind : 'connection';
      this.o.metrics.providerDuration.observe(statusLabels(0), (performance.now() - started) / 1000);
      return { token, action: TRANSPORT_ERROR_RULE.action, reason: kind, app: g.app };
    }
  }

  /** A non-200 answer: its reason through the table; an expired provider token is refreshed and the request sent again once. */
  private async refused(g: RequestGroup<ApnsEndpoint>, entry: ApnsDevice, auth: Authorization | undefined, refreshed: boolean, res: H2Response, answeredAt: number): Promise<TokenOutcome> {
    let reason: string | undefined;
    let timestamp: number | undefined;
    try {
      const parsed = JSON.parse(res.body) as { reason?: unknown; timestamp?: unknown };
      if (typeof parsed.reason === 'string') reason = parsed.reason;
      if (typeof parsed.timestamp === 'number') timestamp = parsed.timestamp;
    } catch { /* not JSON: the status alone decides */ }
    const rule = apnsRule(res.status, reason);
    if (rule.refreshCredentials && !refreshed && auth) {
      await g.endpoint.afterExpired(auth.iat);
      return this.sendOne(g, entry, await g.endpoint.authorization(), true);
    }
    if (rule.adoptCredentials) await g.endpoint.adopt();
    const out: TokenOutcome = { token: entry.token, action: rule.action, reason: reason ?? String(res.status), app: g.app, answeredAt };
    const wait = parseRetryAfter(res.headers['retry-after']);
    if (wait !== undefined) out.retryAfterMs = wait;
    if (res.status === 410 && reason === 'Unregistered') {
      // Prune only what was registered before Apple learned the token was dead; no timestamp = now.
      out.invalidSince = timestamp ?? answeredAt;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.endpoints.values()].flatMap((p) => [p.production, p.sandbox]).map((ep) => ep?.pool.close()));
    this.endpoints.clear();
    await this.tokens.close();
  }
}
