import crypto, { KeyObject } from 'node:crypto';

export interface ApnsKeyRegistration {
  /** The 10-character key id (JWT header `kid`). */
  keyId: string;
  /** The team id (JWT claim `iss`). */
  teamId: string;
  /** The public half of the `.p8` key (SPKI PEM). */
  publicKeyPem: string;
  /** Optional allow-list of bundle ids; a push to another topic gets 400 TopicDisallowed. */
  topics?: string[];
}

export interface FcmServiceAccountRegistration {
  clientEmail: string;
  /** The public half of the service account's RSA key (SPKI PEM). */
  publicKeyPem: string;
  projectId: string;
}

/** A verified APNs provider token. */
export interface ApnsTokenAuth {
  keyId: string;
  teamId: string;
  iat: number;
  topics: string[] | undefined;
}

/** A granted OAuth2 access token. */
export interface AccessTokenGrant {
  clientEmail: string;
  /** undefined: any project (accept-any mode with an unknown account). */
  projectId: string | undefined;
  scopes: string[];
  expiresAt: number;
}

export interface CredentialsOptions {
  /** Accept any well-formed ES256 provider token (signature and kid not checked; iat still is). */
  acceptAnyApnsKey?: boolean;
  /** Accept any non-empty legacy server key. */
  acceptAnyGcmApiKey?: boolean;
  /** Accept OAuth grants from unknown service accounts (signature not checked). */
  acceptAnyServiceAccount?: boolean;
  /** Allowed clock skew for JWT `iat` in the future (seconds, default 60). */
  clockSkewSeconds?: number;
  /** Lifetime of granted access tokens (seconds, default 3600). */
  accessTokenTtlSeconds?: number;
}

const FCM_SCOPES = ['https://www.googleapis.com/auth/firebase.messaging', 'https://www.googleapis.com/auth/cloud-platform'];
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const JWT_CACHE_LIMIT = 10_000;

