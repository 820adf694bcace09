// More baselines of `npm run bench` (dispatched by scripts/bench/baseline.ts, each in its own process):
//
//   h2raw      a raw node:http2 sender of prebuilt APNs requests (the ceiling on this machine)
//   fcm-admin  firebase-admin messaging().send() of the same FCM v1 messages (run with --require
//              scripts/dist/bench/fcm-preload.js, which points Google's hosts at the sandbox in that
//              process only)
//   http       a bare node:http server answering POST /internal/events like the API (202 {"ids":[...]}),
//              to compare the API's requests/s and CPU with; it prints {"port":N}, then its result
//              when GET /stop arrives
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import { buildApnsPayload, buildGcmData, DEFAULT_POLICIES, PushEvent } from '@pushfleet/events';
import { signApnsProviderToken } from '@pushfleet/sandbox';
import { benchEvents, benchUsers } from './data';
import { cpuSeconds, pool } from './util';
import type { MeasuredRun } from './baseline';

type Measure = (items: number, ok: number, failures: Map<string, number>, seconds: number, cpu: number) => MeasuredRun;
type Timed = (fn: () => Promise<void>) => Promise<{ seconds: number; cpu: number }>;

export interface H2RawParams {
  seed: string; users: number; events: number; warmup: number;
  port: number; caFile: string; keyFile: string; keyId: string; teamId: string; topic: string; inflight: number;
}
export interface FcmAdminParams {
  seed: string; users: number; events: number; warmup: number;
  serviceAccountFile: string; projectId: string; inflight: number;
}

const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** Every request built before the clock starts: headers and body of each event, one JWT. */
export async function h2RawBaseline(p: H2RawParams, measured: Measure, timed: Timed) {
  const users = benchUsers(p.seed, p.users);
  const byOwner = new Map(users.map((u) => [u.userId, u]));
  const jwt = signApnsProviderToken({ keyId: p.keyId, teamId: p.teamId, privateKeyPem: fs.readFileSync(p.keyFile, 'utf8') });
  const build = (events: PushEvent[]) => events.map((e) => ({
    headers: {
      ':method': 'POST', ':path': `/3/device/${byOwner.get(e.owner)!.apnsToken}`, authorization: `bearer ${jwt}`,
      'apns-topic': p.topic, 'apns-push-type': 'background', 'apns-priority': '5',
      'apns-expiration': String(Math.floor(Date.now() / 1000) + DEFAULT_POLICIES[e.message].ttlSeconds),
    },
    body: Buffer.from(JSON.stringify(buildApnsPayload(e))),
  }));
  const warm = build(benchEvents(p.seed, p.warmup, users, 1_000_000));
  const reqs = build(benchEvents(p.seed, p.events, users));
  const session = await new Promise<http2.ClientHttp2Session>((resolve, reject) => {
    const s = http2.connect(`https://localhost:${p.port}`, { ca: fs.readFileSync(p.caFile, 'utf8') });
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
  });
  let ok = 0;
  const failures = new Map<string, number>();
  const send = (r: (typeof reqs)[number]) => new Promise<void>((resolve) => {
    const st = session.request(r.headers);
    st.on('response', (h) => { if (h[':status'] === 200) ok++; else count(failures, String(h[':status'])); });
    st.on('error', (e) => { count(failures, e.message); resolve(); });
    st.on('close', () => resolve());
    st.resume();
    st.end(r.body);
  });
  await pool(warm.length, p.inflight, (i) => send(warm[i]));
  ok = 0;
  failures.clear();
  const t = await timed(() => pool(reqs.length, p.inflight, (i) => send(reqs[i])));
  session.close();
  return { mode: 'h2raw' as const, inflight: p.inflight, run: measured(reqs.length, ok, failures, t.seconds, t.cpu), cpuUsage: process.cpuUsage() };
}

/** firebase-admin's messaging().send(), one message per event, `inflight` sends outstanding. */
export async function fcmAdminBaseline(p: FcmAdminParams, measured: Measure, timed: Timed) {
  // Loaded here, not at the top: only this mode needs it (and its preload).
  const { initializeApp, cert } = await import('firebase-admin/app');
  const { getMessaging } = await import('firebase-admin/messaging');
  const sa = JSON.parse(fs.readFileSync(p.serviceAccountFile, 'utf8')) as Record<string, string>;
  const app = initializeApp({ credential: cert({ projectId: sa.project_id, clientEmail: sa.client_email, privateKey: sa.private_key }), projectId: p.projectId });
  const messaging = getMessaging(app);
  const users = benchUsers(p.seed, p.users);
  const byOwner = new Map(users.map((u) => [u.userId, u]));
  const messageOf = (e: PushEvent) => ({
    token: byOwner.get(e.owner)!.gcmId,
    data: buildGcmData(e) as unknown as Record<string, string>,
    // The enum as pushfleet sends it: the sandbox refuses firebase-admin's lower-case 'high'/'normal'.
    android: { priority: DEFAULT_POLICIES[e.message].gcmPriority.toUpperCase() as 'high', ttl: DEFAULT_POLICIES[e.message].ttlSeconds * 1000 },
  });
  let ok = 0;
  const failures = new Map<string, number>();
  const send = async (e: PushEvent) => {
    try {
      await messaging.send(messageOf(e));
      ok++;
    } catch (err) {
      count(failures, `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim().slice(0, 200));
    }
  };
  const warm = benchEvents(p.seed, p.warmup, users, 1_000_000);
  const events = benchEvents(p.seed, p.events, users);
  await pool(warm.length, p.inflight, (i) => send(warm[i]));
  ok = 0;
  failures.clear();
  const t = await timed(() => pool(events.length, p.inflight, (i) => send(events[i])));
  const { deleteApp } = await import('firebase-admin/app');
  await deleteApp(app);
  return { mode: 'fcm-admin' as const, inflight: p.inflight, run: measured(events.length, ok, failures, t.seconds, t.cpu), cpuUsage: process.cpuUsage() };
}

/** A bare HTTP server doing what the API's edge must at least do: read, size-limit, parse, answer 202. */
export async function httpBaseline(): Promise<{ mode: 'http'; requests: number; cpuSeconds: number; cpuUsage: NodeJS.CpuUsage }> {
  let requests = 0;
  let c0 = cpuSeconds();
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/start') { requests = 0; c0 = cpuSeconds(); res.end('{}'); return; }
      if (req.method === 'GET' && req.url === '/stop') {
        const cpu = cpuSeconds() - c0;
        res.end('{}', () => { server.close(); server.closeAllConnections(); resolve({ mode: 'http', requests, cpuSeconds: cpu, cpuUsage: process.cpuUsage() }); });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => { size += c.length; if (size <= 1 << 20) chunks.push(c); });
      req.on('end', () => {
        let ok = size <= 1 << 20;
        try { if (ok) JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { ok = false; }
        requests++;
        const body = ok ? JSON.stringify({ ids: [randomUUID()] }) : '{"status":"invalid-request"}';
        res.writeHead(ok ? 202 : 400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      });
    });
    server.keepAliveTimeout = 30_000;
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
    });
  });
}
