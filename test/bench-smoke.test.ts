import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// `npm run bench -- --quick` end to end: the compiled bench (npm test builds it first with tsc -b) starts
// its own Redis, sandbox, API and workers, runs every phase on small numbers, and writes its JSON. Only
// the shape is checked: every figure is a finite number. Times and ratios depend on the machine and are
// never asserted here.
const ROOT = path.resolve(__dirname, '..');
const BENCH = path.join(ROOT, 'scripts', 'dist', 'bench.js');

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

  it('runs every phase and writes every figure as a finite number', async () => {
    expect(fs.existsSync(BENCH)).toBe(true);
    const json = path.join(dir, 'bench.json');
    const { code, out } = await run(['--quick', '--json', json], 110_000);
    if (code !== 0) throw new Error(`bench exited ${code}:\n${out.slice(-4000)}`);
    const result = JSON.parse(fs.readFileSync(json, 'utf8')) as { figures: Record<string, unknown>; targets: { name: string; value: unknown; pass: unknown }[]; machine: Record<string, unknown> };

    for (const key of [
      'apns_e2e_deliveries_per_s', 'apns_direct_node_apn_per_s', 'apns_throughput_ratio',
      'gcm_e2e_ids_per_s', 'gcm_direct_node_gcm_per_event_ids_per_s', 'gcm_direct_node_gcm_multicast_ids_per_s',
      'bullmq_noop_jobs_per_s', 'worker_apns_cpu_s_per_10k', 'node_apn_cpu_s_per_10k',
      'latency_apns_p99_ms', 'latency_gcm_p99_ms', 'ingest_producer_events_per_s', 'ingest_raw_addbulk_events_per_s', 'ingest_raw_job_per_event_events_per_s',
      'redis_bytes_per_registered_token', 'redis_bytes_per_queued_event',
    ]) {
      expect(result.figures).toHaveProperty(key);
    }
    for (const [key, value] of Object.entries(result.figures)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`figure ${key} is ${String(value)}`);
    }
    expect(result.targets.length).toBe(8);
    for (const t of result.targets) {
      expect(typeof t.pass).toBe('boolean');
      expect(Number.isFinite(t.value)).toBe(true);
    }
    expect(result.machine.nproc).toEqual(expect.any(Number));
  }, 120_000);
});
