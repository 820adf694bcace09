import { randomBytes, randomUUID } from 'node:crypto';
import { startApnsRig, APP_ID, specEvents, counterValue } from '../support/delivery';
import { reportFigure, waitFor } from '../support/env';

/**
 * A worker started on a backlog against Apple's rule "one stream until a request with a valid provider
 * token is answered, then 1000": no stream may open before the server's first SETTINGS, and the queued
 * requests must start the moment the limit rises. Measured against the same backlog on a server that
 * allows 1000 streams from the start. The ratio is a figure (the box is shared), not an assertion.
 */
const EVENTS = 5000;
const OWNERS = 100;

async function drain(sandboxOptions: { strict: boolean }): Promise<{ ms: number; attempts: number; retries: number; refused: number; resends: number }> {
  const rig = await startApnsRig(`backlog-${sandboxOptions.strict ? 'hard' : 'open'}`, sandboxOptions);
  try {
    const users = Array.from({ length: OWNERS }, () => ({ owner: randomUUID(), token: randomBytes(32).toString('hex') }));
    await Promise.all(users.map((u) => rig.registry.addApns(u.owner, { deviceToken: u.token, applicationId: APP_ID, sandbox: false })));
    const events = Array.from({ length: EVENTS }, (_, i) => ({ ...specEvents(users[i % OWNERS].owner)[0] }));
    for (let i = 0; i < EVENTS; i += 1000) await rig.producer.publishMany(events.slice(i, i + 1000));
    const started = Date.now();
    rig.startWorker({ concurrency: 50, maxInflight: 500, requestTimeoutMs: 10_000 });
    await waitFor(() => rig.sandbox.recorder.stats().byStatus['200'] === EVENTS, { timeoutMs: 120_000, intervalMs: 50, what: `${EVENTS} deliveries` });
    const ms = Date.now() - started;
    return {
      ms,
      attempts: await counterValue(rig.metrics, 'pushfleet_send_attempts_total', { system: 'apns' }),
      retries: await counterValue(rig.metrics, 'pushfleet_events_processed_total', { system: 'apns', result: 'retry' }),
      refused: rig.sandbox.refusals.count('streams-until-token') + rig.sandbox.refusals.count('max-concurrent-streams'),
      resends: await counterValue(rig.metrics, 'pushfleet_provider_resends_total', { system: 'apns' }),
    };
  } finally {
    await rig.close();
  }
}

test(`a worker started on ${EVENTS} queued events against one-stream-until-token delivers all with no retried attempt`, async () => {
  const hard = await drain({ strict: true });
  expect(hard).toMatchObject({ attempts: EVENTS, retries: 0, refused: 0, resends: 0 });
  const open = await drain({ strict: false });
  expect(open).toMatchObject({ attempts: EVENTS, retries: 0 });
  const ratio = hard.ms / open.ms;
  reportFigure('backlogDrainMsOneStreamUntilToken', hard.ms);
  reportFigure('backlogDrainMs1000Streams', open.ms);
  reportFigure('backlogDrainRatio', Number(ratio.toFixed(2)));
  // eslint-disable-next-line no-console
  console.log(`backlog of ${EVENTS}: ${hard.ms} ms against one-stream-until-token, ${open.ms} ms against 1000 streams from the start: ratio ${ratio.toFixed(2)}`);
}, 300_000);
