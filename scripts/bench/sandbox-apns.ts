/**
 * APNs sandbox throughput benchmark: a raw node:http2 client blasts POST /3/device/<token> at the sandbox's
 * 200 path with a fixed number of streams in flight, and reports requests/s plus the sandbox's own CPU time
 * per request (the sandbox runs in a forked child process, i.e. on one core).
 *
 *   node scripts/dist/bench/sandbox-apns.js [--requests 50000] [--concurrency 1000] [--sessions 1]
 *                                        [--clients 1] [--tokens 10000] [--no-record] [--client http2|frames]
 *                                        [--server-cpu N]
 *
 * --client http2 (default) uses node:http2; --client frames uses a minimal frame-writing HTTP/2 client
 * (h2-frames.ts) that needs far less CPU, so the wall-clock figure shows the sandbox's ceiling.
 * --clients > 1 forks that many client processes (the client side is the bottleneck on small machines).
 * --server-cpu N pins the sandbox to CPU N (Linux taskset), so "one core" is literal.
 */
import { fork, spawn, ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import http2 from 'node:http2';
import { blastFrames } from './h2-frames';
import { generateApnsKey, signApnsProviderToken, startSandbox } from '@pushfleet/sandbox';

type ClientKind = 'http2' | 'frames';
interface Args { requests: number; concurrency: number; sessions: number; clients: number; tokens: number; record: boolean; client: ClientKind; serverCpu?: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { requests: 50_000, concurrency: 1000, sessions: 1, clients: 1, tokens: 10_000, record: true, client: 'http2' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} needs a positive number`);
      return v;
    };
    if (flag === '--requests') a.requests = next();
    else if (flag === '--concurrency') a.concurrency = next();
    else if (flag === '--sessions') a.sessions = next();
    else if (flag === '--clients') a.clients = next();
    else if (flag === '--tokens') a.tokens = next();
    else if (flag === '--no-record') a.record = false;
    else if (flag === '--server-cpu') a.serverCpu = Number(argv[++i]);
    else if (flag === '--client') {
      const v = argv[++i];
      if (v !== 'http2' && v !== 'frames') throw new Error('--client must be http2 or frames');
      a.client = v;
    }
    else throw new Error(`unknown argument ${flag}`);
  }
  return a;
}

type ServerMsg = { type: 'ready'; port: number; caPem: string } | { type: 'cpu'; userMs: number; systemMs: number; requests: number; succeeded: number };
type ClientMsg = { type: 'done'; ok: number; failed: number; ms: number };

// --- sandbox side (forked child) -------------------------------------------------------------------------

async function runServer(): Promise<void> {
  const key = JSON.parse(process.env.BENCH_KEY as string) as { keyId: string; teamId: string; publicKeyPem: string };
  const sandbox = await startSandbox({ apnsKeys: [key], record: process.env.BENCH_RECORD !== '0' });
  const send = (m: ServerMsg) => process.send?.(m);
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') {
      const u = process.cpuUsage();
      const s = sandbox.recorder.stats();
      send({ type: 'cpu', userMs: u.user / 1000, systemMs: u.system / 1000, requests: s.requests.apns, succeeded: s.succeeded.apns });
    } else if (m.type === 'stop') {
      void sandbox.close().then(() => process.exit(0));
    }
  });
  send({ type: 'ready', port: sandbox.apns.productionPort, caPem: sandbox.caPem });
}

// --- client side ------------------------------------------------------------------------------------------

const BODY = JSON.stringify({ aps: { alert: { title: 'Incoming call', body: 'Alice is calling' }, sound: 'default' }, callId: crypto.randomUUID() });
const TOPIC = 'com.example.app';
const tokenPath = (i: number) => `/3/device/${crypto.createHash('sha256').update(`bench-${i}`).digest('hex')}`;

interface BlastArgs { port: number; caPem: string; jwt: string; requests: number; concurrency: number; sessions: number; tokens: number; client: ClientKind }

function blast(a: BlastArgs): Promise<{ ok: number; failed: number; ms: number }> {
  if (a.client === 'http2') return blastHttp2(a.port, a.caPem, a.jwt, a.requests, a.concurrency, a.sessions, a.tokens);
  const perSession = Math.ceil(a.requests / a.sessions);
  const paths = Array.from({ length: a.tokens }, (_, i) => tokenPath(i));
  return Promise.all(Array.from({ length: a.sessions }, (_, i) => blastFrames({
    port: a.port, caPem: a.caPem, paths, authority: 'localhost', body: Buffer.from(BODY),
    requests: Math.min(perSession, a.requests - i * perSession), concurrency: Math.ceil(a.concurrency / a.sessions),
    constantHeaders: [['authorization', `bearer ${a.jwt}`], ['apns-topic', TOPIC], ['apns-push-type', 'alert'], ['apns-priority', '10']],
  }))).then((rs) => rs.reduce((acc, r) => ({ ok: acc.ok + r.ok, failed: acc.failed + r.failed, ms: Math.max(acc.ms, r.ms) }), { ok: 0, failed: 0, ms: 0 }));
}

async function blastHttp2(port: number, caPem: string, jwt: string, requests: number, concurrency: number, sessions: number, tokenCount: number): Promise<{ ok: number; failed: number; ms: number }> {
  const clients = await Promise.all(Array.from({ length: sessions }, () => new Promise<http2.ClientHttp2Session>((resolve, reject) => {
    const s = http2.connect(`https://localhost:${port}`, { ca: caPem, settings: { initialWindowSize: 1 << 20 } });
    s.once('connect', () => {
      s.setLocalWindowSize(4 << 20);
      resolve(s);
    });
    s.once('error', reject);
  })));
  const body = BODY;
  const headers = Array.from({ length: tokenCount }, (_, i) => ({
    ':method': 'POST',
    ':path': tokenPath(i),
    authorization: `bearer ${jwt}`,
    'apns-topic': TOPIC,
    'apns-push-type': 'alert',
    'apns-priority': '10',
  }));
  let started = 0;
  let ok = 0;
  let failed = 0;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const one = (): void => {
      if (started >= requests) {
        if (ok + failed === requests) resolve();
        return;
      }
      const n = started++;
      const req = clients[n % sessions].request(headers[n % tokenCount]);
      req.on('response', (h) => {
        if (h[':status'] === 200) ok++;
        else failed++;
      });
      req.on('error', () => failed++);
      req.on('close', one);
      req.resume();
      req.end(body);
    };
    for (let i = 0; i < Math.min(concurrency, requests); i++) one();
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  for (const c of clients) c.close();
  return { ok, failed, ms };
}

