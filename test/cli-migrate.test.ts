import { createRedisClient, RedisClient } from '@pushfleet/observability';
import { legacyRegistryKeys, TokenRegistry } from '@pushfleet/registry';
import { EXIT, runCli } from '../scripts/lib/cli-commands';
import { uniquePrefix } from './support/env';
import { redisTargets } from './support/targets';

const APP = '39JSDKGJ38.de.cospace.app';
const ALICE = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const BOB = 'bob@example';
const T1 = 'a6461732069737d42065496e' + '0'.repeat(35) + 'f39ad';
const T2 = 'b6281e62e55932df9ec72829' + '1'.repeat(35) + '5e2d3';
const REG = 'dGhpcyBpcyBhIHJlZ2lzdHJhdGlvbiBpZA:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx';

describe.each(redisTargets())('registry migrate on %s', (target) => {
  let redis: RedisClient;
  let prefix: string;
  let registry: TokenRegistry;
  const cli = async (args: string[]) => {
    let out = '';
    let err = '';
    const code = await runCli(args, { env: { ...target.env, PUSHFLEET_PREFIX: prefix }, stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } } });
    return { code, out, err };
  };

  beforeAll(async () => {
    redis = createRedisClient(target.connection, { maxRetriesPerRequest: 3 });
    prefix = uniquePrefix('migrate');
    registry = new TokenRegistry(redis, { prefix, ...target.connection.registry });
    // The old single-slot layout, as the previous version wrote it.
    const old = legacyRegistryKeys(prefix);
    await redis.hset(old.user(ALICE), { [`a:${T1}`]: `1000|${APP}|1|de.cospace.app.voip`, [`g:${REG}`]: '2000' });
    await redis.hset(old.user(BOB), { [`a:${T2}`]: `3000|${APP}|0|` });
    await redis.hset(old.owners, { [`a:${T1}`]: ALICE, [`g:${REG}`]: ALICE, [`a:${T2}`]: BOB, 'g:orphan-registration-id': BOB });
  });
  afterAll(() => redis.quit());

  test('copies every entry with its registered_at and reports counts; a second run copies nothing', async () => {
    const first = await cli(['registry', 'migrate', '--json']);
    expect(first.code).toBe(EXIT.OK);
    expect(JSON.parse(first.out)).toEqual({ seen: 4, copied: 3, present: 0, orphaned: 1, users: 2 });
    expect(await registry.entries(ALICE)).toEqual({
      apns: [{ deviceToken: T1, applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip', registeredAt: 1000 }],
      gcm: [{ registrationId: REG, registeredAt: 2000 }],
    });
    expect(await registry.entries(BOB)).toEqual({ apns: [{ deviceToken: T2, applicationId: APP, sandbox: false, registeredAt: 3000 }], gcm: [] });
    expect(await registry.ownerOf('apns', T2)).toBe(BOB);

    // Re-registered on the new layout since: a second run must not move it back.
    await registry.addApns(ALICE, { deviceToken: T2, applicationId: APP, sandbox: false }, 4000);
    const second = await cli(['registry', 'migrate']);
    expect(second.code).toBe(EXIT.OK);
    expect(second.out).toContain('4 token(s) in the old layout: 0 copied (0 user(s)), 3 already present, 1 orphaned');
    expect(await registry.ownerOf('apns', T2)).toBe(ALICE);
    expect(await registry.indexedTokens()).toBe(3);
  });
});
