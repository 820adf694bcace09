import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, JWTPayload, JWTVerifyGetKey } from 'jose';

export class UnauthorizedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnauthorizedError';
  }
}

/** The token could not be checked (the JWKS endpoint is unreachable past its cache): 503, not 401. */
export class AuthUnavailableError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'AuthUnavailableError';
  }
}

export interface UserAuthOptions {
  /** HS256 shared secret (AUTH_JWT_SECRET). */
  secret?: string;
  /** JWKS endpoint for RS256/ES256 tokens (AUTH_JWKS_URL). */
  jwksUrl?: string;
  /** Required `iss` (AUTH_JWT_ISSUER). */
  issuer?: string;
  /** Required `aud` (AUTH_JWT_AUDIENCE). */
  audience?: string;
  /** Development only (AUTH_ALLOW_ANY_ISSUER_AUDIENCE): without it, issuer and audience are required. */
  allowAnyIssuerAudience?: boolean;
  /** Oldest `iat` accepted, and longest `exp - iat` (AUTH_MAX_TOKEN_AGE_SECONDS). Default 86400. */
  maxTokenAgeSeconds?: number;
}

/** Clock skew tolerated on `exp`, `nbf` and `iat` (seconds). */
export const CLOCK_TOLERANCE_SECONDS = 30;
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 86_400;

/** Asymmetric algorithms accepted from the JWKS; HS256 only with the shared secret (no alg confusion). */
const JWKS_ALGORITHMS = ['RS256', 'ES256', 'PS256', 'EdDSA'];
/** What jose throws when the JWKS could not be fetched (timeout, non-200, not a key set). */
const JWKS_FETCH_FAILURES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);

export type UserAuthenticator = (authorization: string | undefined) => Promise<string>;

/**
 * Verifies `Authorization: Bearer <JWT>` (scheme in any case) and returns the user id (`sub`). The
 * algorithm picks the key source, and each source accepts only its own algorithms, so an RS256 public key
 * can never be used as an HS256 secret and `alg: none` has nowhere to go. `exp`, `iat` and `sub` are
 * required; `iss`/`aud` must match; `iat` may be neither older than the maximum age nor in the future
 * (beyond the skew), and `exp - iat` may not exceed the maximum age either (no 100-year tokens).
 * Throws UnauthorizedError (401) or AuthUnavailableError (503: the JWKS endpoint is unreachable).
 */
export function createUserAuthenticator(opts: UserAuthOptions): UserAuthenticator {
  if (!opts.secret && !opts.jwksUrl) throw new Error('no user authentication configured');
  if (!opts.allowAnyIssuerAudience && (!opts.issuer || !opts.audience)) {
    throw new Error('issuer and audience are required (allowAnyIssuerAudience is for development only)');
  }
  const maxAge = opts.maxTokenAgeSeconds ?? DEFAULT_MAX_TOKEN_AGE_SECONDS;
  const secret = opts.secret ? new TextEncoder().encode(opts.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl), { timeoutDuration: 2000 }) : undefined;
  const claims = {
    issuer: opts.issuer, audience: opts.audience, requiredClaims: ['exp', 'iat', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS, maxTokenAge: maxAge,
  };

  const verify = async (jwt: string, alg: string | undefined): Promise<JWTPayload> => {
    if (alg === 'HS256' && secret) return (await jwtVerify(jwt, secret, { ...claims, algorithms: ['HS256'] })).payload;
    if (!alg || !JWKS_ALGORITHMS.includes(alg) || !jwks) throw new UnauthorizedError(`algorithm ${alg ?? 'none'} not accepted`);
    try {
      return (await jwtVerify(jwt, jwks, { ...claims, algorithms: JWKS_ALGORITHMS })).payload;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!(e instanceof errors.JOSEError) || (code && JWKS_FETCH_FAILURES.has(code))) {
        throw new AuthUnavailableError(`JWKS unavailable: ${code ?? (e as Error).message}`);
      }
      throw e;
    }
  };

  return async (authorization) => {
    const m = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*) *$/i.exec(authorization ?? '');
    if (!m) throw new UnauthorizedError('missing or malformed bearer token');
    const jwt = m[1];
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(jwt).alg;
    } catch {
      throw new UnauthorizedError('malformed token header');
    }
    try {
      const payload = await verify(jwt, alg);
      if ((payload.exp as number) - (payload.iat as number) > maxAge) throw new UnauthorizedError('token lifetime exceeds the maximum age');
      const sub = payload.sub;
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > 200 || /[\s\p{Cc}\p{Cf}]/u.test(sub)) {
        throw new UnauthorizedError('sub claim missing or not a usable user id');
      }
      return sub;
    } catch (e) {
      if (e instanceof UnauthorizedError || e instanceof AuthUnavailableError) throw e;
      throw new UnauthorizedError((e as { code?: string }).code ?? 'token rejected');
    }
  };
}
