import { randomUUID } from 'node:crypto';
import { startApnsRig, ApnsRig, APP_ID, specEvents, counterValue } from '../../../test/support/delivery';
import { waitFor } from '../../../test/support/env';

// A job the producer did not write (BullMQ, the admin dashboard, redis-cli): the worker checks it with the
// event schemas before it reads the registry or sends anything, and dead-letters what does not fit.
let rig: ApnsRig;
const owner = randomUUID();
const token = 'b'.repeat(64);
let registryReads = 0;

beforeAll(async () => {
  rig = await startApnsRig('invalid-job');
  await rig.registry.addApns(owner, { deviceToken: token, applicationId: APP_ID, sandbox: false });
  const devicesOf = rig.registry.devicesOf.bind(rig.registry);
  rig.registry.devicesOf = (...args) => { registryReads++; return devicesOf(...args); };
  rig.startWorker();
});
afterAll(() => rig.close());

const fax = () => ({ ...specEvents(owner)[0] });
const queued = (event: object, extra: object = {}) => ({ id: randomUUID(), event, enqueuedAt: Date.now(), ...extra });

const handMade: [string, unknown, string][] = [
  ['an extra field in the event', { events: [queued({ ...fax(), alert: { title: 'pay now' } })] }, 'events.0.event.alert: unknown field'],
  ['an extra field beside the events', { events: [queued(fax())], payload: { aps: { alert: 'x' } } }, 'payload: unknown field'],
  ['an extra field in a queued event', { events: [queued(fax(), { apnsTopic: 'com.evil' })] }, 'events.0.apnsTopic: unknown field'],
  ['a script tag for the owner', { events: [queued({ ...fax(), owner: '<script>alert(1)</script>' })] }, 'events.0.event.owner: must be a UUID'],
  ['a script tag as a field name', { events: [queued({ ...fax(), '<script>x</script>': 1 })] }, 'events.0.event.?script?x??script?: unknown field'],
  ['a wrong type', { events: [queued({ ...fax(), page_count: { $gt: 0 } })] }, 'events.0.event.page_count: must be a non-negative integer'],
  ['tokens that are not strings', { events: [queued(fax(), { tokens: [{ toString: 1 }] })] }, 'events.0.tokens.0:'],
  ['no events at all', { event: 'fax_new' }, 'id:'],
];

test.each(handMade)('%s: dead-lettered as invalid-job, nothing sent, registry untouched', async (_what, data, reason) => {
  const before = await counterValue(rig.metrics, 'pushfleet_invalid_jobs_total', { system: 'apns' });
  const reads = registryReads;
  const job = await rig.queue.add('hand-made', data as never);
  await waitFor(async () => (await rig.queue.getJobState(job.id!)) === 'failed', { what: 'invalid job dead-lettered' });
  const failed = (await rig.queue.getJob(job.id!))!;
  expect(failed.failedReason.startsWith('invalid-job: ')).toBe(true);
  expect(failed.failedReason).toContain(reason);
  expect(failed.failedReason).not.toContain('<script>');
  expect(failed.attemptsMade).toBeLessThanOrEqual(1);
  expect(registryReads).toBe(reads);
  expect(rig.sandbox.recorder.countFor(token, 'apns')).toBe(0);
  expect(await counterValue(rig.metrics, 'pushfleet_invalid_jobs_total', { system: 'apns' })).toBe(before + 1);
  expect((await rig.registry.apnsEntries(owner)).map((e) => e.deviceToken)).toEqual([token]);
});

test('the same job written the producer\'s way is delivered (and the old one-event shape too)', async () => {
  await rig.queue.add('hand-made', { events: [queued(fax())] } as never);
  await rig.queue.add('hand-made', queued({ ...specEvents(owner)[1] }) as never);
  await waitFor(() => rig.sandbox.recorder.deliveries({ token }).filter((d) => d.status === 200).length === 2, { what: '2 deliveries' });
  expect(await counterValue(rig.metrics, 'pushfleet_invalid_jobs_total', { system: 'apns' })).toBe(handMade.length);
});
