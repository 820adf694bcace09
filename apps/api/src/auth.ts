import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, JWTVerifyGetKey } from 'jose';

export class UnauthorizedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnauthorizedError';
  }
}

export interface UserAuthOptions {
  /** HS256 shared secret (AUTH_JWT_SECRET). */
  secret?: string;
  /** JWKS endpoint for RS256/ES256 tokens (AUTH_JWKS_URL). */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

/** Asymmetric algorithms accepted from the JWKS; HS256 only with the shared secret (no alg confusion). */
const JWKS_ALGORITHMS = ['RS256', 'ES256', 'PS256', 'EdDSA'];

export type UserAuthenticator = (authorization: string | undefined) => Promise<string>;

/**
 * Verifies `Authorization: Bearer <JWT>` and returns the user id (`sub`). The algorithm picks the key
 * source, and each source accepts only its own algorithms, so an RS256 public key can never be used as
 * an HS256 secret and `alg: none` has nowhere to go. `exp` is required.
 */
export function createUserAuthenticator(opts: UserAuthOptions): UserAuthenticator {
  if (!opts.secret && !opts.jwksUrl) throw new Error('no user authentication configured');
  const secret = opts.secret ? new TextEncoder().encode(opts.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl), { timeoutDuration: 2000 }) : undefined;
  const claims = { issuer: opts.issuer, audience: opts.audience, requiredClaims: ['exp', 'sub'], clockTolerance: 30 };

  return async (authorization) => {
    const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(authorization ?? '');
    if (!m) throw new UnauthorizedError('missing or malformed bearer token');
    const jwt = m[1];
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(jwt).alg;
    } catch {
      throw new UnauthorizedError('malformed token header');
    }
    try {
      let sub: unknown;
      if (alg === 'HS256' && secret) {
        sub = (await jwtVerify(jwt, secret, { ...claims, algorithms: ['HS256'] })).payload.sub;
      } else if (alg && JWKS_ALGORITHMS.includes(alg) && jwks) {
        sub = (await jwtVerify(jwt, jwks, { ...claims, algorithms: JWKS_ALGORITHMS })).payload.sub;
      } else {
        throw new UnauthorizedError(`algorithm ${alg ?? 'none'} not accepted`);
      }
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > 200 || /[\s\x00-\x1f]/.test(sub)) {
        throw new UnauthorizedError('sub claim missing or not a usable user id');
      }
      return sub;
    } catch (e) {
      if (e instanceof UnauthorizedError) throw e;
      throw new UnauthorizedError((e as { code?: string }).code ?? 'token rejected');
    }
  };
}
