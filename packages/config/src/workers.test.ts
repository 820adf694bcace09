import { EVENTS_PER_JOB } from '@pushfleet/events';
import { loadApnsWorkerEnv, loadGcmWorkerEnv } from './workers';

// A worker holds up to *_CONCURRENCY jobs of up to EVENTS_PER_JOB events, but only CONNECTIONS x
// MAX_INFLIGHT of their deliveries are on the wire; the rest wait in the pool's queue with their requests,
// promises and closures, long enough to be promoted to V8's old generation. With the former defaults
// (500 / 300 jobs) that was 10,000 / 6,000 deliveries for 500 / 100 streams, and worker RSS reached
// 611 / 485 MB under the bench's load (docs/benchmarks.md, "Session 4 findings: worker memory").
test('by default a worker holds a bounded multiple of the deliveries it can have on the wire', () => {
  const apns = loadApnsWorkerEnv({ PUSH_APPS_FILE: 'apps.json' });
  expect(apns.APNS_CONCURRENCY * EVENTS_PER_JOB).toBeLessThanOrEqual(4 * apns.APNS_CONNECTIONS * apns.APNS_MAX_INFLIGHT);
  const gcm = loadGcmWorkerEnv({ FCM_SERVICE_ACCOUNT_FILE: 'sa.json' });
  expect(gcm.GCM_CONCURRENCY * EVENTS_PER_JOB).toBeLessThanOrEqual(12 * gcm.GCM_CONNECTIONS * gcm.GCM_MAX_INFLIGHT);
  // Jobs of one event each (events with their own id) still get enough of them to fill part of the pool.
  expect(apns.APNS_CONCURRENCY).toBeGreaterThanOrEqual(apns.APNS_MAX_INFLIGHT / 5);
  expect(gcm.GCM_CONCURRENCY).toBeGreaterThanOrEqual(gcm.GCM_MAX_INFLIGHT / 2);
});
