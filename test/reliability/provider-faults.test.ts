import { randomBytes, randomUUID } from 'node:crypto';
import { ProviderTokens, RedisTokenStore } from '@pushfleet/delivery';
import { startApnsRig, ApnsRig, APP_ID, specEvents, counterValue } from '../support/delivery';
import { waitFor } from '../support/env';

// Provider misbehaviour against the real worker, real BullMQ and the sandbox over TLS + HTTP/2.
let rig: ApnsRig;

beforeAll(async () => {
  rig = await startApnsRig('faults');
  rig.startWorker({ maxAttempts: 12, concurrency: 50, requestTimeoutMs: 500, circuit: { threshold: 1000, cooldownMs: 1000 } });
});
afterAll(() => rig.close());
afterEach(() => rig.sandbox.behaviours.clear());

async function users(n: number) {
  const list = Array.from({ length: n }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
  await Promise.all(list.map((u) => rig.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
  return list;
}
const ok = (token: string) => rig.sandbox.recorder.deliveries({ token, system: 'apns' }).filter((d) => d.status === 200).length;

test('a 503 storm on half the requests: every token delivered exactly once, none pruned', async () => {
  const list = await users(100);
  rig.sandbox.behaviours.set({ system: 'apns', ratio: 0.5, status: 503, reason: 'ServiceUnavailable' });
  await rig.producer.publishMany(list.map((u) => ({ ...specEvents(u.owner)[1] })));
  await waitFor(() => list.every((u) => ok(u.token) >= 1), { timeoutMs: 30_000, what: 'all delivered through the storm' });
  expect(list.map((u) => ok(u.token))).toEqual(list.map(() => 1));
  const failed = list.reduce((n, u) => n + rig.sandbox.recorder.deliveries({ token: u.token }).filter((d) => d.status === 503).length, 0);
  expect(failed).toBeGreaterThan(20); // the storm really hit
  for (const u of list) expect((await rig.registry.apnsEntries(u.owner)).length).toBe(1);
  expect(await counterValue(rig.metrics, 'pushfleet_prunes_total')).toBe(0);
});

test('a black-holed connection: requests time out, the connection is replaced, deliveries resume', async () => {
  const list = await users(20);
  rig.sandbox.behaviours.set({ system: 'apns', blackHole: true, times: 6 });
  await rig.producer.publishMany(list.map((u) => ({ ...specEvents(u.owner)[0] })));
  await waitFor(() => list.every((u) => ok(u.token) === 1), { timeoutMs: 20_000, what: 'deliveries after the black hole' });
  expect(await counterValue(rig.metrics, 'pushfleet_deliveries_total', { reason: 'timeout' })).toBeGreaterThanOrEqual(1);
  expect(rig.sandbox.recorder.stats().byStatus['0']).toBeGreaterThanOrEqual(6);
});

test('GOAWAY mid-flight: the streams it killed are retried on a new connection', async () => {
  const list = await users(30);
  const unanswered = () => rig.sandbox.recorder.stats().byStatus['0'] ?? 0;
  const unansweredBefore = unanswered();
  // Every answer is slow, so streams are still open when the GOAWAY (last-stream-id 0) refuses them.
  rig.sandbox.behaviours.set({ system: 'apns', latencyMs: 200 });
  rig.sandbox.behaviours.set({ system: 'apns', goaway: { reason: 'Shutdown' }, times: 1, latencyMs: 50 });
  await rig.producer.publishMany(list.map((u) => ({ ...specEvents(u.owner)[2] })));
  await waitFor(() => list.every((u) => ok(u.token) >= 1), { timeoutMs: 20_000, what: 'deliveries after GOAWAY' });
  expect(list.map((u) => ok(u.token))).toEqual(list.map(() => 1));
  expect(unanswered() - unansweredBefore).toBeGreaterThanOrEqual(2); // more than the one that drew the GOAWAY
});

test('ExpiredProviderToken for a young token: resent at once with the fleet\'s token, never a new signature', async () => {
  const [u] = await users(1);
  rig.sandbox.behaviours.set({ token: u.token, status: 403, reason: 'ExpiredProviderToken', times: 1 });
  await rig.producer.publish({ ...specEvents(u.owner)[3] });
  await waitFor(() => ok(u.token) === 1, { what: 'delivery after ExpiredProviderToken' });
  const [first, second] = rig.sandbox.recorder.deliveries({ token: u.token });
  expect(first.status).toBe(403);
  expect(second.time - first.time).toBeLessThan(1000); // at once, not after a backoff
  expect(second.headers.authorization).toEqual(first.headers.authorization);
  expect(rig.sandbox.refusals.count('provider-token-updates')).toBe(0);
});

test('repeated configuration failures open the app\'s circuit: later jobs wait instead of hammering Apple', async () => {
  const list = await users(12);
  const local = await startApnsRig('circuit');
  try {
    local.startWorker({ concurrency: 1, circuit: { threshold: 3, cooldownMs: 60_000 } });
    await Promise.all(list.map((u) => local.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
    local.sandbox.behaviours.set({ system: 'apns', status: 403, reason: 'InvalidProviderToken' });
    // One job per event (publish, not publishMany, which would share jobs), taken one at a time.
    for (const u of list) await local.producer.publish({ ...specEvents(u.owner)[0] });
    await waitFor(async () => (await local.queue.getJobCounts('failed', 'delayed')).delayed >= 1, { what: 'a job held by the open circuit' });
    await waitFor(async () => { const c = await local.queue.getJobCounts('wait', 'active'); return c.wait + c.active === 0; }, { what: 'queue drained into failed/delayed' });
    expect(local.sandbox.recorder.totals().apns).toBe(3);
    expect(await counterValue(local.metrics, 'pushfleet_circuit_open', { app: APP_ID })).toBe(1);
    for (const u of list) expect(await local.registry.apnsEntries(u.owner)).toHaveLength(1);
  } finally {
    await local.close();
  }
});

test('an open circuit never dead-letters a job on its last attempt without sending', async () => {
  const local = await startApnsRig('circuit-last');
  try {
    local.startWorker({ concurrency: 1, maxAttempts: 3, circuit: { threshold: 1, cooldownMs: 60_000 } });
    const [a, b] = [randomUUID(), randomUUID()];
    const [ta, tb] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
    await local.registry.addApns(a, { deviceToken: ta, applicationId: APP_ID, sandbox: false });
    await local.registry.addApns(b, { deviceToken: tb, applicationId: APP_ID, sandbox: false });
    local.sandbox.behaviours.set({ token: ta, status: 403, reason: 'InvalidProviderToken' });
    const { id: first } = await local.producer.publish({ ...specEvents(a)[0] });
    await waitFor(async () => (await local.queue.getJobState(first)) === 'failed', { what: 'the configuration failure that opens the circuit' });
    // A job on its last attempt, for the app whose circuit is now open: it must wait, not die.
    const event = { ...specEvents(b)[0] };
    await local.queue.add(event.message, { events: [{ id: 'last-attempt', event: event as never, enqueuedAt: Date.now(), tokens: [tb], attempt: 3 }] }, { jobId: 'last-attempt' });
    await waitFor(async () => (await local.queue.getJobState('last-attempt')) === 'delayed', { what: 'the job held by the circuit' });
    expect(local.sandbox.recorder.countFor(tb, 'apns')).toBe(0);
  } finally {
    await local.close();
  }
});

test('hundreds of requests with a really expired provider token: one new signature, no TooManyProviderTokenUpdates', async () => {
  // Apple's one hour, shrunk: the sandbox expires tokens after 2 s, the fleet treats them as due after 1 s.
  const local = await startApnsRig('resign', { hard: { apnsProviderTokenMaxAgeSeconds: 2 } });
  try {
    const timing = { minReplaceAgeS: 1, maxUsableAgeS: 1.5, refreshAfterS: 3600 };
    local.startWorker({ concurrency: 60, providerTokens: new ProviderTokens({ store: new RedisTokenStore(local.redis, local.prefix, false), timing }) });
    const list = Array.from({ length: 60 }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
    await Promise.all(list.map((u) => local.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
    // One delivery signs the token; once it is past the sandbox's 2 s, the whole batch draws ExpiredProviderToken.
    await local.producer.publish({ ...specEvents(list[0].owner)[2] });
    await waitFor(() => local.sandbox.recorder.deliveries({ token: list[0].token }).some((d) => d.status === 200), { what: 'the first delivery' });
    const signedAt = Date.now();
    await waitFor(() => Date.now() - signedAt > 2100, { what: 'the provider token to expire' });
    local.sandbox.recorder.clear();
    await local.producer.publishMany(list.map((u) => ({ ...specEvents(u.owner)[2] })));
    const delivered = (t: string) => local.sandbox.recorder.deliveries({ token: t }).filter((d) => d.status === 200);
    await waitFor(() => list.every((u) => delivered(u.token).length === 1), { timeoutMs: 20_000, what: 'all delivered after re-signing' });
    const tokensUsed = (status: number) => new Set(list.flatMap((u) => local.sandbox.recorder.deliveries({ token: u.token }).filter((d) => d.status === status).map((d) => String(d.headers.authorization))));
    expect(tokensUsed(403).size).toBe(1);
    expect(tokensUsed(200).size).toBe(1);
    expect([...tokensUsed(200)][0]).not.toBe([...tokensUsed(403)][0]);
    expect(local.sandbox.refusals.count('provider-token-expired')).toBeGreaterThanOrEqual(1);
    expect(local.sandbox.refusals.count('provider-token-updates')).toBe(0);
  } finally {
    await local.close();
  }
});

test('shutdown is bounded even when a provider never answers', async () => {
  const local = await startApnsRig('shutdown');
  try {
    const worker = local.startWorker({ concurrency: 5, requestTimeoutMs: 60_000 });
    const [u] = [{ owner: randomUUID(), token: randomBytes(32).toString('hex') }];
    await local.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false });
    local.sandbox.behaviours.set({ token: u.token, blackHole: true });
    await local.producer.publish({ ...specEvents(u.owner)[0] });
    await waitFor(() => local.sandbox.recorder.countFor(u.token, 'apns') === 1, { what: 'the request in the black hole' });
    const started = Date.now();
    await worker.close(500);
    expect(Date.now() - started).toBeLessThan(3000);
  } finally {
    await local.close();
  }
});
