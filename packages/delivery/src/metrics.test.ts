import { Registry } from 'prom-client';
import { createDeliveryMetrics } from './metrics';

test('tallied counts read the same as counter increments: per label set, on every scrape and get()', async () => {
  const registry = new Registry();
  const m = createDeliveryMetrics(registry);
  m.deliveryTally.inc(['apns', 'a.b', 'chat_message', 'delivered', 'Success']);
  m.deliveryTally.inc(['apns', 'a.b', 'chat_message', 'delivered', 'Success']);
  // Values that would collide if joined with a separator stay apart.
  m.deliveryTally.inc(['apns', 'a:b', 'c', 'delivered', 'Success']);
  m.deliveryTally.inc(['apns', 'a', 'b:c', 'delivered', 'Success']);
  m.deliveries.inc({ system: 'apns', app: 'a.b', event: 'chat_message', outcome: 'delivered', reason: 'Success' });
  m.eventTally.inc(['apns', 'done']);
  m.attemptTally.inc(['apns']);
  expect((await m.deliveries.get()).values.map((v) => [v.labels.app, v.labels.event, v.value])).toEqual([['a.b', 'chat_message', 3], ['a:b', 'c', 1], ['a', 'b:c', 1]]);
  const text = await registry.metrics();
  expect(text).toContain('pushfleet_events_processed_total{system="apns",result="done"} 1');
  expect(text).toContain('pushfleet_send_attempts_total{system="apns"} 1');
  // Flushed once: a second read shows the same totals, and later counts add to them.
  m.eventTally.inc(['apns', 'done']);
  expect((await m.events.get()).values).toEqual([{ labels: { system: 'apns', result: 'done' }, value: 2 }]);
  expect(await registry.metrics()).toContain('pushfleet_events_processed_total{system="apns",result="done"} 2');
});
