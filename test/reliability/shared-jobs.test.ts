import { randomBytes, randomUUID } from 'node:crypto';
import { startApnsRig, ApnsRig, APP_ID, specEvents } from '../support/delivery';
import { waitFor } from '../support/env';

// Events that share a job keep their own retry state: one event's trouble never delays, resends or
// dead-letters another. Real worker, BullMQ, Redis and the APNs sandbox.
let rig: ApnsRig;

beforeAll(async () => {
  rig = await startApnsRig('shared-jobs');
  rig.startWorker({ maxAttempts: 6, concurrency: 5 });
});
afterAll(() => rig.close());
afterEach(() => rig.sandbox.behaviours.clear());

async function user() {
  const u = { owner: randomUUID(), token: randomBytes(32).toString('hex') };
  await rig.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false });
  return u;
}
const requests = (token: string) => rig.sandbox.recorder.deliveries({ token, system: 'apns' });
const delivered = (token: string) => requests(token).filter((d) => d.status === 200).length;

test('an event waiting out a long Retry-After does not hold back its job-mate\'s quick retry', async () => {
  const [a, b] = [await user(), await user()];
  rig.sandbox.behaviours.set({ token: a.token, status: 503, reason: 'ServiceUnavailable', times: 1 });
  rig.sandbox.behaviours.set({ token: b.token, status: 429, reason: 'TooManyRequests', retryAfter: 120 });
  // A call-reverse notice lives 60 s: waiting for b's 120 s (a fax, kept a week) would expire it.
  const { ids } = await rig.producer.publishMany([{ ...specEvents(a.owner)[2] }, { ...specEvents(b.owner)[0] }]);
  // Delivered, and the job back to delayed for b alone (it is active while a's retry runs).
  await waitFor(async () => delivered(a.token) === 1 && (await rig.queue.getJobState(ids[0])) === 'delayed', { timeoutMs: 10_000, what: 'a delivered on its own quick retry' });
  expect(requests(b.token)).toHaveLength(1);
  const [left] = (await rig.queue.getJob(ids[0]))!.data.events;
  expect(left).toMatchObject({ id: ids[1], tokens: [b.token], attempt: 2 });
  expect(left.notBefore! - Date.now()).toBeGreaterThan(100_000);
});

test('an event refused for configuration is given up at once and not resent while its job-mate retries', async () => {
  const [a, c] = [await user(), await user()];
  rig.sandbox.behaviours.set({ token: a.token, status: 503, reason: 'ServiceUnavailable', times: 2 });
  rig.sandbox.behaviours.set({ token: c.token, status: 400, reason: 'TopicDisallowed' });
  const { ids } = await rig.producer.publishMany([{ ...specEvents(a.owner)[0] }, { ...specEvents(c.owner)[0] }]);
  await waitFor(async () => (await rig.queue.getJobState(ids[0])) === 'failed', { timeoutMs: 10_000, what: 'the job dead-lettered with the refused event' });
  expect(delivered(a.token)).toBe(1);
  expect(requests(c.token)).toHaveLength(1);
  const job = (await rig.queue.getJob(ids[0]))!;
  expect(job.data.events).toEqual([expect.objectContaining({ id: ids[1], tokens: [c.token], failed: 'configuration' })]);
  expect(job.failedReason).toMatch(/^configuration: 1 token\(s\) of 1 event\(s\)/);
  expect((await rig.registry.apnsEntries(c.owner)).map((e) => e.deviceToken)).toEqual([c.token]);
});

test('a job written by an older version (one event, no events list) is still delivered', async () => {
  const a = await user();
  const event = { ...specEvents(a.owner)[1] };
  await rig.queue.add(event.message, { id: 'old-shape-1', event, enqueuedAt: Date.now() } as never, { jobId: 'old-shape-1' });
  await waitFor(async () => (await rig.queue.getJobState('old-shape-1')) === 'completed', { what: 'the old-shape job delivered' });
  expect(delivered(a.token)).toBe(1);
});

test('after a configuration failure, a job\'s events for that app go one at a time until the circuit opens', async () => {
  const local = await startApnsRig('shared-jobs-probe');
  try {
    local.startWorker({ concurrency: 1, circuit: { threshold: 3, cooldownMs: 60_000 } });
    const users = Array.from({ length: 21 }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
    await Promise.all(users.map((u) => local.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
    local.sandbox.behaviours.set({ system: 'apns', status: 403, reason: 'InvalidProviderToken' });
    const { id: first } = await local.producer.publish({ ...specEvents(users[0].owner)[0] });
    await waitFor(async () => (await local.queue.getJobState(first)) === 'failed', { what: 'the first configuration failure' });
    const { ids } = await local.producer.publishMany(users.slice(1).map((u) => ({ ...specEvents(u.owner)[0] })));
    await waitFor(async () => (await local.queue.getJobState(ids[0])) === 'delayed', { what: 'the shared job held by the open circuit' });
    // One failure before, two more in the shared job: the circuit opens at three and holds the other 18.
    expect(local.sandbox.recorder.totals().apns).toBe(3);
    const events = (await local.queue.getJob(ids[0]))!.data.events;
    expect(events.filter((q) => q.failed === 'configuration')).toHaveLength(2);
    expect(events.filter((q) => q.failed === undefined && q.attempt === undefined)).toHaveLength(18);
  } finally {
    await local.close();
  }
});
