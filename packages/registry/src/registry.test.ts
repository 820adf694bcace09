import { createRedisClient, RedisClient } from '@pushfleet/observability';
import type { Cluster } from 'ioredis';
import { AddStep, parseRecord, TokenRegistry } from './registry';
import { parseLines } from './entries';
import { uniquePrefix } from '../../../test/support/env';
import { redisTargets } from '../../../test/support/targets';

const APP = '39JSDKGJ38.de.cospace.app';
const T1 = 'ab'.repeat(32);

describe.each(redisTargets())('registry on %s', (target) => {
  let redis: RedisClient;
  let registry: TokenRegistry;
  const make = (o: { maxTokensPerUser?: number; afterStep?: (s: AddStep) => void; prefix?: string } = {}) =>
    new TokenRegistry(redis, { prefix: o.prefix ?? registry.keys.prefix, maxTokensPerUser: o.maxTokensPerUser ?? 50, afterStep: o.afterStep, waitReplicas: target.connection.registry.waitReplicas });

  beforeAll(() => {
    redis = createRedisClient(target.connection, { maxRetriesPerRequest: 3 });
    registry = new TokenRegistry(redis, { prefix: uniquePrefix('registry'), maxTokensPerUser: 2, waitReplicas: target.connection.registry.waitReplicas });
  });
  afterAll(() => redis.quit());

  /** Users whose ACTIVE entries hold the token, out of those named. */
  const holders = async (users: string[], system: 'apns' | 'gcm', token: string, r = registry) => {
    const all = await r.entriesOf(users);
    return users.filter((_, i) => (system === 'gcm' ? all[i].gcm.some((e) => e.registrationId === token) : all[i].apns.some((e) => e.deviceToken === token)));
  };

  test('entries round-trip with registered_at, topic only when set, token lower-cased', async () => {
    await registry.addApns('u1', { deviceToken: T1.toUpperCase(), applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip' }, 1000);
    await registry.addGcm('u1', 'gcm-registration-1,with,commas', 2000);
    expect(await registry.entries('u1')).toEqual({
      apns: [{ deviceToken: T1, applicationId: APP, sandbox: true, apnsTopic: 'de.cospace.app.voip', registeredAt: 1000 }],
      gcm: [{ registrationId: 'gcm-registration-1,with,commas', registeredAt: 2000 }],
    });
    expect(await registry.ownerOf('apns', T1)).toBe('u1');
  });

  test('entriesOf reads several users, in the order given, empty for a user without tokens', async () => {
    await registry.addGcm('many-1', 'gcm-many-1', 10);
    await registry.addApns('many-2', { deviceToken: 'ef'.repeat(32), applicationId: APP, sandbox: false }, 20);
    await registry.addGcm('many-2', 'gcm-many-2', 30);
    const got = await registry.entriesOf(['many-2', 'nobody', 'many-1']);
    expect(got).toEqual([await registry.entries('many-2'), { apns: [], gcm: [] }, await registry.entries('many-1')]);
    expect(got[0].apns.map((e) => e.deviceToken)).toEqual(['ef'.repeat(32)]);
    expect(got[2].gcm.map((e) => e.registrationId)).toEqual(['gcm-many-1']);
    expect(await registry.entriesOf([])).toEqual([]);
  });

  test('adding a token another user holds moves it: one holder, moved reported once', async () => {
    expect((await registry.addGcm('mover-a', 'gcm-moving-1', 1)).movedFromOtherUser).toBe(false);
    expect((await registry.addGcm('mover-b', 'gcm-moving-1', 2)).movedFromOtherUser).toBe(true);
    expect((await registry.addGcm('mover-b', 'gcm-moving-1', 3)).movedFromOtherUser).toBe(false);
    expect(await holders(['mover-a', 'mover-b'], 'gcm', 'gcm-moving-1')).toEqual(['mover-b']);
    expect(await registry.ownerOf('gcm', 'gcm-moving-1')).toBe('mover-b');
  });

  test('remove with registeredBefore prunes only entries registered before the provider timestamp', async () => {
    await registry.addApns('u2', { deviceToken: 'cd'.repeat(32), applicationId: APP, sandbox: false }, 5000);
    expect(await registry.remove('u2', 'apns', 'cd'.repeat(32), { registeredBefore: 5000 })).toBe(false);
    expect(await registry.remove('u2', 'apns', 'cd'.repeat(32), { registeredBefore: 4000 })).toBe(false);
    expect(await registry.apnsEntries('u2')).toHaveLength(1);
    expect(await registry.remove('u2', 'apns', 'cd'.repeat(32), { registeredBefore: 5001 })).toBe(true);
    expect(await registry.apnsEntries('u2')).toHaveLength(0);
    expect(await registry.ownerOf('apns', 'cd'.repeat(32))).toBeNull();
    const idx = registry.keys.index('apns', 'cd'.repeat(32));
    expect(await redis.hget(idx.key, idx.field)).toBeNull();
  });

  test('remove never touches another user\'s entry', async () => {
    await registry.addGcm('u3', 'gcm-registration-3');
    expect(await registry.remove('u4', 'gcm', 'gcm-registration-3')).toBe(false);
    expect(await registry.ownerOf('gcm', 'gcm-registration-3')).toBe('u3');
  });

  test('replaceGcm swaps in the canonical id keeping registered_at, or drops the old one when the canonical exists', async () => {
    await registry.addGcm('u5', 'old-registration-id', 42);
    expect(await registry.replaceGcm('u5', 'old-registration-id', 'canonical-registration-id')).toBe('replaced');
    expect(await registry.gcmEntries('u5')).toEqual([{ registrationId: 'canonical-registration-id', registeredAt: 42 }]);
    expect(await registry.ownerOf('gcm', 'canonical-registration-id')).toBe('u5');
    expect(await registry.ownerOf('gcm', 'old-registration-id')).toBeNull();
    await registry.addGcm('u5', 'second-old-registration-id', 43);
    expect(await registry.replaceGcm('u5', 'second-old-registration-id', 'canonical-registration-id')).toBe('dropped-old');
    expect((await registry.gcmEntries('u5')).map((e) => e.registrationId)).toEqual(['canonical-registration-id']);
    expect(await registry.replaceGcm('u5', 'never-registered-id', 'x-registration-id')).toBe('not-found');
  });

  test('the cap evicts the least recently registered entry of the same system only, and releases its claim', async () => {
    await registry.addGcm('u6', 'g-registration-1', 10);
    await registry.addApns('u6', { deviceToken: 'ef'.repeat(32), applicationId: APP, sandbox: false }, 5);
    await registry.addGcm('u6', 'g-registration-2', 20);
    const r = await registry.addGcm('u6', 'g-registration-3', 30);
    expect(r.evicted).toBe('g-registration-1');
    const e = await registry.entries('u6');
    expect(e.gcm.map((x) => x.registrationId)).toEqual(['g-registration-2', 'g-registration-3']);
    expect(e.apns).toHaveLength(1);
    const idx = registry.keys.index('gcm', 'g-registration-1');
    expect(await redis.hget(idx.key, idx.field)).toBeNull();
  });

  // The move protocol, stopped after each of its steps as a crash would (docs/redis-keys.md).
  describe.each<AddStep>(['pending', 'claimed', 'cleaned', 'confirmed'])('a move from X to Y killed after "%s"', (step) => {
    const token = `gcm-crash-${step}`;
    let r: TokenRegistry;
    const [X, Y, Z] = [`x-${step}`, `y-${step}`, `z-${step}`];
    beforeEach(async () => {
      r = make();
      await r.addGcm(X, token, 100);
      const crashing = make({ afterStep: (s) => { if (s === step) throw new Error(`killed after ${s}`); } });
      await expect(crashing.addGcm(Y, token, 200)).rejects.toThrow('killed');
    });

    test('at most one user holds the token; the next add by anyone converges on that user alone', async () => {
      expect((await holders([X, Y, Z], 'gcm', token, r)).length).toBeLessThanOrEqual(1);
      await r.addGcm(Z, token, 300);
      expect(await holders([X, Y, Z], 'gcm', token, r)).toEqual([Z]);
      expect(await r.ownerOf('gcm', token)).toBe(Z);
      const idx = r.keys.index('gcm', token);
      expect(parseRecord(await redis.hget(idx.key, idx.field)).dirty).toEqual([]);
      // No pending line of the killed add is left that could ever become active.
      const lines = parseLines(await redis.hget(r.keys.user(Y), Y)).filter((l) => l.token === token);
      expect(lines.filter((l) => l.active)).toEqual([]);
    });

    test('the next delete by the old holder removes only its own entry and leaves nobody holding it', async () => {
      await r.remove(X, 'gcm', token);
      const h = await holders([X, Y, Z], 'gcm', token, r);
      expect(h.filter((u) => u === X)).toEqual([]);
      // Y holds it only if its move had completed (killed after "confirmed").
      expect(h).toEqual(step === 'confirmed' ? [Y] : []);
      await r.remove(Y, 'gcm', token);
      expect(await holders([X, Y, Z], 'gcm', token, r)).toEqual([]);
      const idx = r.keys.index('gcm', token);
      expect(await redis.hget(idx.key, idx.field)).toBeNull();
    });
  });

  test('many users adding the same tokens at once: every token ends with exactly one holder, the index names it', async () => {
    const r = make();
    const users = Array.from({ length: 12 }, (_, i) => `racer-${i}`);
    const tokens = Array.from({ length: 8 }, (_, i) => `gcm-contended-${i}`);
    let invariantBroken = '';
    // Watch the invariant while the races run, not only at the end.
    let running = true;
    const watcher = (async () => {
      while (running) {
        for (const t of tokens) if ((await holders(users, 'gcm', t, r)).length > 1) invariantBroken = t;
      }
    })();
    await Promise.all(users.flatMap((u) => tokens.map((t) => r.addGcm(u, t).catch((e: Error) => { if (!/lost three races/.test(e.message)) throw e; }))));
    running = false;
    await watcher;
    expect(invariantBroken).toBe('');
    for (const t of tokens) {
      const h = await holders(users, 'gcm', t, r);
      expect(h.length).toBeLessThanOrEqual(1);
      if (h.length === 0) {
        // Every add of this token was superseded or lost; one more add settles it.
        await r.addGcm('late', t);
        continue;
      }
      expect(await r.ownerOf('gcm', t)).toBe(h[0]);
    }
  });
});

describe('WAIT on a cluster whose replicas do not answer', () => {
  const target = redisTargets().find((t) => t.name === 'cluster')!;
  let redis: Cluster;
  beforeAll(() => { redis = createRedisClient(target.connection, { maxRetriesPerRequest: 3 }) as Cluster; });
  afterAll(() => redis.quit());

  // WAIT blocks its connection, and every command behind it, for its whole timeout. Asking for more replicas
  // than a master has makes every WAIT time out, as after a failover (the new master has no replica yet).
  test('after a WAIT on a node timed out, steps on that node do not WAIT again for a while', async () => {
    let waits = 0;
    const pipeline = redis.pipeline.bind(redis);
    redis.pipeline = ((...a: Parameters<typeof redis.pipeline>) => {
      const p = pipeline(...a);
      const call = p.call.bind(p) as (...x: unknown[]) => unknown;
      (p as unknown as { call: (...x: unknown[]) => unknown }).call = (cmd: unknown, ...rest: unknown[]) => {
        if (String(cmd).toUpperCase() === 'WAIT') waits++;
        return call(cmd, ...rest);
      };
      return p;
    }) as typeof redis.pipeline;
    const registry = new TokenRegistry(redis, { prefix: uniquePrefix('registry-wait'), waitReplicas: 5, waitTimeoutMs: 50 });
    for (let i = 0; i < 30; i++) {
      expect(await registry.addGcm(`wait-user-${i}`, `wait-registration-${i}-xxxxxxxx`, 1000 + i)).toMatchObject({ movedFromOtherUser: false });
    }
    // One timed-out WAIT per master at most (3 masters), not one per add.
    expect(waits).toBeGreaterThanOrEqual(1);
    expect(waits).toBeLessThanOrEqual(3);
  });
});
