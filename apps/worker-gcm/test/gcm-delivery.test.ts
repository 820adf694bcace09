import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import {
  createDeliveryMetrics, DeliveryJobData, DeliveryMetrics, DeliveryWorker, FcmAuth, FcmV1Transport, GcmLegacyTransport, PushTransport,
} from '@pushfleet/delivery';
import { serviceAccountSchema } from '../../../packages/delivery/src/fcm-v1/auth';
import { resetDeprecatedApiWarning } from '../../../packages/delivery/src/gcm-legacy/transport';
import { DEFAULT_POLICIES, EventType, QUEUE_NAMES, resolvePolicies } from '@pushfleet/events';
import { createProducer, Producer } from '@pushfleet/producer';
import { encodeUser, GcmDevice, TokenRegistry } from '@pushfleet/registry';
import { generateServiceAccount, RecordedRequest, Sandbox, startSandbox } from '@pushfleet/sandbox';
import { counterValue, sharedJobIds, specEvents } from '../../../test/support/delivery';
import { testRedisUrl, uniquePrefix, waitFor } from '../../../test/support/env';

/**
 * The GCM worker path end to end, all real: producer -> BullMQ on the run's Redis -> DeliveryWorker ->
 * GcmLegacyTransport (node-gcm over HTTP/1.1) or FcmV1Transport (HTTP/2 + OAuth) -> the sandbox's Google
 * servers -> outcomes -> registry. Every scenario runs for both transports unless it is specific to one.
 */

type Kind = 'legacy' | 'fcm-v1';
const API_KEY = 'AIzaSy-pushfleet-test';
const PROJECT = 'pushfleet-gcm-test';

interface Rig {
  kind: Kind;
  /** The recorder's system for this transport ('gcm' = legacy /fcm/send, 'fcm' = v1). */
  recSystem: 'gcm' | 'fcm';
  prefix: string;
  registry: TokenRegistry;
  producer: Producer;
  queue: Queue<DeliveryJobData>;
  metrics: Registry;
  worker: DeliveryWorker<'gcm'>;
  transport: PushTransport<GcmDevice>;
  close(): Promise<void>;
}

let sandbox: Sandbox;
let redis: Redis;
const rigs = {} as Record<Kind, Rig>;
const logLines: string[] = [];
const logger = pino({ level: 'info' }, { write: (s: string) => { logLines.push(s); } });

function startRig(kind: Kind): Rig {
  const prefix = uniquePrefix(`gcm-${kind}`);
  const registry = new TokenRegistry(redis, { prefix, maxTokensPerUser: 5000 });
  const producer = createProducer({ connection: redis, prefix });
  const queue = new Queue<DeliveryJobData>(QUEUE_NAMES.gcm, { connection: redis, prefix });
  const metrics = new Registry();
  const deliveryMetrics: DeliveryMetrics = createDeliveryMetrics(metrics);
  let transport: PushTransport<GcmDevice>;
  if (kind === 'legacy') {
    transport = new GcmLegacyTransport({ apiKey: API_KEY, url: sandbox.google.legacyUrl, requestTimeoutMs: 5000, maxSockets: 20, metrics: deliveryMetrics, logger });
  } else {
    const account = generateServiceAccount({ projectId: PROJECT, tokenUri: sandbox.google.tokenUri });
    sandbox.credentials.addFcmServiceAccount({ clientEmail: account.clientEmail, publicKeyPem: account.publicKeyPem, projectId: PROJECT });
    const serviceAccount = serviceAccountSchema.parse(account.json);
    transport = new FcmV1Transport({
      auth: new FcmAuth({ serviceAccount, ca: sandbox.caPem, metrics: deliveryMetrics }),
      projectId: serviceAccount.project_id as string, baseUrl: sandbox.google.fcmBaseUrl, ca: sandbox.caPem,
      connections: 1, maxInflightPerConnection: 100, requestTimeoutMs: 5000, metrics: deliveryMetrics, logger,
    });
  }
  const worker = new DeliveryWorker({
    system: 'gcm', connection: redis, prefix, tokens: registry, transport,
    policies: resolvePolicies({}), retry: { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 400 }, concurrency: 20,
    // Configuration failures are provoked on purpose below: keep the circuit from holding later scenarios.
    circuit: { threshold: 1000, cooldownMs: 100 }, metrics: deliveryMetrics, logger,
  });
  return {
    kind, recSystem: kind === 'legacy' ? 'gcm' : 'fcm', prefix, registry, producer, queue, metrics, worker, transport,
    async close() {
      await worker.close(2000);
      await transport.close();
      await producer.close();
      await queue.close();
    },
  };
}

