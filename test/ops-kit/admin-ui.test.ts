import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Browser, chromium } from 'playwright-core';
import { generateApnsKey } from '@pushfleet/sandbox';
import { PushJobData, QUEUE_NAMES } from '@pushfleet/events';
import { testRedisUrl, uniquePrefix, waitFor } from '../support/env';
import { FleetProcess, startApiProcess, writePushApps } from '../support/fleet';
import { TEST_JWT_SECRET } from '../support/jwt';
import { which } from '../support/tools';

/**
 * The admin UI (bull-board at /admin/queues) in a real browser: Debian's chromium, headless, driven by
 * playwright-core (CI installs chromium: .ci/run). Log in with an admin token, see both queues, open a
 * dead-lettered job and check what an operator sees: never the message text, never a full device token.
 * PUSHFLEET_UPDATE_SCREENSHOTS=1 refreshes the screenshots in docs/ (admin-ui.png, admin-ui-job.png).
 */

const ROOT = path.resolve(__dirname, '../..');
const CHROMIUM = which('chromium');
if (!CHROMIUM && process.env.CI) throw new Error('chromium not installed in CI (.ci/run installs Debian\'s chromium)');
if (!CHROMIUM) console.warn('chromium not found: SKIPPING the admin UI browser checks (Debian/Ubuntu: apt-get install chromium; CI installs it)');
const withChromium = CHROMIUM ? describe : describe.skip;

const ADMIN_TOKEN = 'admin-ui-token-0123456789abcdef';
const INTERNAL = 'admin-ui-internal-0123456789';
const SECRET_TEXT = 'the vault code is 4711';
const DEVICE_TOKEN = 'a6461732069737d42065496e' + '7'.repeat(35) + 'f39ad';
// Flags the machine notes prescribe: no sandbox as root, no GPU, and no background calls to Google.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

withChromium('admin UI in headless chromium', () => {
  let api: FleetProcess;
  let browser: Browser;
  let redis: Redis;
  let apns: Queue<PushJobData>;
  let jobId: string;
  const prefix = uniquePrefix('admin-ui');

  beforeAll(async () => {
    const pushAppsFile = writePushApps(generateApnsKey({ keyId: 'ADMINUI123', teamId: '39JSDKGJ38' }));
    api = await startApiProcess({ redisUrl: testRedisUrl(), prefix, pushAppsFile, jwtSecret: TEST_JWT_SECRET, internalToken: INTERNAL, env: { ADMIN_TOKENS: ADMIN_TOKEN } });
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    apns = new Queue(QUEUE_NAMES.apns, { connection: redis, prefix });
    // One chat_message through the real API, then dead-lettered the way a worker does: still owing a token.
    const res = await fetch(`http://127.0.0.1:${api.port}/internal/events`, {
      method: 'POST', headers: { authorization: `Bearer ${INTERNAL}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: `ui-${randomUUID()}`, message: 'chat_message', owner: randomUUID(), chat: randomUUID(), uuid: randomUUID(), time: 1362407297, user: randomUUID(), user_name: 'John Doe', type: 'text', text: SECRET_TEXT }),
    });
    expect(res.status).toBe(202);
    const worker = new Worker<PushJobData>(QUEUE_NAMES.apns, async (job: Job<PushJobData>) => {
      jobId = job.id!;
      await job.updateData({ events: job.data.events.map((q) => ({ ...q, tokens: [DEVICE_TOKEN], attempt: 8, failed: 'attempts_exhausted' as const })) });
      throw new UnrecoverableError('attempts_exhausted: 1 token(s) still owed after 8 attempt(s); last: BadDeviceToken');
    }, { connection: redis, prefix });
    await waitFor(async () => (await apns.getFailedCount()) === 1, { what: 'job dead-lettered' });
    await worker.close();
    // playwright gives the browser a fresh empty profile of its own (and removes it on close).
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await apns?.obliterate({ force: true }).catch(() => undefined);
    await apns?.close();
    await redis?.quit();
    await api?.stop();
  });

  const base = () => `http://127.0.0.1:${api.port}/admin/queues`;

  test('without the admin token: 401, no dashboard', async () => {
    const context = await browser.newContext();
    const res = await context.request.get(base());
    expect({ status: res.status(), body: await res.json() }).toEqual({ status: 401, body: { status: 'unauthorized' } });
    // The browser itself refuses to show the page without credentials (it would prompt a person).
    await expect((await context.newPage()).goto(base())).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    await context.close();
  });

  /** Screenshots go to docs/ when PUSHFLEET_UPDATE_SCREENSHOTS=1 (to refresh the docs), else to a temp dir. */
  const shot = (name: string) => (process.env.PUSHFLEET_UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', name) : path.join(os.tmpdir(), `pushfleet-${name}`));
  const login = () => browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN_TOKEN }, viewport: { width: 1280, height: 720 } });
  const jobUrl = () => `${base()}/queue/${encodeURIComponent(QUEUE_NAMES.apns)}/${jobId}`;

  test('logged in: the dashboard lists both queues and opens the dead-lettered job', async () => {
    const context = await login();
    const page = await context.newPage();
    const res = await page.goto(`${base()}/queue/${encodeURIComponent(QUEUE_NAMES.apns)}?status=failed`);
    expect(res?.status()).toBe(200);
    // Listed under their queue names ({apns}, {gcm}: hash-tagged for Redis Cluster).
    await page.getByText(QUEUE_NAMES.apns, { exact: true }).first().waitFor({ timeout: 15_000 });
    await page.getByText(QUEUE_NAMES.gcm, { exact: true }).first().waitFor({ timeout: 15_000 });
    await page.getByText(jobId).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: shot('admin-ui.png') });

    await page.goto(jobUrl());
    await page.getByText(jobId).first().waitFor({ timeout: 15_000 });
    await page.getByText('chat_message').first().waitFor({ timeout: 15_000 });
    await page.getByText('attempts_exhausted').first().waitFor({ timeout: 15_000 });
    await context.close();
  });

  // Failed on main at 02b3880 (the redaction knew only the old one-event job shape, so shared jobs showed
  // their message text and full tokens); passes since the allow-list redaction of issue 15 (e955544).
  test('the job page shows redacted data: no message text, no full device token (issue 15)', async () => {
    const context = await login();
    const page = await context.newPage();
    await page.goto(jobUrl());
    await page.getByText('Data', { exact: true }).first().click();
    await page.getByText('jobData').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: shot('admin-ui-job.png'), fullPage: true });
    // What the browser shows and what the dashboard's API sent it: no message text, no full token.
    const shown = await page.locator('body').innerText();
    const apiJson = await (await context.request.get(`${base()}/api/queues/${encodeURIComponent(QUEUE_NAMES.apns)}/${jobId}`)).text();
    for (const body of [shown, apiJson]) {
      expect(body).not.toContain(SECRET_TEXT);
      expect(body).not.toContain(DEVICE_TOKEN);
    }
    expect(shown).toContain('jobData');
    await context.close();
  });
});
