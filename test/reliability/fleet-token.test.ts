import { randomBytes, randomUUID } from 'node:crypto';
import { createProducer, Producer } from '@pushfleet/producer';
import { TokenRegistry } from '@pushfleet/registry';
import { generateApnsKey } from '@pushfleet/sandbox';
import { APP_ID, specEvents } from '../support/delivery';
import { reportFigure, testRedisUrl, uniquePrefix, waitFor } from '../support/env';
import { startApnsWorkerProcess, useProcessFleet, writePushApps } from '../support/fleet';

/**
 * A fleet of compiled APNs worker processes, started one after another as in a rollout, against the
 * sandbox's team-wide rule (a team's provider token may change only every 20 minutes, across all
 * connections): every worker sends with the fleet's one token, so Apple never answers
 * TooManyProviderTokenUpdates. Each worker signing its own token drew 40 of them with three workers.
 */
const key = generateApnsKey({ keyId: 'FLEET12345', teamId: '39JSDKGJ38' });
const fleet = useProcessFleet(key);

/** Publishes one event to each of `n` new users and waits until every one is delivered. */
async function wave(registry: TokenRegistry, producer: Producer, n: number): Promise<void> {
  const users = Array.from({ length: n }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
  await Promise.all(users.map((u) => registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
  await producer.publishMany(users.map((u) => ({ ...specEvents(u.owner)[0] })));
  await waitFor(() => users.every((u) => fleet.sandbox.recorder.deliveries({ token: u.token }).some((d) => d.status === 200)), { timeoutMs: 20_000, what: `${n} deliveries` });
}

test.each([2, 4])('%i APNs worker processes started one after another send with one provider token: zero TooManyProviderTokenUpdates', async (n) => {
  fleet.sandbox.reset(); // a new deployment (prefix) of the team: forget the last case's token
  const prefix = uniquePrefix(`fleet-token-${n}`);
  const pushAppsFile = writePushApps(key);
  const registry = new TokenRegistry(fleet.redis, { prefix });
  const producer = createProducer({ connection: fleet.redis, prefix });
  try {
    for (let i = 0; i < n; i++) {
      fleet.procs.push(await startApnsWorkerProcess({ redisUrl: testRedisUrl(), prefix, sandbox: fleet.sandbox, pushAppsFile }));
      await wave(registry, producer, 200);
    }
    const updates = fleet.sandbox.refusals.count('provider-token-updates');
    reportFigure(`tooManyProviderTokenUpdatesWith${n}Workers`, updates);
    expect(fleet.sandbox.refusals.report().byRule['provider-token-updates']).toBeUndefined();
    expect(updates).toBe(0);
    const tokens = new Set(fleet.sandbox.recorder.deliveries({ system: 'apns' }).map((d) => String(d.headers.authorization)));
    expect(tokens.size).toBe(1);
  } finally {
    await producer.close();
    for (const p of fleet.procs.splice(0)) await p.stop('SIGTERM');
  }
});
