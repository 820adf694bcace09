import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// `npm run bench -- --quick` end to end: the compiled bench (npm test builds it first with tsc -b) starts
// its own Redis, sandbox, API and workers, runs every phase on small numbers, and writes its JSON. Only
// the shape is checked: every figure is a finite number. Times and ratios depend on the machine and are
// never asserted here.
const ROOT = path.resolve(__dirname, '..');
const BENCH = path.join(ROOT, 'scripts', 'dist', 'bench', 'main.js');

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BENCH, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

describe('npm run bench -- --quick', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-bench-smoke-')); });
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('runs every phase and reports every row with its same-run baseline, never judging a time', async () => {
    expect(fs.existsSync(BENCH)).toBe(true);
    const json = path.join(dir, 'bench.json');
    const { code, out } = await run(['--quick', '--json', json], 170_000);
    if (code !== 0) throw new Error(`bench exited ${code}:\n${out.slice(-4000)}`);
    const result = JSON.parse(fs.readFileSync(json, 'utf8')) as {
      figures: Record<string, unknown>; machine: Record<string, unknown>;
      targets: { name: string; value: unknown; pass: unknown }[];
      rows: { id: string; figure: string; pushfleet: string; baseline: string; ratio: string; target: string }[];
    };

    // Every row of issue 14's target table, each with its figure, its same-run baseline, the ratio and
    // the target (information rows carry less).
    const compared = ['apns-vs-node-apn', 'apns-vs-node-apn-multicast', 'apns-vs-h2raw', 'apns-cpu', 'fcm-vs-firebase-admin', 'fcm-cpu',
      'api-alone', 'api-cpu', 'light-cpu-apns', 'light-cpu-gcm', 'ingest', 'backlog', 'registry'];
    expect(result.rows.map((r) => r.id)).toEqual(expect.arrayContaining([...compared, 'latency', 'rss', 'info-node-gcm']));
    for (const id of compared) {
      const row = result.rows.find((r) => r.id === id)!;
      for (const cell of [row.pushfleet, row.baseline]) expect(cell).toMatch(/[0-9]/);
      expect(row.target).toMatch(/[0-9]|^report$/);
      expect(row.ratio).toMatch(/^[0-9.,]+x$/);
    }
    for (const id of ['latency', 'rss']) expect(result.rows.find((r) => r.id === id)!.pushfleet).toMatch(/^[0-9.,]+ \/ [0-9.,]+$/);
    expect(out).toContain(result.rows[0].figure);

    for (const key of [
      'apns_e2e_deliveries_per_s', 'node_apn_per_event_per_s', 'node_apn_multicast_per_s', 'h2raw_per_s', 'apns_vs_node_apn_ratio',
      'fcm_e2e_msgs_per_s', 'firebase_admin_msgs_per_s', 'fcm_vs_firebase_admin_ratio', 'worker_apns_cpu_s_per_10k', 'worker_gcm_cpu_s_per_10k',
      'latency_apns_p99_ms', 'latency_fcm_p99_ms', 'api_alone_requests_per_s', 'api_alone_cpu_s_per_1k', 'bare_http_requests_per_s',
      'light_vs_full_apns_cpu_ratio', 'light_vs_full_gcm_cpu_ratio', 'ingest_ratio', 'backlog_ratio', 'registry_ratio',
      'worker_apns_rss_mb', 'worker_gcm_rss_mb', 'redis_bytes_per_registered_token', 'redis_bytes_per_queued_event',
    ]) {
      expect(result.figures).toHaveProperty(key);
    }
    for (const [key, value] of Object.entries(result.figures)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`figure ${key} is ${String(value)}`);
    }
    expect(result.targets.length).toBe(17);
    for (const t of result.targets) {
      expect(typeof t.pass).toBe('boolean');
      expect(Number.isFinite(t.value)).toBe(true);
    }
    expect(result.machine.nproc).toEqual(expect.any(Number));
  }, 180_000);
});
