import { randomBytes, randomUUID } from 'node:crypto';
import { tokenRef } from '@pushfleet/observability';
import { runCli } from '../../scripts/lib/cli-commands';
import { startApnsRig, ApnsRig, APP_ID, specEvents } from '../support/delivery';
import { testRedisUrl, waitFor } from '../support/env';

/** Prunes are recoverable, and a prune never removes an entry registered again while the send was in flight. */
let rig: ApnsRig;

beforeAll(async () => {
  rig = await startApnsRig('prune-restore');
  rig.startWorker({ circuit: { threshold: 100, cooldownMs: 1000 } });
});
afterAll(() => rig.close());
afterEach(() => rig.sandbox.behaviours.clear());

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCli(args, { env: { REDIS_URL: testRedisUrl(), PUSHFLEET_PREFIX: rig.prefix }, stdout: { write: (s: string) => { out += s; } }, stderr: { write: () => undefined } });
  return { code, out };
}

const user = () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') });

test('a pruned token is listed by `tokens pruned` (short reference), restored by `tokens restore`, then delivered to', async () => {
  const u = user();
  await rig.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false });
  rig.sandbox.behaviours.set({ token: u.token, status: 410, reason: 'Unregistered', timestamp: Date.now() + 60_000 });
  await rig.producer.publish({ ...specEvents(u.owner)[0] });
  await waitFor(async () => (await rig.registry.apnsEntries(u.owner)).length === 0, { what: 'the prune' });

  const listed = await cli(['tokens', 'pruned']);
  expect(listed.code).toBe(0);
  expect(listed.out).toContain(tokenRef(u.token));
  expect(listed.out).not.toContain(u.token);
  expect(listed.out).toMatch(/Unregistered/);
  expect((await cli(['tokens', 'pruned', '--full'])).out).toContain(u.token);

  rig.sandbox.behaviours.clear();
  const restored = await cli(['tokens', 'restore', '--system', 'apns', '--ref', tokenRef(u.token)]);
  expect([restored.code, restored.out.trim()]).toEqual([0, `restored apns token ${tokenRef(u.token)}`]);
  expect((await rig.registry.apnsEntries(u.owner)).map((e) => e.deviceToken)).toEqual([u.token]);
  expect((await cli(['tokens', 'pruned'])).out).not.toContain(tokenRef(u.token));

  await rig.producer.publish({ ...specEvents(u.owner)[1] });
  await waitFor(() => rig.sandbox.recorder.deliveries({ token: u.token }).some((d) => d.status === 200), { what: 'a delivery to the restored token' });
});

test('a token registered again while the send was in flight survives the prune answer for the old entry', async () => {
  const u = user();
  await rig.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false }, Date.now() - 60_000);
  const slow = rig.sandbox.behaviours.set({ token: u.token, status: 400, reason: 'BadDeviceToken', latencyMs: 500, times: 1 });
  await rig.producer.publish({ ...specEvents(u.owner)[0] });
  await waitFor(() => rig.sandbox.behaviours.list().find((b) => b.rule.id === slow)?.hits === 1, { what: 'the send at the provider' });
  const again = Date.now();
  await rig.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false }, again);
  await waitFor(() => rig.sandbox.recorder.deliveries({ token: u.token }).some((d) => d.status === 400), { what: 'the BadDeviceToken answer' });
  await waitFor(async () => (await rig.queue.getJobCounts('active', 'wait')).active === 0, { what: 'the job settled' });
  expect((await rig.registry.apnsEntries(u.owner)).map((e) => [e.deviceToken, e.registeredAt])).toEqual([[u.token, again]]);
  expect(await rig.registry.tombstones.read('apns', u.token)).toBeUndefined();
});
