import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { resolvePolicies } from '@pushfleet/events';
import { ApnsTransport } from '@pushfleet/delivery';
import { PartitionWorkers } from '../../packages/delivery/src/partition-workers';
import { APP_ID, ApnsRig, counterValue, OWNER, specEvents, startApnsRig } from '../support/delivery';
import { waitFor } from '../support/env';

// The stuck-worker detector (bullmq #4138: after a failover a worker's blocking connection can stay wedged
// while the process looks healthy). A worker that takes no job while jobs wait is recreated; an idle
// worker on an empty queue is left alone. The wedge is simulated by pausing the BullMQ worker locally:
// from Redis's side it is the same, a consumer that never takes the waiting jobs.
let rig: ApnsRig;
let transport: ApnsTransport;
let workers: PartitionWorkers<'apns'> | undefined;
beforeAll(async () => {
  rig = await startApnsRig('stuck-worker');
  transport = new ApnsTransport({
    apps: rig.apps, productionUrl: rig.sandbox.apns.productionUrl, sandboxUrl: rig.sandbox.apns.developmentUrl, ca: rig.sandbox.caPem,
    connectionsPerEndpoint: 1, maxInflightPerConnection: 100, requestTimeoutMs: 2000, metrics: rig.deliveryMetrics,
  });
});
afterAll(async () => {
  await workers?.close(2000);
  await transport.close();
  await rig.close();
});

test('a worker that takes nothing while jobs wait is recreated, and the jobs are delivered; an idle one is left alone', async () => {
  const token = randomBytes(32).toString('hex');
  await rig.registry.addApns(OWNER, { deviceToken: token, applicationId: APP_ID, sandbox: false });
  workers = new PartitionWorkers<'apns'>({
    partitionCount: 1, partitions: [0], probe: { stuckAfterMs: 400, intervalMs: 100 }, closeTimeoutMs: 1000,
    system: 'apns', connection: rig.redis, prefix: rig.prefix, tokens: rig.registry, transport, policies: resolvePolicies({}),
    retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200 }, concurrency: 10, metrics: rig.deliveryMetrics, logger: pino({ level: 'silent' }),
  });
  const recreated = () => counterValue(rig.metrics, 'pushfleet_worker_recreated_total', { system: 'apns' });
  const first = workers.workers[0];
  await first.worker.waitUntilReady();
  // Idle on an empty queue for several probe rounds: not stuck.
  const idleSince = Date.now();
  await waitFor(() => Date.now() - idleSince > 1000, { intervalMs: 100, what: 'a second of idle probing' });
  expect(await recreated()).toBe(0);
  expect(workers.workers[0]).toBe(first);

  await first.worker.pause(true); // wedged from now on: it takes no new job
  // A fetch already blocking when it paused still takes one job: let a job without devices absorb it.
  const { id: dummy } = await rig.producer.publish(specEvents('00000000-0000-4000-8000-000000000001')[0]);
  await waitFor(async () => (await rig.queue.getJob(dummy))?.finishedOn !== undefined, { timeoutMs: 10_000, what: 'the first job finished' });
  await rig.producer.publish(specEvents()[0]);
  await waitFor(() => rig.sandbox.recorder.countFor(token, 'apns') === 1, { timeoutMs: 10_000, what: 'the waiting job delivered by the new worker' });
  expect(await recreated()).toBe(1);
  expect(workers.workers[0]).not.toBe(first);
  expect(workers.isRunning()).toBe(true);
}, 30_000);
