import { randomUUID } from 'node:crypto';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { EVENT_TYPES, parsePushEventInput, PushJobData, QUEUE_NAMES } from '@pushfleet/events';
import { tokenRef } from '@pushfleet/observability';
import { createProducer, Producer } from '@pushfleet/producer';
import { TokenRegistry } from '@pushfleet/registry';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COMMANDS, EXIT, runCli } from '../scripts/lib/cli-commands';
import { loadCliEnv, safeRedisTarget } from '../scripts/lib/cli-env';
import { writeFleetEnv } from '../scripts/lib/demo-config';
import { testRedisUrl, uniquePrefix, waitFor } from './support/env';
import { freePort } from './support/redis-server';

const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const APNS_TOKEN = 'a6461732069737d42065496e' + '0'.repeat(35) + 'f39ad';
const APNS_TOKEN_2 = 'b6281e62e55932df9ec72829' + '1'.repeat(35) + '5e2d3';
const REG_ID = 'dGhpcyBpcyBhIHJlZ2lzdHJhdGlvbiBpZA:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx';
const SECRET_TEXT = 'meet me at the usual place';

let redis: Redis;
let prefix: string;
let env: Record<string, string>;
let apns: Queue<PushJobData>;
let gcm: Queue<PushJobData>;
let producer: Producer;
let registry: TokenRegistry;

interface Run { code: number; out: string; err: string }

async function cli(args: string[], extraEnv: Record<string, string | undefined> = {}, fleetEnvFile?: string): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    fleetEnvFile,
    env: { ...env, ...extraEnv },
    stdout: { write: (s: string) => { out += s; } },
    stderr: { write: (s: string) => { err += s; } },
  });
  return { code, out, err };
}

/** Publishes `events` through the real producer and lets a worker dead-letter each APNs job like ours does. */
async function deadLetter(events: Parameters<Producer['publish']>[0][], owedTokens = [APNS_TOKEN, APNS_TOKEN_2]): Promise<string[]> {
  const before = await apns.getFailedCount();
  const ids: string[] = [];
  for (const e of events) ids.push((await producer.publish(e)).id);
  const worker = new Worker<PushJobData>(QUEUE_NAMES.apns, async (job: Job<PushJobData>) => {
    await job.updateData({ events: job.data.events.map((q) => ({ ...q, tokens: owedTokens, attempt: 8, failed: 'attempts_exhausted' as const })) });
    throw new UnrecoverableError(`attempts_exhausted: ${owedTokens.length} token(s) still owed after 8 attempt(s); last: BadDeviceToken for ${APNS_TOKEN}`);
  }, { connection: redis, prefix });
  try {
    await waitFor(async () => (await apns.getFailedCount()) === before + events.length, { what: 'jobs dead-lettered' });
  } finally {
    await worker.close();
  }
  return ids;
}

const chat = (extra: Record<string, unknown> = {}) => ({
  message: 'chat_message' as const, owner: OWNER, chat: randomUUID(), uuid: randomUUID(), time: 1362407297,
  user: randomUUID(), user_name: 'John Doe', type: 'text', text: SECRET_TEXT, ...extra,
});

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  prefix = uniquePrefix('cli');
  env = { REDIS_URL: testRedisUrl(), PUSHFLEET_PREFIX: prefix };
  apns = new Queue(QUEUE_NAMES.apns, { connection: redis, prefix });
  gcm = new Queue(QUEUE_NAMES.gcm, { connection: redis, prefix });
  producer = createProducer({ connection: redis, prefix });
  registry = new TokenRegistry(redis, { prefix });
});

afterAll(async () => {
  await producer.close();
  await apns.close();
  await gcm.close();
  await redis.quit();
});

async function emptyQueues(): Promise<void> {
  for (const q of [apns, gcm]) {
    await q.obliterate({ force: true });
  }
}

