import { SignJWT } from 'jose';

export const TEST_JWT_SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** A user JWT as an identity provider would issue it (HS256 with the shared secret). */
export async function userToken(sub: string, opts: { secret?: string; expiresIn?: string | number; issuer?: string; audience?: string } = {}): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt();
  if (opts.expiresIn !== undefined) jwt = jwt.setExpirationTime(opts.expiresIn);
  else jwt = jwt.setExpirationTime('1h');
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}