function b64json(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

interface ApnsKey { reg: ApnsKeyRegistration; key: KeyObject }
interface ServiceAccount { reg: FcmServiceAccountRegistration; key: KeyObject }

export interface TokenEndpointAnswer { status: number; body: string }

/**
 * What the sandbox accepts as credentials: APNs signing keys, legacy server keys and service accounts, plus
 * the provider tokens it has already verified and the OAuth access tokens it has granted.
 */
export class Credentials {
  readonly acceptAnyApnsKey: boolean;
  readonly acceptAnyGcmApiKey: boolean;
  readonly acceptAnyServiceAccount: boolean;
  readonly clockSkewSeconds: number;
  /** `iat` age past which a provider token answers ExpiredProviderToken (seconds; 0 = never). */
  providerTokenMaxAgeSeconds = 3600;
  /** Lifetime of access tokens granted from now on (seconds). */
  accessTokenTtlSeconds: number;
  /** Audiences accepted in OAuth grant assertions (the token endpoint's URLs). */
  readonly tokenAudiences = new Set<string>(['https://oauth2.googleapis.com/token']);
  /** The token endpoint's advertised URL (named in audience errors). */
  tokenUri = 'https://oauth2.googleapis.com/token';

  private readonly apnsKeys = new Map<string, ApnsKey>();
  /** Legacy server key -> its project (undefined: not known). */
  private readonly gcmKeys = new Map<string, string | undefined>();
  private readonly serviceAccounts = new Map<string, ServiceAccount>();
  private jwtCache = new Map<string, ApnsTokenAuth>();
  private accessTokens = new Map<string, AccessTokenGrant>();

  constructor(opts: CredentialsOptions = {}) {
    this.acceptAnyApnsKey = opts.acceptAnyApnsKey ?? false;
    this.acceptAnyGcmApiKey = opts.acceptAnyGcmApiKey ?? false;
    this.acceptAnyServiceAccount = opts.acceptAnyServiceAccount ?? false;
    this.clockSkewSeconds = opts.clockSkewSeconds ?? 60;
    this.accessTokenTtlSeconds = opts.accessTokenTtlSeconds ?? 3600;
  }

  // --- registration ----------------------------------------------------------------------------------

  addApnsKey(reg: ApnsKeyRegistration): void {
    const key = crypto.createPublicKey(reg.publicKeyPem);
    if (key.asymmetricKeyType !== 'ec') throw new Error(`APNs key ${reg.keyId} is not an EC (P-256) key`);
    this.apnsKeys.set(reg.keyId, { reg: { ...reg }, key });
    this.jwtCache.clear();
  }

  removeApnsKey(keyId: string): boolean {
    this.jwtCache.clear();
    return this.apnsKeys.delete(keyId);
  }

  listApnsKeys(): ApnsKeyRegistration[] {
    return [...this.apnsKeys.values()].map((k) => ({ ...k.reg }));
  }

  /** A legacy server key; with `projectId`, tokens of other projects answer MismatchSenderId. */
  addGcmApiKey(key: string, projectId?: string): void {
    if (!key) throw new Error('empty GCM server key');
    this.gcmKeys.set(key, projectId);
  }

  /** The project of the server key in an `Authorization: key=...` header, when known. */
  gcmKeyProject(header: string | undefined): string | undefined {
    const m = header ? /^key=(.+)$/i.exec(header.trim()) : null;
    return m ? this.gcmKeys.get(m[1]) : undefined;
  }

  removeGcmApiKey(key: string): boolean {
    return this.gcmKeys.delete(key);
  }

  addFcmServiceAccount(reg: FcmServiceAccountRegistration): void {
    const key = crypto.createPublicKey(reg.publicKeyPem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error(`service account ${reg.clientEmail} does not have an RSA key`);
    this.serviceAccounts.set(reg.clientEmail, { reg: { ...reg }, key });
  }

  listFcmServiceAccounts(): FcmServiceAccountRegistration[] {
    return [...this.serviceAccounts.values()].map((s) => ({ ...s.reg }));
  }

  // --- APNs ------------------------------------------------------------------------------------------

  /**
   * Verifies an APNs `authorization` header ("bearer <JWT>"). Returns the verified token, or the APNs
   * reason to answer 403 with. A header verified once is cached by its exact string, so later requests
   * carrying the same token only pay for a map lookup and the age check.
   */
  verifyApnsAuthorization(header: string, nowMs = Date.now()): ApnsTokenAuth | string {
    const hit = this.jwtCache.get(header);
    if (hit !== undefined) return this.expired(hit.iat, nowMs / 1000) ? 'ExpiredProviderToken' : hit;
    if (header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return 'InvalidProviderToken';
    const auth = this.checkApnsJwt(header.slice(7), nowMs);
    if (typeof auth !== 'string') {
      if (this.jwtCache.size >= JWT_CACHE_LIMIT) this.jwtCache = new Map();
      this.jwtCache.set(header, auth);
    }
    return auth;
  }

  /** Same as {@link verifyApnsAuthorization} for a bare JWT. */
  verifyApnsJwt(jwt: string, nowMs = Date.now()): ApnsTokenAuth | string {
    return this.verifyApnsAuthorization(`bearer ${jwt}`, nowMs);
  }

  private expired(iat: number, nowSeconds: number): boolean {
    return this.providerTokenMaxAgeSeconds > 0 && nowSeconds - iat > this.providerTokenMaxAgeSeconds;
  }

  private checkApnsJwt(jwt: string, nowMs: number): ApnsTokenAuth | string {
    const now = nowMs / 1000;
    const parts = jwt.split('.');
    if (parts.length !== 3) return 'InvalidProviderToken';
    const header = b64json(parts[0]);
    const claims = b64json(parts[1]);
    if (!header || !claims || header.alg !== 'ES256' || typeof header.kid !== 'string') return 'InvalidProviderToken';
    if (typeof claims.iss !== 'string' || typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) return 'InvalidProviderToken';
    const keyId = header.kid;
    const reg = this.apnsKeys.get(keyId);
    if (reg) {
      if (reg.reg.teamId !== claims.iss) return 'InvalidProviderToken';
      const sig = Buffer.from(parts[2], 'base64url');
      if (sig.length !== 64) return 'InvalidProviderToken';
      const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: reg.key, dsaEncoding: 'ieee-p1363' }, sig);
      if (!ok) return 'InvalidProviderToken';
    } else if (!this.acceptAnyApnsKey) {
      return 'InvalidProviderToken';
    }
    const iat = claims.iat;
    if (iat > now + this.clockSkewSeconds) return 'InvalidProviderToken';
    if (this.expired(iat, now)) return 'ExpiredProviderToken';
    return { keyId, teamId: claims.iss, iat, topics: reg?.reg.topics };
  }

  // --- GCM legacy ------------------------------------------------------------------------------------

  /** Checks an `Authorization: key=<server key>` header. */
  checkGcmAuthorization(header: string | undefined): boolean {
    if (!header) return false;
    const m = /^key=(.+)$/i.exec(header.trim());
    if (!m) return false;
    return this.acceptAnyGcmApiKey || this.gcmKeys.has(m[1]);
  }

  // --- OAuth2 / FCM v1 -------------------------------------------------------------------------------

  /** The OAuth2 token endpoint: a form-encoded JWT-bearer grant in, an access token (or an OAuth error) out. */
  grantAccessToken(formBody: string, nowMs = Date.now()): TokenEndpointAnswer & { clientEmail?: string } {
    const bad = (status: number, error: string, description: string): TokenEndpointAnswer =>
      ({ status, body: JSON.stringify({ error, error_description: description }) });
    const form = new URLSearchParams(formBody);
    const grantType = form.get('grant_type');
    if (grantType !== JWT_BEARER) return bad(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`);
    const assertion = form.get('assertion');
    const parts = assertion?.split('.') ?? [];
    if (parts.length !== 3) return bad(400, 'invalid_grant', 'Invalid JWT: Malformed.');
    const header = b64json(parts[0]);
    const claims = b64json(parts[1]);
    if (!header || !claims || header.alg !== 'RS256') return bad(400, 'invalid_grant', 'Invalid JWT: Malformed.');
    const iss = claims.iss;
    if (typeof iss !== 'string') return bad(400, 'invalid_grant', 'Invalid JWT: No valid issuer.');
    const sa = this.serviceAccounts.get(iss);
    if (sa) {
      const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), sa.key, Buffer.from(parts[2], 'base64url'));
      if (!ok) return bad(400, 'invalid_grant', 'Invalid JWT Signature.');
    } else if (!this.acceptAnyServiceAccount) {
      return bad(400, 'invalid_grant', 'Invalid grant: account not found');
    }
    if (typeof claims.aud !== 'string' || !this.tokenAudiences.has(claims.aud)) {
      return bad(400, 'invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${this.tokenUri}`);
    }
    const now = nowMs / 1000;
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number' || iat > now + this.clockSkewSeconds || exp <= now || exp - iat > 3600 || exp <= iat) {
      return bad(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(/\s+/).filter(Boolean) : [];
    if (scopes.length === 0) return bad(400, 'invalid_scope', 'Invalid oauth scope or ID token audience provided.');
    const accessToken = `ya29.sandbox.${crypto.randomBytes(24).toString('base64url')}`;
    const ttl = this.accessTokenTtlSeconds;
    if (this.accessTokens.size > 10_000) this.pruneAccessTokens(nowMs);
    this.accessTokens.set(accessToken, { clientEmail: iss, projectId: sa?.reg.projectId, scopes, expiresAt: nowMs + ttl * 1000 });
    return { status: 200, body: JSON.stringify({ access_token: accessToken, expires_in: ttl, token_type: 'Bearer' }), clientEmail: iss };
  }

  /**
   * Checks an FCM v1 `Authorization: Bearer` header for `projectId`: undefined when it is fine, else the
   * error to answer ('UNAUTHENTICATED' -> 401, 'PERMISSION_DENIED' -> 403, with a message).
   */
  checkAccessToken(header: string | undefined, projectId: string, nowMs = Date.now()): { code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED'; message?: string; expired?: true } | undefined {
    const m = header ? /^bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (!m) return { code: 'UNAUTHENTICATED' };
    const grant = this.accessTokens.get(m[1]);
    if (!grant) return { code: 'UNAUTHENTICATED' };
    if (grant.expiresAt <= nowMs) return { code: 'UNAUTHENTICATED', expired: true };
    if (!grant.scopes.some((s) => FCM_SCOPES.includes(s))) return { code: 'PERMISSION_DENIED', message: 'Request had insufficient authentication scopes.' };
    if (grant.projectId !== undefined && grant.projectId !== projectId) {
      return { code: 'PERMISSION_DENIED', message: `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${projectId}' (or it may not exist).` };
    }
    return undefined;
  }

  /** Forgets every granted access token (clients must fetch new ones). */
  revokeAccessTokens(): void {
    this.accessTokens.clear();
  }

  private pruneAccessTokens(nowMs: number): void {
    for (const [k, v] of this.accessTokens) if (v.expiresAt <= nowMs) this.accessTokens.delete(k);
  }
}
