import { SignJWT } from 'jose';

export const TEST_JWT_SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
/** The `iss` / `aud` the test API requires (AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE), and userToken sets. */
export const TEST_JWT_ISSUER = 'https://id.test.pushfleet';
export const TEST_JWT_AUDIENCE = 'pushfleet-test';
/** The settings the test API checks user JWTs with (createUserAuthenticator options / API env). */
export const TEST_AUTH = { secret: TEST_JWT_SECRET, issuer: TEST_JWT_ISSUER, audience: TEST_JWT_AUDIENCE };
export const TEST_AUTH_ENV = { AUTH_JWT_SECRET: TEST_JWT_SECRET, AUTH_JWT_ISSUER: TEST_JWT_ISSUER, AUTH_JWT_AUDIENCE: TEST_JWT_AUDIENCE };

/**
 * A user JWT as an identity provider would issue it (HS256 with the shared secret, the test issuer and
 * audience, iat now, exp in 1 h). `issuer`/`audience`/`issuedAt` null leave the claim out.
 */
export async function userToken(sub: string, opts: { secret?: string; expiresIn?: string | number; issuer?: string | null; audience?: string | null; issuedAt?: number | null } = {}): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub);
  if (opts.issuedAt !== null) jwt = jwt.setIssuedAt(opts.issuedAt);
  if (opts.expiresIn !== undefined) jwt = jwt.setExpirationTime(opts.expiresIn);
  else jwt = jwt.setExpirationTime('1h');
  const issuer = opts.issuer === undefined ? TEST_JWT_ISSUER : opts.issuer;
  const audience = opts.audience === undefined ? TEST_JWT_AUDIENCE : opts.audience;
  if (issuer !== null) jwt = jwt.setIssuer(issuer);
  if (audience !== null) jwt = jwt.setAudience(audience);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}