beforeAll(async () => {
  sandbox = await startSandbox({ gcmApiKeys: [API_KEY] });
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null, enableAutoPipelining: true });
  rigs.legacy = startRig('legacy');
  rigs['fcm-v1'] = startRig('fcm-v1');
});
afterEach(() => sandbox.reset());
afterAll(async () => {
  await Promise.all(Object.values(rigs).map((r) => r.close()));
  await sandbox.close();
  redis.disconnect();
});

// --- helpers -------------------------------------------------------------------------------------------

const regIds = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}-${randomUUID().slice(0, 8)}-${i}`);

async function register(rig: Rig, owner: string, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => rig.registry.addGcm(owner, id)));
}

/**
 * Many ids for one owner, written straight into the documented key schema (docs/redis-keys.md) in one
 * round trip: `addGcm` re-reads the user's hash for its cap check, so 2500 adds would take seconds.
 */
async function seed(rig: Rig, owner: string, ids: string[]): Promise<void> {
  const now = Date.now().toString(36);
  const m = redis.multi().hset(rig.registry.keys.user(owner), encodeUser(owner), ids.map((id) => `=g,1,${now},,${id}`).join('\n'));
  for (const id of ids) {
    const idx = rig.registry.keys.index('gcm', id);
    m.hset(idx.key, idx.field, `1\t${encodeUser(owner)}`);
  }
  await m.exec();
}

async function settled(rig: Rig, id: string, timeoutMs = 10_000): Promise<'completed' | 'failed'> {
  return waitFor(async () => {
    const s = await rig.queue.getJobState(id);
    return s === 'completed' || s === 'failed' ? s : undefined;
  }, { timeoutMs, what: `job ${id} to settle` });
}

const sent = (rig: Rig, token: string): RecordedRequest[] => sandbox.recorder.deliveries({ system: rig.recSystem, token });
/** Answers that delivered this token (200 without a per-result error). */
const delivered = (rig: Rig, token: string) => sent(rig, token).filter((d) => d.status === 200 && d.reason === undefined).length;

/** What the provider saw for one token: data, priority and TTL in either wire format. */
function seen(rig: Rig, d: RecordedRequest): { data: Record<string, unknown>; priority: string; ttl: number } {
  const body = JSON.parse(d.body);
  if (rig.kind === 'legacy') {
    expect(Object.keys(body).sort()).toEqual(['data', 'priority', 'registration_ids', 'time_to_live']);
    return { data: body.data, priority: body.priority, ttl: body.time_to_live };
  }
  expect(Object.keys(body)).toEqual(['message']);
  expect(Object.keys(body.message)).toEqual(['token', 'data', 'android']);
  expect(body.message.token).toBe(d.token);
  expect(body.message.android.ttl).toMatch(/^\d+s$/);
  return { data: body.message.data, priority: body.message.android.priority.toLowerCase(), ttl: parseInt(body.message.android.ttl, 10) };
}

// The spec's "GCM content" of each sample event, written out by hand: every value a string.
function expectedData(owner: string): Record<EventType, Record<string, string>> {
  return {
    fax_new: { owner, message: 'fax_new', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: '2' },
    recording_new: { owner, message: 'recording_new', recording: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412' },
    dialplan_callreverse_start: { owner, message: 'dialplan_callreverse_start', phone_from: '+4989123248278', phone_to: '+492216698000' },
    dialplan_callreverse_stop: { owner, message: 'dialplan_callreverse_stop', phone_from: '+4989123248278', phone_to: '+492216698000' },
    chat_message: {
      owner, message: 'chat_message', chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0', time: '1362407297',
      user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text', text: "what's for lunch today?",
    },
  };
}

// --- both transports -----------------------------------------------------------------------------------

describe.each<Kind>(['legacy', 'fcm-v1'])('%s transport', (kind) => {
  const rig = () => rigs[kind];

  test('the five spec events arrive with their exact data (all strings), priority and remaining TTL', async () => {
    const r = rig();
    const owner = randomUUID();
    const [token] = regIds('five', 1);
    await register(r, owner, [token]);
    const before = Date.now();
    const { ids } = await r.producer.publishMany(specEvents(owner).map((e) => ({ ...e })));
    for (const id of sharedJobIds(ids)) expect(await settled(r, id)).toBe('completed');
    const got = sent(r, token);
    expect(got).toHaveLength(5);
    const want = expectedData(owner);
    for (const d of got) {
      const { data, priority, ttl } = seen(r, d);
      const type = data.message as EventType;
      expect(data).toEqual(want[type]);
      expect(Object.keys(data)).toEqual(Object.keys(want[type])); // the spec's key order
      expect(priority).toBe(DEFAULT_POLICIES[type].gcmPriority);
      const full = DEFAULT_POLICIES[type].ttlSeconds;
      expect(ttl).toBeLessThanOrEqual(full);
      expect(ttl).toBeGreaterThanOrEqual(full - Math.ceil((Date.now() - before) / 1000) - 1);
    }
    expect(new Set(got.map((d) => seen(r, d).data.message)).size).toBe(5);
  });

  test('2500 registration ids of one owner: every id gets the event exactly once', async () => {
    const r = rig();
    const owner = randomUUID();
    const ids = regIds('bulk', 2500);
    await seed(r, owner, ids);
    expect(await r.registry.gcmEntries(owner)).toHaveLength(2500);
    const { id } = await r.producer.publish({ ...specEvents(owner)[1] });
    expect(await settled(r, id, 20_000)).toBe('completed');
    expect(ids.every((t) => sandbox.recorder.countFor(t, r.recSystem) === 1)).toBe(true);
    const requests = new Set(sandbox.recorder.deliveries({ system: r.recSystem }).filter((d) => d.token.startsWith('bulk-')).map((d) => d.body));
    if (kind === 'legacy') {
      // node-gcm does not chunk; the transport does: 1000 + 1000 + 500.
      expect([...requests].map((b) => JSON.parse(b).registration_ids.length).sort((a, b) => b - a)).toEqual([1000, 1000, 500]);
    } else {
      expect(requests.size).toBe(2500); // one messages:send per token
    }
  });

  test('a dead registration id is pruned from the registry, the others stay', async () => {
    const r = rig();
    const owner = randomUUID();
    const [alive, dead, alive2] = regIds('prune', 3);
    await register(r, owner, [alive, dead, alive2]);
    sandbox.behaviours.set(kind === 'legacy' ? { system: 'gcm', token: dead, reason: 'NotRegistered' } : { system: 'fcm', token: dead, reason: 'UNREGISTERED' });
    const { id } = await r.producer.publish({ ...specEvents(owner)[0] });
    expect(await settled(r, id)).toBe('completed');
    expect((await r.registry.gcmEntries(owner)).map((e) => e.registrationId).sort()).toEqual([alive, alive2].sort());
    expect(await r.registry.ownerOf('gcm', dead)).toBeNull();
    const reason = kind === 'legacy' ? 'NotRegistered' : 'UNREGISTERED';
    expect(await counterValue(r.metrics, 'pushfleet_prunes_total', { system: 'gcm', reason })).toBe(1);
    expect(sandbox.recorder.countFor(dead, r.recSystem)).toBe(1);
  });

  test('partial transient failures: only the failing ids are resent, each id delivered exactly once', async () => {
    const r = rig();
    const owner = randomUUID();
    const ids = regIds('partial', 5);
    await register(r, owner, ids);
    const [once, twice] = [ids[1], ids[3]];
    if (kind === 'legacy') {
      sandbox.behaviours.set({ system: 'gcm', token: once, reason: 'Unavailable', times: 1 });
      sandbox.behaviours.set({ system: 'gcm', token: twice, reason: 'InternalServerError', times: 2 });
    } else {
      sandbox.behaviours.set({ system: 'fcm', token: once, reason: 'UNAVAILABLE', times: 1 });
      sandbox.behaviours.set({ system: 'fcm', token: twice, reason: 'INTERNAL', times: 2 });
    }
    const { id } = await r.producer.publish({ ...specEvents(owner)[4] });
    expect(await settled(r, id)).toBe('completed');
    expect(ids.map((t) => sandbox.recorder.countFor(t, r.recSystem))).toEqual([1, 2, 1, 3, 1]);
    expect(ids.map((t) => delivered(r, t))).toEqual([1, 1, 1, 1, 1]);
    if (kind === 'legacy') {
      // The retries carried only the owed ids.
      const retried = sent(r, twice).slice(1).map((d) => JSON.parse(d.body).registration_ids);
      expect(retried[0].sort()).toEqual([once, twice].sort());
      expect(retried[1]).toEqual([twice]);
    }
  });

  test('a 503 with Retry-After: the retry waits at least that long, then every id is delivered once', async () => {
    const r = rig();
    const owner = randomUUID();
    const ids = regIds('ra', 2);
    await register(r, owner, ids);
    if (kind === 'legacy') sandbox.behaviours.set({ system: 'gcm', endpoint: 'legacy', status: 503, retryAfter: 1, times: 1 });
    else sandbox.behaviours.set({ system: 'fcm', token: ids[0], status: 503, reason: 'UNAVAILABLE', retryAfter: 1, times: 1 });
    const { id } = await r.producer.publish({ ...specEvents(owner)[2] });
    expect(await settled(r, id)).toBe('completed');
    const attempts = sent(r, ids[0]);
    expect(attempts.map((d) => d.status)).toEqual([503, 200]);
    // Backoff alone would be 25-50 ms here (baseDelayMs 50).
    expect(attempts[1].time - attempts[0].time).toBeGreaterThanOrEqual(1000);
    expect(ids.map((t) => delivered(r, t))).toEqual([1, 1]);
  });

  test('a configuration failure dead-letters the job with its tokens and prunes nothing', async () => {
    const r = rig();
    const owner = randomUUID();
    const ids = regIds('conf', 2);
    await register(r, owner, ids);
    resetDeprecatedApiWarning();
    logLines.length = 0;
    for (const t of ids) {
      sandbox.behaviours.set(kind === 'legacy' ? { system: 'gcm', token: t, reason: 'DeprecatedApi' } : { system: 'fcm', token: t, reason: 'THIRD_PARTY_AUTH_ERROR' });
    }
    const { id } = await r.producer.publish({ ...specEvents(owner)[3] });
    expect(await settled(r, id)).toBe('failed');
    const job = await r.queue.getJob(id);
    expect(job?.failedReason).toMatch(/^configuration: 2 token\(s\) of 1 event\(s\) still owed/);
    expect([...(job?.data.events[0].tokens ?? [])].sort()).toEqual([...ids].sort());
    expect((await r.registry.gcmEntries(owner)).map((e) => e.registrationId).sort()).toEqual([...ids].sort());
    expect(ids.map((t) => sandbox.recorder.countFor(t, r.recSystem))).toEqual([1, 1]); // no retry of a config failure
    expect(await counterValue(r.metrics, 'pushfleet_dead_lettered_total', { system: 'gcm', cause: 'configuration' })).toBe(1);
    if (kind === 'legacy') expect(logLines.filter((l) => l.includes('switch to GCM_TRANSPORT=fcm-v1'))).toHaveLength(1);
  });
  test('a sender-id mismatch storm (every answer: the ids belong to another project) prunes nothing', async () => {
    const r = rig();
    const owners = Array.from({ length: 4 }, () => randomUUID());
    // FCM v1: the sandbox's own rule (tokens issued for another project); legacy: a scripted answer.
    const newIds = (n: number) => (kind === 'fcm-v1' ? Array.from({ length: n }, () => sandbox.devices.issueFcmToken('another-project')) : regIds('sender', n));
    const idsOf = new Map(owners.map((o) => [o, newIds(50)]));
    await Promise.all(owners.map((o) => register(r, o, idsOf.get(o)!)));
    const prunesBefore = await counterValue(r.metrics, 'pushfleet_prunes_total');
    if (kind === 'legacy') sandbox.behaviours.set({ system: 'gcm', reason: 'MismatchSenderId' });
    const { ids } = await r.producer.publishMany(owners.map((o) => ({ ...specEvents(o)[0] })));
    for (const id of sharedJobIds(ids)) expect(await settled(r, id)).toBe('failed');
    for (const o of owners) expect(await r.registry.gcmEntries(o)).toHaveLength(50);
    expect(await counterValue(r.metrics, 'pushfleet_prunes_total')).toBe(prunesBefore);
    const job = await r.queue.getJob(sharedJobIds(ids)[0]);
    expect(job?.failedReason).toMatch(/^configuration: 200 token\(s\) of 4 event\(s\)/);
    if (kind === 'fcm-v1') expect(sandbox.refusals.count('sender-id', 'SENDER_ID_MISMATCH')).toBe(200);
  });

  test('a storm on half of all requests: every id delivered exactly once, none pruned', async () => {
    const r = rig();
    const users = Array.from({ length: 40 }, () => ({ owner: randomUUID(), id: regIds('storm', 1)[0] }));
    await Promise.all(users.map((u) => register(r, u.owner, [u.id])));
    const prunesBefore = await counterValue(r.metrics, 'pushfleet_prunes_total');
    // For a while (the first 30 failures), every second request fails.
    if (kind === 'legacy') sandbox.behaviours.set({ system: 'gcm', ratio: 0.5, status: 503, times: 30 });
    else sandbox.behaviours.set({ system: 'fcm', ratio: 0.5, status: 503, reason: 'UNAVAILABLE', times: 30 });
    const { ids } = await r.producer.publishMany(users.map((u) => ({ ...specEvents(u.owner)[1] })));
    for (const id of sharedJobIds(ids)) expect(await settled(r, id, 20_000)).toBe('completed');
    expect(users.map((u) => delivered(r, u.id))).toEqual(users.map(() => 1));
    expect(users.reduce((n, u) => n + sent(r, u.id).filter((d) => d.status === 503).length, 0)).toBeGreaterThan(5);
    for (const u of users) expect(await r.registry.gcmEntries(u.owner)).toHaveLength(1);
    expect(await counterValue(r.metrics, 'pushfleet_prunes_total')).toBe(prunesBefore);
  });
});

// --- one transport only --------------------------------------------------------------------------------

test('legacy: a canonical registration_id replaces the stored id (and the device got the event)', async () => {
  const r = rigs.legacy;
  const owner = randomUUID();
  const [old, other] = regIds('canon', 2);
  const canonical = `${old}-canonical`;
  await register(r, owner, [old, other]);
  sandbox.behaviours.set({ system: 'gcm', token: old, canonicalId: canonical });
  const { id } = await r.producer.publish({ ...specEvents(owner)[0] });
  expect(await settled(r, id)).toBe('completed');
  expect((await r.registry.gcmEntries(owner)).map((e) => e.registrationId).sort()).toEqual([canonical, other].sort());
  expect(await r.registry.ownerOf('gcm', canonical)).toBe(owner);
  expect(await r.registry.ownerOf('gcm', old)).toBeNull();
  expect(sandbox.recorder.countFor(old, 'gcm')).toBe(1); // not resent
  expect(await counterValue(r.metrics, 'pushfleet_replacements_total', { system: 'gcm', result: 'replaced' })).toBe(1);
});

test('fcm-v1: one OAuth grant serves many sends, and a 401 refreshes it once', async () => {
  const r = rigs['fcm-v1'];
  const owner = randomUUID();
  const ids = regIds('oauth', 20);
  await register(r, owner, ids);
  const events = specEvents(owner).map((e) => ({ ...e }));
  const { id: first } = await r.producer.publish(events[0]);
  expect(await settled(r, first)).toBe('completed');
  const grantsBefore = sandbox.recorder.oauthGrants; // 0 or 1: the rig's token may already be cached
  // Google forgets every access token: the next sends get 401 UNAUTHENTICATED, one new grant follows.
  sandbox.credentials.revokeAccessTokens();
  const { ids: rest } = await r.producer.publishMany(events.slice(1));
  const jobs = [first, ...sharedJobIds(rest)];
  for (const id of jobs.slice(1)) expect(await settled(r, id)).toBe('completed');
  expect(sandbox.recorder.oauthGrants).toBe(grantsBefore + 1);
  expect(grantsBefore).toBeLessThanOrEqual(1);
  expect(ids.map((t) => delivered(r, t))).toEqual(ids.map(() => 5));
  expect(sandbox.recorder.deliveries({ system: 'fcm' }).filter((d) => d.reason === 'UNAUTHENTICATED').length).toBeGreaterThan(0);
  // The 401 refresh happens inside the send: no job needed a retry.
  for (const id of jobs) expect((await r.queue.getJob(id))!.data.events.map((q) => q.attempt)).toEqual((await r.queue.getJob(id))!.data.events.map(() => undefined));
});