describe('help and usage', () => {
  test('no arguments: the command list on stdout, exit 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.out).toContain('Commands:');
    for (const c of COMMANDS) expect(r.out).toContain(c.path.join(' '));
    expect(r.out).toMatch(/Exit codes:[\s\S]*3 {2}not found/);
  });

  test('--help and help: exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await cli(args);
      expect(r.code).toBe(EXIT.OK);
      expect(r.out).toContain('Commands:');
    }
  });

  test.each(COMMANDS.map((c) => [c.path.join(' ')]))('%s --help: its synopsis and the exit codes, exit 0, no Redis needed', async (name) => {
    const r = await cli([...name.split(' '), '--help'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toContain(`Usage: npm run cli -- ${name}`);
    expect(r.out).toContain('Exit codes:');
    expect((await cli(['help', ...name.split(' ')])).out).toBe(r.out);
  });

  test('a command group alone: its subcommands (exit 2), with --help (exit 0)', async () => {
    const r = await cli(['dead-letter']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.err).toContain('dead-letter list');
    expect(r.err).toContain('dead-letter replay');
    const h = await cli(['tokens', '--help']);
    expect(h.code).toBe(EXIT.OK);
    expect(h.out).toContain('tokens remove');
  });

  test.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['dead-letter', 'frob'], /unknown dead-letter subcommand "frob"/],
    [['--queue', 'apns'], /give a command first/],
    [['stats', '--bogus'], /Unknown option '--bogus'/],
    [['stats', 'extra'], /positional/i],
    [['dead-letter', 'list'], /--queue is required/],
    [['dead-letter', 'list', '--queue', 'mpns'], /--queue must be apns or gcm/],
    [['dead-letter', 'list', '--queue', 'apns', '--limit', '0'], /--limit must be a whole number/],
    [['dead-letter', 'list', '--queue', 'apns', '--limit', '2x'], /--limit must be a whole number/],
    [['dead-letter', 'replay', '--queue', 'apns'], /exactly one of --id or --all/],
    [['dead-letter', 'replay', '--queue', 'apns', '--id', 'x', '--all'], /exactly one of --id or --all/],
    [['dead-letter', 'purge', '--queue', 'gcm', '--all'], /add --yes to confirm/],
    [['send-sample', '--event', 'fax_new'], /--user is required/],
    [['send-sample', '--user', 'alice', '--event', 'fax_new'], /--user must be a UUID/],
    [['send-sample', '--user', OWNER, '--event', 'fax'], /--event must be one of fax_new/],
    [['send-sample', '--user', OWNER, '--event', 'fax_new', '--text', 'hi'], /--text only applies to --event chat_message/],
    [['send-sample', '--user', OWNER, '--event', 'fax_new', '--id', '12'], /id: must not be an integer/],
    [['tokens', 'list'], /--user is required/],
    [['tokens', 'remove', '--user', 'alice', '--token', 'x'], /--system is required/],
    [['tokens', 'remove', '--user', 'alice', '--system', 'apns'], /exactly one of --token or --ref/],
  ])('%j -> exit 2, %s', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.err).toMatch(message);
  });

  test('bad configuration: every problem at once, exit 2', async () => {
    const r = await cli(['stats'], { REDIS_URL: 'http://localhost', PUSHFLEET_PREFIX: 'no spaces please', EVENT_POLICIES: '{"fax_neu":{}}' });
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.err).toContain('REDIS_URL');
    expect(r.err).toContain('PUSHFLEET_PREFIX');
    expect(r.err).toContain('EVENT_POLICIES');
  });

  test('Redis unreachable: a clear message, exit 1, quickly', async () => {
    const port = await freePort();
    const started = Date.now();
    const r = await cli(['stats'], { REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` });
    expect(r.code).toBe(EXIT.FAILURE);
    expect(r.err).toContain(`cannot reach Redis at redis://:***@127.0.0.1:${port}`);
    expect(r.err).toMatch(/ECONNREFUSED/);
    expect(r.err).not.toContain('hunter2');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('which Redis', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-cli-env-')); });
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  test('without REDIS_URL: the running fleet\'s .pushfleet/env (as npm start writes it), and says so', async () => {
    const file = writeFleetEnv(dir, { REDIS_URL: testRedisUrl(), PUSHFLEET_PREFIX: prefix });
    await producer.publish(chat());
    const r = await cli(['stats', '--json'], { REDIS_URL: undefined, PUSHFLEET_PREFIX: undefined }, file);
    expect(r.code).toBe(EXIT.OK);
    const { port } = new URL(testRedisUrl());
    expect(r.err).toContain(`Redis redis://127.0.0.1:${port} (${file}), prefix ${prefix}`);
    expect((JSON.parse(r.out) as { queue: string; waiting: number }[]).find((x) => x.queue === 'apns')?.waiting).toBeGreaterThanOrEqual(1);
    await emptyQueues();
  });

  test('REDIS_URL wins over the file; the password is never printed', async () => {
    const file = writeFleetEnv(dir, { REDIS_URL: 'redis://127.0.0.1:1', PUSHFLEET_PREFIX: 'elsewhere' });
    const url = new URL(testRedisUrl());
    url.password = 'hunter2';
    const r = await cli(['stats'], { REDIS_URL: url.toString() }, file);
    expect(r.err).toContain(`Redis redis://:***@127.0.0.1:${url.port} (REDIS_URL), prefix ${prefix}`);
    expect(r.err + r.out).not.toContain('hunter2');
  });

  test('no REDIS_URL and no file: the default, named as such (not connected: 6379 is not ours)', () => {
    const e = loadCliEnv({}, path.join(dir, 'absent'));
    expect({ target: safeRedisTarget(e.redis), source: e.source, prefix: e.prefix })
      .toEqual({ target: 'redis://127.0.0.1:6379', source: 'default', prefix: 'pushfleet' });
  });
});

describe('stats', () => {
  beforeAll(emptyQueues);

  test('empty queues', async () => {
    const r = await cli(['stats']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toMatch(/^queue\s+waiting\s+active\s+delayed\s+prioritized\s+paused\s+failed\s+completed\s+oldest-waiting$/m);
    expect(r.out).toMatch(/^apns\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+0s$/m);
    expect(r.out).toMatch(/^gcm\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+0s$/m);
  });

  test('counts and oldest waiting age, as a table and as JSON', async () => {
    await apns.add('fax_new', {} as PushJobData, { timestamp: Date.now() - 125_000 });
    await apns.add('fax_new', {} as PushJobData);
    await gcm.add('fax_new', {} as PushJobData, { delay: 60_000 });
    const r = await cli(['stats']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toMatch(/^apns\s+2\s+0\s+0\s+0\s+0\s+0\s+0\s+2m0[5-9]s$/m);
    expect(r.out).toMatch(/^gcm\s+0\s+0\s+1\s+0\s+0\s+0\s+0\s+0s$/m);
    const j = await cli(['stats', '--json']);
    const rows = JSON.parse(j.out) as Record<string, unknown>[];
    expect(rows.find((x) => x.queue === 'apns')).toMatchObject({ waiting: 2, delayed: 0, failed: 0, paused: false });
    expect(rows.find((x) => x.queue === 'apns')?.oldestWaitingAgeSeconds).toBeGreaterThanOrEqual(125);
    expect(rows.find((x) => x.queue === 'gcm')).toMatchObject({ waiting: 0, delayed: 1 });
    await emptyQueues();
  });
});

describe('dead-letter', () => {
  beforeEach(emptyQueues);

  test('list: ids, event types, owed token counts, masked reasons; never a full token or message text', async () => {
    const ids = await deadLetter([chat(), { message: 'fax_new', owner: OWNER, fax: randomUUID(), phone: '+4930', page_count: 2 }]);
    const r = await cli(['dead-letter', 'list', '--queue', 'apns']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toContain('2 job(s) in the apns dead-letter set, newest first, one line per event:');
    expect(r.out).toMatch(/^job\s+event-id\s+event\s+owner\s+failed-at\s+attempts\s+tokens-owed\s+expired\s+reason$/m);
    for (const id of ids) expect(r.out).toContain(id);
    expect(r.out).toMatch(new RegExp(`^${ids[0]}\\s+${ids[0]}\\s+chat_message\\s+${OWNER}\\s+\\S+Z\\s+8\\s+2\\s+no\\s+attempts_exhausted: 2 token\\(s\\)`, 'm'));
    expect(r.out).toContain('fax_new');
    expect(r.out).toContain(tokenRef(APNS_TOKEN));
    expect(r.out).not.toContain(APNS_TOKEN);
    expect(r.out).not.toContain(SECRET_TEXT);

    const limited = await cli(['dead-letter', 'list', '--queue', 'apns', '--limit', '1']);
    expect(limited.out).toContain('(showing 1; --limit for more)');
    expect(limited.out).toContain(ids[1]); // newest first
    expect(limited.out).not.toContain(ids[0]);

    const j = JSON.parse((await cli(['dead-letter', 'list', '--queue', 'apns', '--json'])).out);
    expect(j.total).toBe(2);
    expect(j.events.map((x: { id: string }) => x.id).sort()).toEqual([...ids].sort());
    expect(j.events[0]).toMatchObject({ tokensOwed: '2', attempts: 8, expired: false });
    expect(JSON.stringify(j)).not.toContain(APNS_TOKEN);

    const empty = await cli(['dead-letter', 'list', '--queue', 'gcm']);
    expect(empty.code).toBe(EXIT.OK);
    expect(empty.out).toContain('the gcm dead-letter set is empty');
  });

  test('list: a job carrying several events shows one line per event under the one job id', async () => {
    const before = await apns.getFailedCount();
    const { ids } = await producer.publishMany([chat(), chat(), chat()]);
    const worker = new Worker<PushJobData>(QUEUE_NAMES.apns, async (job: Job<PushJobData>) => {
      await job.updateData({ events: job.data.events.slice(1).map((q) => ({ ...q, tokens: [APNS_TOKEN], attempt: 8, failed: 'attempts_exhausted' as const })) });
      throw new UnrecoverableError('attempts_exhausted: 2 token(s) of 2 event(s) still owed after 8 attempt(s)');
    }, { connection: redis, prefix });
    try {
      await waitFor(async () => (await apns.getFailedCount()) === before + 1, { what: 'the shared job dead-lettered' });
    } finally {
      await worker.close();
    }
    const j = JSON.parse((await cli(['dead-letter', 'list', '--queue', 'apns', '--json'])).out);
    expect(j.events.map((x: { job: string; id: string; tokensOwed: string }) => [x.job, x.id, x.tokensOwed])).toEqual([[ids[0], ids[1], '1'], [ids[0], ids[2], '1']]);
  });

  test('list marks events past their TTL, with the workers\' EVENT_POLICIES', async () => {
    await deadLetter([chat()]);
    const shortTtl = { EVENT_POLICIES: '{"chat_message":{"ttlSeconds":1}}' };
    expect((await cli(['dead-letter', 'list', '--queue', 'apns'])).out).toMatch(/\s2\s+no\s/); // default TTL: one day
    await waitFor(async () => /\s2\s+yes\s/.test((await cli(['dead-letter', 'list', '--queue', 'apns'], shortTtl)).out), { what: 'event past its 1 s TTL', timeoutMs: 5000 });
  });

  test('replay --id: back to waiting with a fresh attempt counter, still owing only its tokens', async () => {
    const [id, other] = await deadLetter([chat(), chat()]);
    const r = await cli(['dead-letter', 'replay', '--queue', 'apns', '--id', id]);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toContain('replayed 1 job(s) from the apns dead-letter set');
    const job = (await apns.getJob(id))!;
    expect(await job.getState()).toBe('waiting');
    // A fresh budget: no attempt count, not given up on; still owing only its tokens.
    expect(job.data.events.map((q) => [q.attempt, q.failed, q.notBefore])).toEqual([[undefined, undefined, undefined]]);
    expect(job.data.events.map((q) => q.tokens)).toEqual([[APNS_TOKEN, APNS_TOKEN_2]]);
    expect(job.data.events[0].event).toMatchObject({ message: 'chat_message', text: SECRET_TEXT });
    expect(job.attemptsMade).toBe(0);
    expect(job.failedReason).toBeFalsy();
    expect(await (await apns.getJob(other))!.getState()).toBe('failed');
    // The gcm copy of the event was never failed.
    expect(await (await gcm.getJob(id))!.getState()).toBe('waiting');
  });

  test('replay --id of an unknown job, or of a job not in the dead-letter set: exit 3', async () => {
    await deadLetter([chat()]);
    const unknown = await cli(['dead-letter', 'replay', '--queue', 'apns', '--id', 'no-such-job']);
    expect(unknown.code).toBe(EXIT.NOT_FOUND);
    expect(unknown.err).toContain('no job no-such-job');
    const waitingId = (await producer.publish(chat())).id;
    const waiting = await cli(['dead-letter', 'replay', '--queue', 'gcm', '--id', waitingId]);
    expect(waiting.code).toBe(EXIT.NOT_FOUND);
    expect(waiting.err).toContain('is not in the dead-letter set (it is waiting)');
  });

  test('replay --all: every job, oldest first; then nothing to do (exit 3)', async () => {
    const ids = await deadLetter([chat(), chat(), chat()]);
    const r = await cli(['dead-letter', 'replay', '--queue', 'apns', '--all']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toContain('replayed 3 job(s)');
    expect(await apns.getFailedCount()).toBe(0);
    for (const id of ids) {
      const job = (await apns.getJob(id))!;
      expect(await job.getState()).toBe('waiting');
      expect(job.data.events.map((q) => [q.attempt, q.failed])).toEqual([[undefined, undefined]]);
    }
    const again = await cli(['dead-letter', 'replay', '--queue', 'apns', '--all']);
    expect(again.code).toBe(EXIT.NOT_FOUND);
    expect(again.err).toContain('nothing to replay');
  });

  test('replay says how many events are past their TTL', async () => {
    await deadLetter([chat()]);
    await waitFor(async () => (await cli(['dead-letter', 'list', '--queue', 'apns', '--json'], { EVENT_POLICIES: '{"chat_message":{"ttlSeconds":1}}' })).out.includes('"expired":true'), { timeoutMs: 5000 });
    const r = await cli(['dead-letter', 'replay', '--queue', 'apns', '--all'], { EVENT_POLICIES: '{"chat_message":{"ttlSeconds":1}}' });
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toContain('(1 past their TTL: the worker will drop them as expired)');
  });

  test('purge --id, purge --all --yes, then nothing to purge (exit 3)', async () => {
    const [a, b, c] = await deadLetter([chat(), chat(), chat()]);
    const one = await cli(['dead-letter', 'purge', '--queue', 'apns', '--id', a]);
    expect(one.code).toBe(EXIT.OK);
    expect(one.out).toContain(`purged job ${a}`);
    expect(await apns.getJob(a)).toBeUndefined();
    expect((await cli(['dead-letter', 'purge', '--queue', 'apns', '--id', a])).code).toBe(EXIT.NOT_FOUND);
    const all = await cli(['dead-letter', 'purge', '--queue', 'apns', '--all', '--yes']);
    expect(all.code).toBe(EXIT.OK);
    expect(all.out).toContain('purged 2 job(s)');
    expect(await apns.getJob(b)).toBeUndefined();
    expect(await apns.getJob(c)).toBeUndefined();
    // The same events in the gcm queue are untouched.
    expect(await gcm.getWaitingCount()).toBe(3);
    const none = await cli(['dead-letter', 'purge', '--queue', 'apns', '--all', '--yes']);
    expect(none.code).toBe(EXIT.NOT_FOUND);
    expect(none.err).toContain('nothing to purge');
  });
});

describe('send-sample', () => {
  beforeEach(emptyQueues);

  test.each(EVENT_TYPES.map((t) => [t]))('%s: a valid event on both queues', async (type) => {
    const r = await cli(['send-sample', '--user', OWNER, '--event', type]);
    expect(r.code).toBe(EXIT.OK);
    const id = /published \S+ (\S+) for owner/.exec(r.out)?.[1];
    expect(id).toBeDefined();
    for (const q of [apns, gcm]) {
      const job = (await q.getJob(id!))!;
      expect(job.name).toBe(type);
      expect(job.data.events).toHaveLength(1);
      expect(job.data.events[0].event.message).toBe(type);
      expect(job.data.events[0].event.owner).toBe(OWNER);
      expect(parsePushEventInput(job.data.events[0].event).ok).toBe(true);
    }
  });

  test('chat_message with --text and --id; reports the owner\'s devices; never echoes the text', async () => {
    await registry.addApns(OWNER, { deviceToken: APNS_TOKEN, applicationId: '39JSDKGJ38.de.cospace.app', sandbox: false });
    try {
      const r = await cli(['send-sample', '--user', OWNER, '--event', 'chat_message', '--text', SECRET_TEXT, '--id', 'ops-sample-1']);
      expect(r.code).toBe(EXIT.OK);
      expect(r.out).toContain('published chat_message ops-sample-1');
      expect(r.out).toContain('the owner has 1 APNs and 0 GCM token(s)');
      expect(r.out).not.toContain(SECRET_TEXT);
      const job = (await apns.getJob('ops-sample-1'))!;
      expect(job.data.events[0].event).toMatchObject({ message: 'chat_message', text: SECRET_TEXT, type: 'text' });
    } finally {
      await registry.remove(OWNER, 'apns', APNS_TOKEN);
    }
    const none = await cli(['send-sample', '--user', OWNER, '--event', 'fax_new']);
    expect(none.out).toContain('the owner has 0 APNs and 0 GCM token(s): the workers will find no device');
  });
});

describe('tokens', () => {
  const user = `user-${randomUUID()}`;

  beforeAll(async () => {
    await registry.addApns(user, { deviceToken: APNS_TOKEN.toUpperCase(), applicationId: '39JSDKGJ38.de.cospace.app', sandbox: true, apnsTopic: 'de.cospace.app.voip' }, Date.parse('2026-01-02T03:04:05Z'));
    await registry.addApns(user, { deviceToken: APNS_TOKEN_2, applicationId: '39JSDKGJ38.de.cospace.app', sandbox: false });
    await registry.addGcm(user, REG_ID);
  });

  test('list: short references, app, sandbox, topic, registration time; never full tokens', async () => {
    const r = await cli(['tokens', 'list', '--user', user]);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toMatch(/^system\s+token\s+app\s+sandbox\s+topic\s+registered-at$/m);
    expect(r.out).toMatch(new RegExp(`^apns\\s+${tokenRef(APNS_TOKEN).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+39JSDKGJ38\\.de\\.cospace\\.app\\s+yes\\s+de\\.cospace\\.app\\.voip\\s+2026-01-02T03:04:05Z$`, 'm'));
    expect(r.out).toContain(tokenRef(REG_ID));
    for (const t of [APNS_TOKEN, APNS_TOKEN_2, REG_ID]) expect(r.out).not.toContain(t);
    const j = JSON.parse((await cli(['tokens', 'list', '--user', user, '--json'])).out);
    expect(j.tokens).toHaveLength(3);
    expect(JSON.stringify(j)).not.toContain(REG_ID);
  });

  test('list escapes control characters read from Redis (an id written before the API refused them)', async () => {
    const sneaky = `user-${randomUUID()}`;
    const hostile = '\x1b]0;pwned\x07\x1b[2J\x9b31mAPA91b-rest-of-the-id';
    await registry.addGcm(sneaky, hostile);
    for (const args of [['tokens', 'list', '--user', sneaky], ['tokens', 'list', '--user', sneaky, '--json']]) {
      const r = await cli(args);
      expect(r.code).toBe(EXIT.OK);
      expect(r.out).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      expect(r.out).toContain('\\u001b');
    }
    expect(JSON.parse((await cli(['tokens', 'list', '--user', sneaky, '--json'])).out).tokens).toHaveLength(1);
  });

  test('list for a user without tokens: exit 3', async () => {
    const r = await cli(['tokens', 'list', '--user', 'nobody']);
    expect(r.code).toBe(EXIT.NOT_FOUND);
    expect(r.err).toContain('no tokens registered for user nobody');
  });

  test('remove by full token (any case) and by reference; again: exit 3', async () => {
    const r = await cli(['tokens', 'remove', '--user', user, '--system', 'apns', '--token', APNS_TOKEN.toUpperCase()]);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toContain(`removed apns token ${tokenRef(APNS_TOKEN)} of user ${user}`);
    expect(r.out).not.toContain(APNS_TOKEN);
    expect((await registry.apnsEntries(user)).map((e) => e.deviceToken)).toEqual([APNS_TOKEN_2]);
    expect((await registry.ownerOf('apns', APNS_TOKEN))).toBeNull();
    expect((await cli(['tokens', 'remove', '--user', user, '--system', 'apns', '--token', APNS_TOKEN])).code).toBe(EXIT.NOT_FOUND);

    const byRef = await cli(['tokens', 'remove', '--user', user, '--system', 'gcm', '--ref', tokenRef(REG_ID)]);
    expect(byRef.code).toBe(EXIT.OK);
    expect(await registry.gcmEntries(user)).toEqual([]);
    const unknownRef = await cli(['tokens', 'remove', '--user', user, '--system', 'gcm', '--ref', tokenRef(REG_ID)]);
    expect(unknownRef.code).toBe(EXIT.NOT_FOUND);
    // Another user's token is not touched.
    expect((await cli(['tokens', 'remove', '--user', 'someone-else', '--system', 'apns', '--token', APNS_TOKEN_2])).code).toBe(EXIT.NOT_FOUND);
    expect((await registry.ownerOf('apns', APNS_TOKEN_2))).toBe(user);
  });
});
