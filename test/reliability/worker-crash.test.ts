import { randomBytes, randomUUID } from 'node:crypto';
import { TokenRegistry } from '@pushfleet/registry';
import { Queue } from 'bullmq';
import { EVENTS_PER_JOB, QUEUE_NAMES } from '@pushfleet/events';
import { createProducer } from '@pushfleet/producer';
import { generateApnsKey } from '@pushfleet/sandbox';
import { APP_ID, specEvents } from '../support/delivery';
import { reportFigure, testRedisUrl, uniquePrefix, waitFor } from '../support/env';
import { startApnsWorkerProcess, useProcessFleet, writePushApps } from '../support/fleet';

// Real processes: the compiled APNs worker, killed and stopped under load; a new one finishes the work.
const key = generateApnsKey({ keyId: 'CRASH12345', teamId: '39JSDKGJ38' });
const fleet = useProcessFleet(key);

async function loadUsers(prefix: string, n: number) {
  const registry = new TokenRegistry(fleet.redis, { prefix });
  const users = Array.from({ length: n }, (_, i) => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
  await Promise.all(users.map((u) => registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
  return users;
}

const delivered = (token: string) => fleet.sandbox.recorder.deliveries({ token, system: 'apns' }).filter((d) => d.status === 200).length;

test.each([
  ['SIGKILL', 'SIGKILL' as const],
  ['SIGTERM', 'SIGTERM' as const],
])('%s of a worker mid-batch: a new worker delivers every (event, token); duplicates bounded by what was in flight', async (_name, signal) => {
  const prefix = uniquePrefix(`crash-${signal.toLowerCase()}`);
  const pushAppsFile = writePushApps(key);
  const users = await loadUsers(prefix, 300);
  const tokens = new Set(users.map((u) => u.token));
  // Each case is a new deployment (prefix) of the same team: Apple would see its second provider token
  // within 20 minutes as TooManyProviderTokenUpdates, so the sandbox forgets the first case's token.
  fleet.sandbox.reset();
  // Slow answers keep many sends in flight when the signal lands: 3 jobs of EVENTS_PER_JOB events at a time.
  const slow = fleet.sandbox.behaviours.set({ system: 'apns', latencyMs: 250 });
  const concurrency = 3;
  const inFlightEvents = concurrency * EVENTS_PER_JOB;
  const first = await startApnsWorkerProcess({ redisUrl: testRedisUrl(), prefix, sandbox: fleet.sandbox, pushAppsFile, env: { APNS_CONCURRENCY: String(concurrency), SHUTDOWN_TIMEOUT_MS: '3000' } });
  fleet.procs.push(first);
  const producer = createProducer({ connection: fleet.redis, prefix });
  await producer.publishMany(users.map((u) => ({ ...specEvents(u.owner)[0] })));
  // Signal while sends are at the provider and not yet answered (the slow rule counts arrivals), so the
  // crash really cuts through a batch: those answers are processed by the provider but never reach us.
  const arrived = () => fleet.sandbox.behaviours.list().find((b) => b.rule.id === slow)?.hits ?? 0;
  const answered = () => users.filter((u) => delivered(u.token) > 0).length;
  await waitFor(() => answered() >= inFlightEvents && arrived() - answered() >= EVENTS_PER_JOB, { timeoutMs: 20_000, what: 'a first wave delivered and the next one at the provider' });
  const exitedAt = Date.now();
  first.child.kill(signal);
  const code = await first.exited;
  if (signal === 'SIGTERM') {
    expect(code).toBe(0); // graceful: finished or handed back in-flight jobs within SHUTDOWN_TIMEOUT_MS
    expect(Date.now() - exitedAt).toBeLessThan(5000);
  }
  const deliveredBefore = users.filter((u) => delivered(u.token) > 0).length;
  expect(deliveredBefore).toBeLessThan(users.length); // the signal really landed mid-batch
  fleet.sandbox.behaviours.remove(slow);

  const second = await startApnsWorkerProcess({ redisUrl: testRedisUrl(), prefix, sandbox: fleet.sandbox, pushAppsFile, env: { APNS_CONCURRENCY: String(concurrency) } });
  fleet.procs.push(second);
  await waitFor(() => users.every((u) => delivered(u.token) > 0), { timeoutMs: 30_000, what: 'every token delivered after the restart' });
  // Sends that reached the provider before the crash count as delivered; the crashed jobs still come back
  // (stalled recovery) and send again: count the duplicates only once the queue is empty.
  const queue = new Queue(QUEUE_NAMES.apns, { connection: fleet.redis, prefix });
  try {
    await waitFor(async () => {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    }, { timeoutMs: 30_000, what: 'the queue drained, crashed jobs included' });
  } finally {
    await queue.close();
  }
  const total = [...tokens].reduce((n, t) => n + delivered(t), 0);
  const duplicates = total - users.length;
  reportFigure(`${signal} duplicates (of ${users.length} events, concurrency ${concurrency} jobs of ${EVENTS_PER_JOB} events)`, duplicates);
  expect(duplicates).toBeLessThanOrEqual(inFlightEvents);
  if (signal === 'SIGTERM') expect(duplicates).toBe(0);
  await producer.close();
  await second.stop();
  // Nothing secret or identifying in the worker logs.
  const logs = [...first.logs, ...second.logs].join('\n');
  for (const t of tokens) expect(logs).not.toContain(t);
  expect(logs).not.toContain(key.privateKeyPem.split('\n')[1]);
}, 90_000);
