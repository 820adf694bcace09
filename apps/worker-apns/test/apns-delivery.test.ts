import { buildApnsPayload, DEFAULT_POLICIES } from '@pushfleet/events';
import { startApnsRig, ApnsRig, APP_ID, OWNER, specEvents, counterValue } from '../../../test/support/delivery';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../../../test/support/env';

let rig: ApnsRig;
const tok = (n: number) => n.toString(16).padStart(64, 'a');

beforeAll(async () => {
  rig = await startApnsRig('apns');
  rig.startWorker({ circuit: { threshold: 100, cooldownMs: 1000 } });
});
afterAll(() => rig.close());

const ok = (token: string) => rig.sandbox.recorder.deliveries({ token }).filter((d) => d.status === 200);

test('the five spec events arrive with exact bodies and background headers', async () => {
  const token = tok(1);
  await rig.registry.addApns(OWNER, { deviceToken: token, applicationId: APP_ID, sandbox: false });
  const before = Date.now();
  const { ids } = await rig.producer.publishMany(specEvents().map((e) => ({ ...e })));
  expect(ids).toHaveLength(5);
  const got = await waitFor(() => { const d = ok(token); return d.length === 5 && d; }, { what: '5 APNs deliveries' });
  for (const event of specEvents()) {
    const d = got.find((r) => JSON.parse(r.body).message === event.message)!;
    expect(d.body).toBe(JSON.stringify(buildApnsPayload(event as never)));
    expect(d.endpoint).toBe('production');
    expect(d.headers['apns-topic']).toBe('de.cospace.app');
    expect(d.headers['apns-push-type']).toBe('background');
    expect(d.headers['apns-priority']).toBe('5');
    const expiration = Number(d.headers['apns-expiration']);
    const ttl = DEFAULT_POLICIES[event.message].ttlSeconds;
    expect(expiration).toBeGreaterThanOrEqual(Math.floor(before / 1000) + ttl - 1);
    expect(expiration).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + ttl);
  }
  await rig.registry.remove(OWNER, 'apns', token);
});

test('sandbox tokens go to the development endpoint, VoIP topics get voip/10', async () => {
  const owner = randomUUID();
  await rig.registry.addApns(owner, { deviceToken: tok(2), applicationId: APP_ID, sandbox: true });
  await rig.registry.addApns(owner, { deviceToken: tok(3), applicationId: APP_ID, sandbox: false, apnsTopic: 'de.cospace.app.voip' });
  await rig.producer.publish({ ...specEvents(owner)[2] });
  const [dev] = await waitFor(() => { const d = ok(tok(2)); return d.length === 1 && d; });
  const [voip] = await waitFor(() => { const d = ok(tok(3)); return d.length === 1 && d; });
  expect(dev.endpoint).toBe('development');
  expect(voip.endpoint).toBe('production');
  expect(voip.headers['apns-topic']).toBe('de.cospace.app.voip');
  expect(voip.headers['apns-push-type']).toBe('voip');
  expect(voip.headers['apns-priority']).toBe('10');
  expect(String(voip.headers.authorization)).toMatch(/^bearer ey/);
});

test('410 Unregistered prunes only entries registered before Apple\'s timestamp', async () => {
  const owner = randomUUID();
  const now = Date.now();
  await rig.registry.addApns(owner, { deviceToken: tok(4), applicationId: APP_ID, sandbox: false }, now - 60_000);
  await rig.registry.addApns(owner, { deviceToken: tok(5), applicationId: APP_ID, sandbox: false }, now);
  // tok(4) was registered before Apple saw it die: prune. tok(5) was (re-)registered after: keep.
  rig.sandbox.behaviours.set({ token: tok(4), status: 410, reason: 'Unregistered', timestamp: now - 30_000 });
  rig.sandbox.behaviours.set({ token: tok(5), status: 410, reason: 'Unregistered', timestamp: now - 30_000 });
  await rig.producer.publish({ ...specEvents(owner)[0] });
  await waitFor(async () => (await rig.registry.apnsEntries(owner)).length === 1, { what: 'prune' });
  expect((await rig.registry.apnsEntries(owner)).map((e) => e.deviceToken)).toEqual([tok(5)]);
  expect(await rig.registry.ownerOf('apns', tok(4))).toBeNull();
  expect(await counterValue(rig.metrics, 'pushfleet_prunes_total', { system: 'apns', reason: 'Unregistered' })).toBe(1);
});

