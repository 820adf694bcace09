import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { ApnsApp } from '@pushfleet/config';
import { EVENTS_PER_JOB, resolvePolicies, PolicyOverrides, PushJobData, QUEUE_NAMES } from '@pushfleet/events';
import { TokenRegistry } from '@pushfleet/registry';
import { createProducer, Producer } from '@pushfleet/producer';
import { ApnsTransport, createDeliveryMetrics, DeliveryMetrics, DeliveryWorker, ProviderTokens, PushTransport, RedisTokenStore } from '@pushfleet/delivery';
import { startSandbox, generateApnsKey, Sandbox, SandboxOptions } from '@pushfleet/sandbox';
import { testRedisUrl, uniquePrefix } from './env';

export const APP_ID = '39JSDKGJ38.de.cospace.app';

/**
 * The job ids of one `publishMany` of events without ids: they share jobs, EVENTS_PER_JOB each, each
 * named by its first event.
 */
export function sharedJobIds(ids: readonly string[]): string[] {
  return ids.filter((_, i) => i % EVENTS_PER_JOB === 0);
}
export const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';

/** A sample of each of the five spec events for an owner. */
export function specEvents(owner = OWNER) {
  return [
    { message: 'fax_new', owner, fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: 2 },
    { message: 'recording_new', owner, recording: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412' },
    { message: 'dialplan_callreverse_start', owner, phone_from: '+4989123248278', phone_to: '+492216698000' },
    { message: 'dialplan_callreverse_stop', owner, phone_from: '+4989123248278', phone_to: '+492216698000' },
    { message: 'chat_message', owner, chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0', time: 1362407297, user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text', text: "what's for lunch today?" },
  ] as const;
}

/** Everything an APNs delivery test needs, all real: Redis, BullMQ, the sandbox over TLS + HTTP/2 + JWT. */
export interface ApnsRig {
  sandbox: Sandbox;
  redis: Redis;
  prefix: string;
  registry: TokenRegistry;
  producer: Producer;
  queue: Queue<PushJobData>;
  metrics: Registry;
  deliveryMetrics: DeliveryMetrics;
  apps: Map<string, ApnsApp>;
  key: ReturnType<typeof generateApnsKey>;
  startWorker(opts?: { policies?: PolicyOverrides; maxAttempts?: number; concurrency?: number; circuit?: { threshold: number; cooldownMs: number }; requestTimeoutMs?: number; providerTokens?: ProviderTokens; maxInflight?: number }): DeliveryWorker<'apns'>;
  close(): Promise<void>;
}

/** `sandbox`: options for the rig's sandbox (default: as hard as Apple, see apps/sandbox/README.md). */
export async function startApnsRig(name: string, sandboxOptions: Omit<SandboxOptions, 'apnsKeys'> = {}): Promise<ApnsRig> {
  const key = generateApnsKey({ keyId: 'ABC123DEFG', teamId: '39JSDKGJ38' });
  const sandbox = await startSandbox({ ...sandboxOptions, apnsKeys: [{ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }] });
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const prefix = uniquePrefix(name);
  const registry = new TokenRegistry(redis, { prefix });
  const producer = createProducer({ connection: redis, prefix });
  const queue = new Queue<PushJobData>(QUEUE_NAMES.apns, { connection: redis, prefix });
  const metrics = new Registry();
  const deliveryMetrics = createDeliveryMetrics(metrics);
  const apps = new Map<string, ApnsApp>([[APP_ID, { applicationId: APP_ID, bundleId: 'de.cospace.app', credentials: { kind: 'token', keyPem: key.privateKeyPem, keyId: key.keyId, teamId: key.teamId } }]]);
  const workers: DeliveryWorker<'apns'>[] = [];
  const transports: PushTransport[] = [];
  const logger = pino({ level: 'silent' });
  return {
    sandbox, redis, prefix, registry, producer, queue, metrics, deliveryMetrics, apps, key,
    startWorker(opts = {}) {
      const transport = new ApnsTransport({
        apps, productionUrl: sandbox.apns.productionUrl, sandboxUrl: sandbox.apns.developmentUrl, ca: sandbox.caPem,
        connectionsPerEndpoint: 1, maxInflightPerConnection: opts.maxInflight ?? 100, requestTimeoutMs: opts.requestTimeoutMs ?? 2000, metrics: deliveryMetrics,
        // Every worker of the rig shares the fleet's provider token through the rig's Redis, as worker processes do.
        providerTokens: opts.providerTokens ?? new ProviderTokens({ store: new RedisTokenStore(redis, prefix, false) }),
      });
      const w = new DeliveryWorker({
        system: 'apns', connection: redis, prefix, tokens: registry,
        transport, policies: resolvePolicies(opts.policies ?? {}),
        retry: { maxAttempts: opts.maxAttempts ?? 5, baseDelayMs: 50, maxDelayMs: 400 }, concurrency: opts.concurrency ?? 20,
        circuit: opts.circuit, metrics: deliveryMetrics, logger,
      });
      workers.push(w);
      transports.push(transport);
      return w;
    },
    async close() {
      for (const w of workers) await w.close(2000);
      for (const t of transports) await t.close();
      await producer.close();
      await queue.close();
      await sandbox.close();
      redis.disconnect();
    },
  };
}

/** The value of a counter with these labels from a prom-client registry (0 when never incremented). */
export async function counterValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}
