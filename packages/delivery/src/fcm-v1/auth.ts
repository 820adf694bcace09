import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { importPKCS8, SignJWT } from 'jose';
import { z } from 'zod';
import { BoundedBody, MAX_PROVIDER_BODY_BYTES } from '../limits';
import type { DeliveryMetrics } from '../metrics';

/** The OAuth2 scope FCM HTTP v1 needs. */
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** A cached access token is replaced this long before Google says it expires. */
const EXPIRY_MARGIN_MS = 60_000;

/** The fields of a Google service-account key file (JSON) the OAuth grant needs. */
export const serviceAccountSchema = z.object({
  type: z.literal('service_account').optional(),
  project_id: z.string().min(1).optional(),
  private_key_id: z.string().min(1).optional(),
  private_key: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key' }),
  client_email: z.string().min(1),
  token_uri: z.url().default('https://oauth2.googleapis.com/token'),
});
export type ServiceAccount = z.infer<typeof serviceAccountSchema>;

/** Parses a service-account key (the JSON text); throws an Error naming every bad field (never the key). */
export function parseServiceAccount(json: string, source = 'service account'): ServiceAccount {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error(`${source}: not valid JSON`);
  }
  const r = serviceAccountSchema.safeParse(raw);
  if (!r.success) throw new Error(`${source}: ${r.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function loadServiceAccount(file: string): ServiceAccount {
  return parseServiceAccount(fs.readFileSync(file, 'utf8'), file);
}

/** The OAuth grant failed. `transient`: the token endpoint was unreachable or answered 5xx (try later). */
export class FcmAuthError extends Error {
  constructor(message: string, public readonly transient: boolean, public readonly status = 0) {
    super(message);
    this.name = 'FcmAuthError';
  }
}

export interface FcmAuthOptions {
  serviceAccount: ServiceAccount;
  /** PEM of extra CAs to trust for the token endpoint (GCM_CA_FILE). */
  ca?: string;
  metrics?: DeliveryMetrics;
  timeoutMs?: number;
}

/**
 * Access tokens for FCM HTTP v1 from a service account (OAuth2 JWT-bearer grant, RFC 7523): an RS256
 * assertion signed with the account's key is exchanged at its `token_uri`. The token is cached until 60 s
 * before it expires; concurrent callers share one grant in flight. google-auth-library does the same but
 * hard-codes Google's token URL and needs Node 22 (shared/notes/provider-protocols.md E).
 */
export class FcmAuth {
  private cached: { token: string; refreshAt: number } | undefined;
  private inflight: Promise<string> | undefined;
  private key: ReturnType<typeof importPKCS8> | undefined;
  private readonly agent: http.Agent;
  private grantCount = 0;

  constructor(private readonly o: FcmAuthOptions) {
    const url = new URL(o.serviceAccount.token_uri);
    this.agent = url.protocol === 'http:' ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true, ...(o.ca ? { ca: o.ca } : {}) });
  }

  /** Grants obtained so far (tests, diagnostics). */
  get grants(): number {
    return this.grantCount;
  }

  /** A valid access token: the cached one, the grant already in flight, or a new grant. */
  token(now = Date.now()): Promise<string> {
    const c = this.cached;
    if (c && now < c.refreshAt) return Promise.resolve(c.token);
    this.inflight ??= this.grant().finally(() => { this.inflight = undefined; });
    return this.inflight;
  }

  /**
   * FCM answered 401 with `token`: forget it so the next `token()` makes a new grant. Passing the stale
   * token makes this idempotent: a burst of 401s on one token causes one grant, not one per stream.
   */
  invalidate(stale?: string): void {
    if (stale === undefined || this.cached?.token === stale) this.cached = undefined;
  }

  private async grant(): Promise<string> {
    try {
      const sa = this.o.serviceAccount;
      this.key ??= importPKCS8(sa.private_key, 'RS256');
      const iat = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ scope: FCM_SCOPE })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(sa.private_key_id ? { kid: sa.private_key_id } : {}) })
        .setIssuer(sa.client_email)
        .setAudience(sa.token_uri)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 3600)
        .sign(await this.key);
      const started = Date.now();
      const res = await this.post(new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString());
      let body: { access_token?: unknown; expires_in?: unknown; error?: unknown } = {};
      try { body = JSON.parse(res.body) as typeof body; } catch { /* not JSON: the status decides */ }
      if (res.status !== 200 || typeof body.access_token !== 'string' || !body.access_token) {
        const what = typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
        throw new FcmAuthError(`OAuth token grant refused: ${what}`, res.status >= 500 || res.status === 429, res.status);
      }
      const ttlS = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
      this.cached = { token: body.access_token, refreshAt: started + Math.max(ttlS * 1000 - EXPIRY_MARGIN_MS, 0) };
      this.grantCount++;
      return body.access_token;
    } catch (e) {
      this.o.metrics?.credentialFailures.inc({ system: 'gcm' });
      if (e instanceof FcmAuthError) throw e;
      // Network trouble (ECONNREFUSED, ETIMEDOUT, TLS verification...) is transient; a key that cannot be
      // read or used for signing (ERR_OSSL_*, ERR_JOSE_*, no code) is not.
      const code = (e as NodeJS.ErrnoException).code;
      const transient = typeof code === 'string' && !code.startsWith('ERR_');
      throw new FcmAuthError(`OAuth token grant failed: ${(e as Error).message}`, transient);
    }
  }

  private post(form: string): Promise<{ status: number; body: string }> {
    const url = new URL(this.o.serviceAccount.token_uri);
    const client = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = client.request(url, {
        method: 'POST',
        agent: this.agent,
        timeout: this.o.timeoutMs ?? 10_000,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form), accept: 'application/json' },
      }, (res) => {
        const body = new BoundedBody(MAX_PROVIDER_BODY_BYTES);
        res.on('data', (c: Buffer) => {
          if (body.add(c)) return;
          // Transient: the next grant tries again (a proxy's error page, a broken endpoint).
          reject(new FcmAuthError(`OAuth token endpoint answer over ${MAX_PROVIDER_BODY_BYTES} bytes`, true, res.statusCode));
          req.destroy();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.text() }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('token endpoint timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(form);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
