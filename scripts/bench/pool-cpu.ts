#!/usr/bin/env node
// The HTTP/2 pool alone against the sandbox's APNs server (in a child process, permissive rules): client and
// server CPU-s per 10k requests. Compare two builds by passing another build's compiled pool.
//
//   node scripts/dist/bench/pool-cpu.js [--pool path/to/dist/h2/pool.js] [--requests 30000] [--inflight 500]
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { generateApnsKey, signApnsProviderToken, startSandbox } from '@pushfleet/sandbox';

type ServerMsg = { port: number; ca: string } | { cpu: number };

async function server(): Promise<void> {
  const sandbox = await startSandbox({ strict: false, record: false, apnsKeys: [JSON.parse(process.env.BENCH_KEY as string)] });
  process.send?.({ port: sandbox.apns.productionPort, ca: sandbox.caPem } satisfies ServerMsg);
  process.on('message', () => { const u = process.cpuUsage(); process.send?.({ cpu: (u.user + u.system) / 1e6 } satisfies ServerMsg); });
}

async function client(argv: string[]): Promise<void> {
  const arg = (name: string, fallback: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : fallback; };
  const poolPath = path.resolve(arg('--pool', require.resolve('@pushfleet/delivery/dist/h2/pool')));
  const requests = Number(arg('--requests', '30000'));
  const inflight = Number(arg('--inflight', '500'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { H2Pool } = require(poolPath) as typeof import('@pushfleet/delivery/dist/h2/pool');
  const key = generateApnsKey();
  const child = fork(__filename, ['--server'], { env: { ...process.env, BENCH_KEY: JSON.stringify({ keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem }) } });
  const next = () => new Promise<ServerMsg>((r) => child.once('message', (m) => r(m as ServerMsg)));
  const { port, ca } = (await next()) as { port: number; ca: string };
  const serverCpu = async () => { const m = next(); child.send('cpu'); return ((await m) as { cpu: number }).cpu; };
  const pool = new H2Pool({ origin: `https://localhost:${port}`, tls: { ca }, sessions: 1, maxInflightPerSession: inflight, requestTimeoutMs: 10_000 });
  const body = JSON.stringify({ aps: { 'content-available': 1 }, event: 'fax_new', id: crypto.randomUUID() });
  const tokens = Array.from({ length: 5000 }, (_, i) => crypto.createHash('sha256').update(`t${i}`).digest('hex'));
  const base = { ':method': 'POST', 'apns-topic': 'com.example.app', 'apns-push-type': 'background', 'apns-priority': '5', 'apns-expiration': '0', 'content-type': 'application/json', authorization: `bearer ${signApnsProviderToken(key)}` };
  const run = async (n: number) => {
    let ok = 0;
    await Promise.all(Array.from({ length: n }, (_, i) => pool.request({ ...base, ':path': `/3/device/${tokens[i % tokens.length]}` }, body).then((r) => { if (r.status === 200) ok++; }, () => undefined)));
    return ok;
  };
  await run(2000); // TLS, the server's token check, JIT
  const s0 = await serverCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const ok = await run(requests);
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const s1 = await serverCpu();
  const per10k = (cpu: number) => Math.round((cpu / requests) * 1e4 * 1000) / 1000;
  console.log(JSON.stringify({ pool: poolPath, requests, ok, perSecond: Math.round(requests / seconds), clientCpuPer10k: per10k((c.user + c.system) / 1e6), serverCpuPer10k: per10k(s1 - s0) }));
  await pool.close();
  child.kill();
}

if (process.argv.includes('--server')) void server();
else client(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1); });
