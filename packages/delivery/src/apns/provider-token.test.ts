import crypto from 'node:crypto';
import { importSPKI, jwtVerify, decodeProtectedHeader } from 'jose';
import { ProviderToken } from './provider-token';

describe('ProviderToken', () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  it('signs an ES256 JWT with kid and iss/iat, as Apple expects', async () => {
    const t = new ProviderToken(privateKey, 'ABC123DEFG', '39JSDKGJ38', () => 1_700_000_000_500);
    const spki = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'ES256');
    const { payload } = await jwtVerify(t.current, spki, { currentDate: new Date(1_700_000_001_000) });
    expect(decodeProtectedHeader(t.current)).toEqual({ alg: 'ES256', kid: 'ABC123DEFG' });
    expect(payload).toEqual({ iss: '39JSDKGJ38', iat: 1_700_000_000 });
  });

  it('re-signs once per generation, and is expired after validSeconds', () => {
    let now = 1_700_000_000_000;
    const t = new ProviderToken(privateKey, 'ABC123DEFG', '39JSDKGJ38', () => now);
    const first = t.current;
    expect(t.isExpired(3000)).toBe(false);
    now += 3000_000;
    expect(t.isExpired(3000)).toBe(true);
    t.regenerate(0);
    t.regenerate(0); // a second request that saw the same stale token: no new signature
    expect([t.generation, t.current === first, t.isExpired(3000)]).toEqual([1, false, false]);
  });
});
