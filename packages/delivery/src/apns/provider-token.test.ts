import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { PROVIDER_TOKEN_TIMING, ProviderTokens } from './provider-token';
import { MemoryTokenStore } from './token-store';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const TEAM = 'TEAM123456';
const KID = 'KEY1234567';

/** N workers of one fleet: one store, one clock, a signature counter. */
function fleet(n: number) {
  let now = 1_800_000_000_000;
  const store = new MemoryTokenStore();
  const signed: string[] = [];
  const workers = Array.from({ length: n }, () => {
    const t = new ProviderTokens({ store, now: () => now, onSign: (team) => signed.push(team) });
    t.register(TEAM, KID, privateKey);
    return t;
  });
  return { workers, signed, advance: (s: number) => { now += s * 1000; } };
}

test('the token is a valid ES256 JWT of the team and key', async () => {
  const { workers } = fleet(1);
  const { jwt, iat } = await workers[0].current(TEAM, KID);
  const [h, c, s] = jwt.split('.');
  expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'ES256', kid: KID });
  expect(JSON.parse(Buffer.from(c, 'base64url').toString())).toEqual({ iss: TEAM, iat });
  expect(verify('sha256', Buffer.from(`${h}.${c}`), { key: createPublicKey(privateKey), dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))).toBe(true);
});

test('four workers starting at once share one token: one signature', async () => {
  const { workers, signed } = fleet(4);
  const tokens = await Promise.all(workers.map((w) => w.current(TEAM, KID)));
  expect(new Set(tokens.map((t) => t.jwt)).size).toBe(1);
  expect(signed).toHaveLength(1);
});

test('a worker starting later takes the fleet\'s token; the token is replaced once, by one worker, after 40 minutes', async () => {
  const f = fleet(3);
  const first = await f.workers[0].current(TEAM, KID);
  f.advance(25 * 60);
  expect((await f.workers[1].current(TEAM, KID)).jwt).toBe(first.jwt);
  expect(f.signed).toHaveLength(1);
  f.advance(16 * 60); // 41 minutes after iat: due
  await Promise.all(f.workers.map((w) => w.current(TEAM, KID)));
  // The background refreshes settle (afterExpired joins a running one, or reads the fleet's newer token).
  await Promise.all(f.workers.map((w) => w.afterExpired(TEAM, KID, first.iat)));
  f.advance(PROVIDER_TOKEN_TIMING.checkEveryMs / 1000);
  const after = await Promise.all(f.workers.map((w) => w.current(TEAM, KID)));
  expect(f.signed).toHaveLength(2);
  expect(new Set(after.map((t) => t.jwt)).size).toBe(1);
  expect(after[0].jwt).not.toBe(first.jwt);
});

test('ExpiredProviderToken for a young token takes the fleet\'s token and never re-signs', async () => {
  const f = fleet(2);
  const t = await f.workers[0].current(TEAM, KID);
  f.advance(60);
  for (let i = 0; i < 50; i++) await f.workers[1].afterExpired(TEAM, KID, t.iat);
  expect(f.signed).toHaveLength(1);
  expect((await f.workers[1].current(TEAM, KID)).jwt).toBe(t.jwt);
});

test('ExpiredProviderToken for a token past 20 minutes: one new signature for the whole fleet, however many answers', async () => {
  const f = fleet(2);
  const t = await f.workers[0].current(TEAM, KID);
  await f.workers[1].current(TEAM, KID);
  f.advance(21 * 60);
  await Promise.all(Array.from({ length: 100 }, (_, i) => f.workers[i % 2].afterExpired(TEAM, KID, t.iat)));
  expect(f.signed).toHaveLength(2);
  const [a, b] = await Promise.all(f.workers.map((w) => w.current(TEAM, KID)));
  expect(a.jwt).toBe(b.jwt);
});

test('TooManyProviderTokenUpdates never leads to a signature, however often', async () => {
  const f = fleet(2);
  await f.workers[0].current(TEAM, KID);
  for (let i = 0; i < 100; i++) await f.workers[i % 2].adopt(TEAM, KID);
  expect(f.signed).toHaveLength(1);
});