test('503 twice then success: each token delivered exactly once, only the failing one resent', async () => {
  const owner = randomUUID();
  await rig.registry.addApns(owner, { deviceToken: tok(6), applicationId: APP_ID, sandbox: false });
  await rig.registry.addApns(owner, { deviceToken: tok(7), applicationId: APP_ID, sandbox: false });
  rig.sandbox.behaviours.set({ token: tok(6), status: 503, reason: 'ServiceUnavailable', times: 2 });
  const { id } = await rig.producer.publish({ ...specEvents(owner)[1] });
  await waitFor(() => ok(tok(6)).length === 1, { what: 'delivery after two 503s' });
  await waitFor(async () => (await rig.queue.getJobState(id)) === 'completed', { what: 'job completed' });
  expect(rig.sandbox.recorder.countFor(tok(6), 'apns')).toBe(3);
  expect(rig.sandbox.recorder.countFor(tok(7), 'apns')).toBe(1);
  expect(ok(tok(7))).toHaveLength(1);
  expect(await rig.registry.apnsEntries(owner)).toHaveLength(2);
});

test('429 with retry-after: the retry waits at least that long', async () => {
  const owner = randomUUID();
  await rig.registry.addApns(owner, { deviceToken: tok(8), applicationId: APP_ID, sandbox: false });
  rig.sandbox.behaviours.set({ token: tok(8), status: 429, reason: 'TooManyRequests', retryAfter: 1, times: 1 });
  await rig.producer.publish({ ...specEvents(owner)[4] });
  const [first, second] = await waitFor(() => { const d = rig.sandbox.recorder.deliveries({ token: tok(8) }); return d.length === 2 && d; }, { what: 'retry after 429' });
  expect(first.status).toBe(429);
  expect(second.status).toBe(200);
  expect(second.time - first.time).toBeGreaterThanOrEqual(1000);
});

test('a configuration failure keeps the tokens and dead-letters the job with them', async () => {
  const owner = randomUUID();
  await rig.registry.addApns(owner, { deviceToken: tok(9), applicationId: APP_ID, sandbox: false });
  rig.sandbox.behaviours.set({ token: tok(9), status: 403, reason: 'InvalidProviderToken' });
  const { id } = await rig.producer.publish({ ...specEvents(owner)[0] });
  await waitFor(async () => (await rig.queue.getJobState(id)) === 'failed', { what: 'dead-lettered job' });
  const job = await rig.queue.getJob(id);
  expect(job!.data.events.map((q) => q.tokens)).toEqual([[tok(9)]]);
  expect(job!.failedReason).toMatch(/configuration/);
  expect((await rig.registry.apnsEntries(owner)).map((e) => e.deviceToken)).toEqual([tok(9)]);
  expect(await counterValue(rig.metrics, 'pushfleet_deliveries_total', { outcome: 'fail', reason: 'InvalidProviderToken' })).toBeGreaterThanOrEqual(1);
});

test('an event past its TTL is dropped and counted, not delivered late', async () => {
  const owner = randomUUID();
  await rig.registry.addApns(owner, { deviceToken: tok(10), applicationId: APP_ID, sandbox: false });
  const event = { ...specEvents(owner)[2] };
  await rig.queue.add(event.message, { events: [{ id: 'late-event-1', event: event as never, enqueuedAt: Date.now() - 120_000 }] }, { jobId: 'late-event-1' });
  await waitFor(async () => (await rig.queue.getJobState('late-event-1')) === 'completed', { what: 'expired job completed' });
  expect(rig.sandbox.recorder.countFor(tok(10), 'apns')).toBe(0);
  expect(await counterValue(rig.metrics, 'pushfleet_events_expired_total', { system: 'apns', event: 'dialplan_callreverse_start' })).toBe(1);
});

test('a user without APNs tokens completes as no_devices', async () => {
  const { id } = await rig.producer.publish({ ...specEvents(randomUUID())[0] });
  await waitFor(async () => (await rig.queue.getJobState(id)) === 'completed');
  expect(await counterValue(rig.metrics, 'pushfleet_events_processed_total', { system: 'apns', result: 'no_devices' })).toBeGreaterThanOrEqual(1);
});