async function runClient(): Promise<void> {
  const r = await blast(JSON.parse(process.env.BENCH_CLIENT as string) as BlastArgs);
  process.send?.({ type: 'done', ...r } satisfies ClientMsg);
}

function ask<T>(child: ChildProcess, msg: object, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type === type) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
    if (Object.keys(msg).length) child.send(msg);
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const key = generateApnsKey();
  const env = { ...process.env, BENCH_ROLE: 'server', BENCH_KEY: JSON.stringify({ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }), BENCH_RECORD: args.record ? '1' : '0' };
  // --server-cpu N pins the sandbox process (all its threads, GC helpers included) to one CPU with taskset.
  const server = args.serverCpu === undefined
    ? fork(__filename, [], { env })
    : spawn('taskset', ['-c', String(args.serverCpu), process.execPath, __filename], { env, stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  const ready = await ask<Extract<ServerMsg, { type: 'ready' }>>(server, {}, 'ready');
  const jwt = signApnsProviderToken(key);

  const perClient = (requests: number): BlastArgs => ({ port: ready.port, caPem: ready.caPem, jwt, requests, concurrency: args.concurrency, sessions: args.sessions, tokens: args.tokens, client: args.client });
  const runClients = async (requests: number): Promise<{ ok: number; failed: number }> => {
    if (args.clients === 1) return blast(perClient(requests));
    const share = Math.ceil(requests / args.clients);
    const results = await Promise.all(Array.from({ length: args.clients }, () => {
      const c = fork(__filename, [], { env: { ...process.env, BENCH_ROLE: 'client', BENCH_CLIENT: JSON.stringify(perClient(share)) } });
      return ask<ClientMsg>(c, {}, 'done');
    }));
    return results.reduce((acc, r) => ({ ok: acc.ok + r.ok, failed: acc.failed + r.failed }), { ok: 0, failed: 0 });
  };

  await runClients(Math.min(5000, args.requests)); // warm-up: TLS, JIT, JWT cache
  const before = await ask<Extract<ServerMsg, { type: 'cpu' }>>(server, { type: 'cpu' }, 'cpu');
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const r = await runClients(args.requests);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu1 = process.cpuUsage(cpu0);
  const after = await ask<Extract<ServerMsg, { type: 'cpu' }>>(server, { type: 'cpu' }, 'cpu');
  server.send({ type: 'stop' });

  const serverCpuS = (after.userMs + after.systemMs - before.userMs - before.systemMs) / 1000;
  const total = r.ok + r.failed;
  const result = {
    requests: total,
    ok: r.ok,
    failed: r.failed,
    concurrency: args.concurrency,
    sessions: args.sessions,
    clients: args.clients,
    client: args.client,
    serverCpu: args.serverCpu ?? 'unpinned',
    record: args.record,
    wallSeconds: +(wallMs / 1000).toFixed(3),
    requestsPerSecond: Math.round(total / (wallMs / 1000)),
    sandboxCpuSeconds: +serverCpuS.toFixed(3),
    sandboxCpuSecondsPer10k: +((serverCpuS / total) * 10_000).toFixed(3),
    sandboxRequestsPerCpuSecond: Math.round(total / serverCpuS),
    sandboxCountedRequests: after.requests - before.requests,
    // with --clients 1 the client runs in this process
    clientCpuSecondsPer10k: args.clients === 1 ? +((((cpu1.user + cpu1.system) / 1e6) / total) * 10_000).toFixed(3) : undefined,
  };
  console.log(`apns sandbox (${args.client} client): ${result.requestsPerSecond} req/s wall (${result.ok} ok, ${result.failed} failed); sandbox CPU ${result.sandboxCpuSecondsPer10k} s per 10k = ${result.sandboxRequestsPerCpuSecond} req per CPU-second`);
  console.log(JSON.stringify(result));
  if (args.client === 'http2') console.log('(node:http2 is usually the bottleneck on small machines: --client frames --server-cpu 1 shows the sandbox\'s own ceiling)');
  if (r.failed > 0 || result.sandboxCountedRequests !== total) process.exitCode = 1;
}

const role = process.env.BENCH_ROLE;
(role === 'server' ? runServer() : role === 'client' ? runClient() : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
