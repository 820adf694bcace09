import { Message, Sender } from 'node-gcm';
import { Registry } from 'prom-client';
import { createDeliveryMetrics, GcmLegacyTransport } from '@pushfleet/delivery';
import { buildGcmData, DEFAULT_POLICIES, PushEvent } from '@pushfleet/events';
import { Sandbox, startSandbox } from '@pushfleet/sandbox';
import { specEvents } from '../../../test/support/delivery';

/**
 * A quick throughput check, not a benchmark: N registration ids through GcmLegacyTransport (chunking,
 * axios hook, outcome mapping) against a plain node-gcm multicast of the same ids (1000 per request),
 * both with 10 requests in flight against the same sandbox in the same run. Prints both rates; asserts
 * only that every id was delivered (rates on a shared 2-vCPU machine are not stable enough to assert).
 */

const N = 20_000;
const IN_FLIGHT = 10;
const API_KEY = 'AIzaSy-throughput';
const EVENT = specEvents()[1] as PushEvent;

let sandbox: Sandbox;
beforeAll(async () => { sandbox = await startSandbox({ gcmApiKeys: [API_KEY], record: false }); });
afterAll(() => sandbox.close());

async function direct(ids: string[]): Promise<number> {
  const message = new Message({ priority: 'normal', timeToLive: 3600, data: buildGcmData(EVENT) });
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += 1000) chunks.push(ids.slice(i, i + 1000));
  let ok = 0;
  const lane = async () => {
    for (let c = chunks.shift(); c; c = chunks.shift()) {
      const chunk = c;
      const n = await new Promise<number>((resolve) => {
        new Sender(API_KEY, { uri: sandbox.google.legacyUrl, timeout: 10_000 } as ConstructorParameters<typeof Sender>[1])
          .send(message, { registrationTokens: chunk }, 0, (err: unknown, body: { success?: number }) => resolve(err ? 0 : body.success ?? 0));
      });
      ok += n;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return ok;
}

test(`${N} ids: GcmLegacyTransport vs direct node-gcm multicast`, async () => {
  const transport = new GcmLegacyTransport({
    apiKey: API_KEY, url: sandbox.google.legacyUrl, requestTimeoutMs: 10_000, maxSockets: IN_FLIGHT, metrics: createDeliveryMetrics(new Registry()),
  });
  const ctx = { policy: DEFAULT_POLICIES.recording_new, expiresAt: Date.now() + 3_600_000, eventId: 'bench' };
  const ids = (round: number) => Array.from({ length: N }, (_, i) => `bench-${round}-${i}`);
  const rate = { transport: [] as number[], direct: [] as number[] };
  try {
    // Warm up both paths (JIT, sockets), then alternate so machine noise hits both alike.
    await transport.send(EVENT, ids(-1).slice(0, 2000).map((token) => ({ token, app: 'gcm', registeredAt: 0 })), ctx);
    await direct(ids(-2).slice(0, 2000));
    for (let round = 0; round < 5; round++) {
      const entries = ids(round * 2).map((token) => ({ token, app: 'gcm', registeredAt: 0 }));
      let t0 = performance.now();
      const out = await transport.send(EVENT, entries, ctx);
      rate.transport.push(N / ((performance.now() - t0) / 1000));
      expect(out.filter((o) => o.action === 'delivered')).toHaveLength(N);

      t0 = performance.now();
      expect(await direct(ids(round * 2 + 1))).toBe(N);
      rate.direct.push(N / ((performance.now() - t0) / 1000));
    }
  } finally {
    await transport.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (xs: number[]) => `${Math.round(median(xs)).toLocaleString('en')} ids/s (runs: ${xs.map((x) => Math.round(x)).join(', ')})`;
  process.stdout.write(`\n[gcm legacy throughput, ${N} ids, ${IN_FLIGHT} requests in flight]\n  GcmLegacyTransport: ${fmt(rate.transport)}\n  direct node-gcm:    ${fmt(rate.direct)}\n`);
});
