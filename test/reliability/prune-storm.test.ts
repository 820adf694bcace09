import { randomBytes, randomUUID } from 'node:crypto';
import { startApnsRig, ApnsRig, APP_ID, specEvents, counterValue } from '../support/delivery';
import type { DeliveryWorker } from '@pushfleet/delivery';
import { reportFigure, waitFor } from '../support/env';

/**
 * The prune-storm guard against the real worker, BullMQ and the sandbox: a BadDeviceToken answer for
 * every token of one app (what swapped APNs endpoints look like) must not wipe that app's registrations,
 * while normal churn on another app keeps pruning exactly the dead tokens.
 */
const STORM_APP = APP_ID;
const CHURN_APP = '39JSDKGJ38.de.cospace.churn';
let rig: ApnsRig;
let worker: DeliveryWorker<'apns'>;

beforeAll(async () => {
  rig = await startApnsRig('prune-storm');
  rig.apps.set(CHURN_APP, { ...rig.apps.get(APP_ID)!, applicationId: CHURN_APP, bundleId: 'de.cospace.churn' });
  worker = rig.startWorker({ concurrency: 20, circuit: { threshold: 3, cooldownMs: 60_000 } });
});
afterAll(() => rig.close());

async function register(app: string, n: number, tag: string, issue?: () => string) {
  const list = Array.from({ length: n }, () => ({ owner: randomUUID(), token: issue ? issue() : tag + randomBytes(32).toString('hex').slice(1) }));
  await Promise.all(list.map((u) => rig.registry.addApns(u.owner, { deviceToken: u.token, applicationId: app, sandbox: false })));
  return list;
}

const registered = async (list: { owner: string }[]) => (await Promise.all(list.map((u) => rig.registry.apnsEntries(u.owner)))).filter((e) => e.length === 1).length;

test('a BadDeviceToken storm on one app keeps at least 90 % of its tokens and opens its circuit', async () => {
  // Development tokens registered as production: what swapped endpoints or a mislabelled build look like.
  // The sandbox's environment rule answers BadDeviceToken for every one of them.
  const list = await register(STORM_APP, 500, 'b', () => rig.sandbox.devices.issueApnsToken('development'));
  await rig.producer.publishMany(list.map((u) => ({ ...specEvents(u.owner)[0] })));
  await waitFor(async () => (await rig.deliveryMetrics.pruneGuardOpen.get()).values.some((v) => v.labels.app === STORM_APP && v.value === 1), { what: 'the guard to trip' });
  expect(worker.circuit.openApps()).toContain(STORM_APP);
  // Every job was taken and answered or held by the open circuit: nothing is left waiting or active.
  await waitFor(async () => { const c = await rig.queue.getJobCounts('waiting', 'active'); return c.waiting + c.active === 0; }, { timeoutMs: 20_000, what: 'the storm jobs to be taken' });
  const kept = await registered(list);
  reportFigure('badDeviceTokenStormKeptOf500', kept);
  expect(kept).toBeGreaterThanOrEqual(450);
  expect(await counterValue(rig.metrics, 'pushfleet_prunes_total', { reason: 'BadDeviceToken' })).toBe(500 - kept);
  expect(await counterValue(rig.metrics, 'pushfleet_prune_guard_held_total', { app: STORM_APP, reason: 'BadDeviceToken' })).toBeGreaterThanOrEqual(1);
  expect(rig.sandbox.refusals.count('environment', 'BadDeviceToken')).toBeGreaterThanOrEqual(100);
});

test('normal churn (5 % Unregistered) on another app prunes exactly those tokens', async () => {
  const list = await register(CHURN_APP, 200, 'c');
  const dead = new Set(list.filter((_, i) => i % 20 === 0).map((u) => u.token));
  for (const token of dead) rig.sandbox.behaviours.set({ system: 'apns', token, status: 410, reason: 'Unregistered', timestamp: Date.now() + 60_000 });
  await rig.producer.publishMany(list.map((u) => ({ ...specEvents(u.owner)[0] })));
  const live = list.filter((u) => !dead.has(u.token));
  await waitFor(() => live.every((u) => rig.sandbox.recorder.deliveries({ token: u.token }).some((d) => d.status === 200)), { timeoutMs: 20_000, what: 'the live tokens delivered' });
  await waitFor(async () => (await registered(list)) === 190, { what: 'the 10 dead tokens pruned' });
  for (const u of list) expect((await rig.registry.apnsEntries(u.owner)).map((e) => e.deviceToken)).toEqual(dead.has(u.token) ? [] : [u.token]);
  expect(worker.pruneGuard.tripped(CHURN_APP, 'production')).toBe(false);
});
