// The figures, rows and targets of `npm run bench`: each row shows pushfleet's figure, its baseline from
// the same run, the ratio, and the target of issue 14.
import type { PushSystem } from '@pushfleet/events';
import type { BaselineResult } from './baseline';
import { round } from './util';

export type Cpu = Record<'api' | 'worker-apns' | 'worker-gcm' | 'redis' | 'bench', number>;

export interface ThroughputRun {
  label: string;
  systems: PushSystem[];
  events: number;
  publishSeconds: number;
  perSystem: Partial<Record<PushSystem, { seconds: number; perSecond: number; requests: number; succeeded: number }>>;
  wallSeconds: number;
  cpuSeconds: Cpu;
  /** Sum of CPU of every process over wall time: how many of the machine's cores the phase kept busy. */
  coresBusy: number;
}

export interface LatencyStats { samples: number; missing: number; p50: number; p95: number; p99: number; max: number }
export interface LatencyRun { rate: number; label: string; apns: LatencyStats; gcm: LatencyStats; achievedRate: number; events: number; unmatched: number; failed: number; cpuSeconds: Cpu }

type Mode<M extends BaselineResult['mode']> = Extract<BaselineResult, { mode: M }>;
export interface Round { apns: ThroughputRun; nodeApn: Mode<'apns'>; h2raw: Mode<'h2raw'>; gcm: ThroughputRun; fcmAdmin: Mode<'fcm-admin'> }

export interface FleetDetails {
  rounds: Round[];
  nodeGcm: Mode<'gcm'>;
  bullmq: Mode<'bullmq'>;
  both: ThroughputRun;
  latency: { atRate: LatencyRun; atLowRate: LatencyRun };
  queuedMemory: Record<string, number>;
  registry: { small: ThroughputRun; large: ThroughputRun; extraTokens: number };
  backlog: { small: number; large: number; smallPerSecond: number; largePerSecond: number; ratio: number };
  apiAlone: { apiPerSecond: number; apiCpuPer1k: number; redisCpuPer1k: number; barePerSecond: number; bareCpuPer1k: number; concurrency: number };
  rss: Record<'worker-apns' | 'worker-gcm', number>;
}

export type Target = { name: string; value: number; op: '>=' | '<='; target: number; unit: string; pass: boolean };

const med = (xs: number[]) => { const v = [...xs].sort((p, q) => p - q); return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2; };
/** Median of per-round ratios: each ratio is taken from a pushfleet phase and the baseline run right after it. */
const medRatio = (a: number[], b: number[]) => round(med(a.map((x, i) => x / b[i])), 2);
const per10k = (cpu: number, n: number) => (cpu / n) * 10_000;

export function fleetFigures(d: FleetDetails): Record<string, number> {
  const r = d.rounds;
  const R = {
    apns: r.map((x) => x.apns.perSystem.apns!.perSecond),
    nodeApn: r.map((x) => x.nodeApn.run.perSecond),
    nodeApnMulti: r.map((x) => x.nodeApn.multicast.perSecond),
    h2raw: r.map((x) => x.h2raw.run.perSecond),
    apnsCpu: r.map((x) => per10k(x.apns.cpuSeconds['worker-apns'], x.apns.events)),
    nodeApnCpu: r.map((x) => x.nodeApn.run.cpuSecondsPer10k),
    h2rawCpu: r.map((x) => x.h2raw.run.cpuSecondsPer10k),
    gcm: r.map((x) => x.gcm.perSystem.gcm!.perSecond),
    fcmAdmin: r.map((x) => x.fcmAdmin.run.perSecond),
    gcmCpu: r.map((x) => per10k(x.gcm.cpuSeconds['worker-gcm'], x.gcm.events)),
    fcmAdminCpu: r.map((x) => x.fcmAdmin.run.cpuSecondsPer10k),
    redisCpu: r.map((x) => per10k(x.apns.cpuSeconds.redis, x.apns.events)),
  };
  const lat = d.latency.atRate;
  const low = d.latency.atLowRate;
  // CPU per event in ms: light load (the low-rate phase, both workers) vs full load (the throughput phases).
  const lightApns = (low.cpuSeconds['worker-apns'] / low.events) * 1000;
  const lightGcm = (low.cpuSeconds['worker-gcm'] / low.events) * 1000;
  const fullApns = med(R.apnsCpu) / 10;
  const fullGcm = med(R.gcmCpu) / 10;
  const regSmall = d.registry.small.perSystem.apns!.perSecond;
  const regLarge = d.registry.large.perSystem.apns!.perSecond;
  const mb = (b: number) => round(b / 1048576, 1);
  return {
    apns_e2e_deliveries_per_s: Math.round(med(R.apns)),
    node_apn_per_event_per_s: Math.round(med(R.nodeApn)),
    apns_vs_node_apn_ratio: medRatio(R.apns, R.nodeApn),
    node_apn_multicast_per_s: Math.round(med(R.nodeApnMulti)),
    apns_vs_node_apn_multicast_ratio: medRatio(R.apns, R.nodeApnMulti),
    h2raw_per_s: Math.round(med(R.h2raw)),
    apns_vs_h2raw_ratio: medRatio(R.apns, R.h2raw),
    worker_apns_cpu_s_per_10k: round(med(R.apnsCpu), 2),
    node_apn_cpu_s_per_10k: round(med(R.nodeApnCpu), 2),
    h2raw_cpu_s_per_10k: round(med(R.h2rawCpu), 2),
    apns_cpu_ratio: medRatio(R.apnsCpu, R.nodeApnCpu),
    apns_vs_h2raw_cpu_ratio: medRatio(R.apnsCpu, R.h2rawCpu),
    fcm_e2e_msgs_per_s: Math.round(med(R.gcm)),
    firebase_admin_msgs_per_s: Math.round(med(R.fcmAdmin)),
    fcm_vs_firebase_admin_ratio: medRatio(R.gcm, R.fcmAdmin),
    worker_gcm_cpu_s_per_10k: round(med(R.gcmCpu), 2),
    firebase_admin_cpu_s_per_10k: round(med(R.fcmAdminCpu), 2),
    gcm_cpu_ratio: medRatio(R.gcmCpu, R.fcmAdminCpu),
    redis_cpu_s_per_10k_apns_alone: round(med(R.redisCpu), 2),
    latency_rate_events_per_s: lat.achievedRate,
    latency_apns_p50_ms: lat.apns.p50, latency_apns_p99_ms: lat.apns.p99,
    latency_fcm_p50_ms: lat.gcm.p50, latency_fcm_p99_ms: lat.gcm.p99,
    latency_post_failures: lat.failed,
    latency_low_rate_events_per_s: low.achievedRate,
    latency_low_rate_apns_p99_ms: low.apns.p99, latency_low_rate_fcm_p99_ms: low.gcm.p99,
    api_alone_requests_per_s: d.apiAlone.apiPerSecond,
    api_alone_cpu_s_per_1k: d.apiAlone.apiCpuPer1k,
    api_alone_redis_cpu_s_per_1k: d.apiAlone.redisCpuPer1k,
    bare_http_requests_per_s: d.apiAlone.barePerSecond,
    bare_http_cpu_s_per_1k: d.apiAlone.bareCpuPer1k,
    api_vs_bare_http_ratio: round(d.apiAlone.apiPerSecond / d.apiAlone.barePerSecond, 2),
    api_vs_bare_http_cpu_ratio: round(d.apiAlone.apiCpuPer1k / d.apiAlone.bareCpuPer1k, 2),
    light_apns_cpu_ms_per_event: round(lightApns, 3), full_apns_cpu_ms_per_event: round(fullApns, 3),
    light_vs_full_apns_cpu_ratio: round(lightApns / fullApns, 2),
    light_gcm_cpu_ms_per_event: round(lightGcm, 3), full_gcm_cpu_ms_per_event: round(fullGcm, 3),
    light_vs_full_gcm_cpu_ratio: round(lightGcm / fullGcm, 2),
    backlog_small_per_s: d.backlog.smallPerSecond, backlog_large_per_s: d.backlog.largePerSecond, backlog_ratio: d.backlog.ratio,
    registry_small_per_s: regSmall, registry_large_per_s: regLarge, registry_ratio: round(regLarge / regSmall, 2),
    worker_apns_rss_mb: mb(d.rss['worker-apns']), worker_gcm_rss_mb: mb(d.rss['worker-gcm']),
    both_apns_deliveries_per_s: d.both.perSystem.apns!.perSecond,
    both_fcm_msgs_per_s: d.both.perSystem.gcm!.perSecond,
    node_gcm_legacy_per_event_ids_per_s: d.nodeGcm.perEvent.perSecond,
    bullmq_noop_jobs_per_s: d.bullmq.drain.perSecond,
    bullmq_noop_cpu_s_per_10k: d.bullmq.drain.cpuSecondsPer10k,
    redis_bytes_per_queued_event: d.queuedMemory.bytesPerEvent,
  };
}

/** The targets of issue 14 (and the Redis memory targets), each against a figure of this run. */
export function targetsFor(f: Record<string, number>): Target[] {
  const t: Target[] = [];
  const add = (name: string, key: string, op: '>=' | '<=', target: number, unit: string) => {
    if (!(key in f)) return;
    const value = f[key];
    t.push({ name, value, op, target, unit, pass: op === '>=' ? value >= target : value <= target });
  };
  add('APNs deliveries/s vs node-apn, a send per event', 'apns_vs_node_apn_ratio', '>=', 1.2, 'x');
  add('APNs deliveries/s vs node-apn, one notification to 1000 tokens (aim)', 'apns_vs_node_apn_multicast_ratio', '>=', 0.8, 'x');
  add('worker-apns CPU per 10k vs node-apn', 'apns_cpu_ratio', '<=', 0.8, 'x');
  add('FCM v1 msgs/s vs firebase-admin send()', 'fcm_vs_firebase_admin_ratio', '>=', 1.2, 'x');
  add('worker-gcm CPU per 10k vs firebase-admin', 'gcm_cpu_ratio', '<=', 0.8, 'x');
  add('APNs p99 enqueue->receipt, one event per POST', 'latency_apns_p99_ms', '<=', 50, 'ms');
  add('FCM v1 p99 enqueue->receipt, one event per POST', 'latency_fcm_p99_ms', '<=', 50, 'ms');
  add('/internal/events one event per request, API + Redis alone', 'api_alone_requests_per_s', '>=', 3000, 'req/s');
  add('worker-apns CPU per event, light vs full load', 'light_vs_full_apns_cpu_ratio', '<=', 2, 'x');
  add('worker-gcm CPU per event, light vs full load', 'light_vs_full_gcm_cpu_ratio', '<=', 2, 'x');
  add('ingestion: producer vs raw addBulk of the same jobs', 'ingest_ratio', '>=', 0.8, 'x');
  add('draining a large backlog vs a small one', 'backlog_ratio', '>=', 0.8, 'x');
  add('APNs throughput, large registry vs small', 'registry_ratio', '>=', 0.8, 'x');
  add('worker-apns RSS under full load (aim)', 'worker_apns_rss_mb', '<=', 150, 'MB');
  add('worker-gcm RSS under full load (aim)', 'worker_gcm_rss_mb', '<=', 150, 'MB');
  add('Redis per registered token', 'redis_bytes_per_registered_token', '<=', 250, 'B');
  add('Redis per queued event (both queues)', 'redis_bytes_per_queued_event', '<=', 1200, 'B');
  return t;
}

export interface Row { id: string; figure: string; pushfleet: string; baseline: string; ratio: string; target: string }

const fmt = (x: number | undefined, digits = 0) => (x !== undefined && Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

/** One row per figure of issue 14's table (plus information rows), in its order. */
export function rowsFor(f: Record<string, number>, p: { rate: number; backlogSmall: number; backlog: number; registry: number; users: number; apiConcurrency: number; fcmInflight?: number }): Row[] {
  const rows: Row[] = [];
  const x = (k: string) => (k in f ? `${fmt(f[k], 2)}x` : '-');
  const row = (id: string, figure: string, pushfleet: string, baseline: string, ratio: string, target: string) => rows.push({ id, figure, pushfleet, baseline, ratio, target });
  if ('apns_e2e_deliveries_per_s' in f) {
    row('apns-vs-node-apn', 'APNs deliveries/s, events in -> ack | node-apn, a send per event (1000 out)', fmt(f.apns_e2e_deliveries_per_s), fmt(f.node_apn_per_event_per_s), x('apns_vs_node_apn_ratio'), '>= 1.2x');
    row('apns-vs-node-apn-multicast', 'APNs deliveries/s | node-apn, one notification to 1000 tokens', fmt(f.apns_e2e_deliveries_per_s), fmt(f.node_apn_multicast_per_s), x('apns_vs_node_apn_multicast_ratio'), 'report; aim >= 0.8x');
    row('apns-vs-h2raw', 'APNs deliveries/s | raw node:http2, prebuilt requests (ceiling)', fmt(f.apns_e2e_deliveries_per_s), fmt(f.h2raw_per_s), x('apns_vs_h2raw_ratio'), 'report');
    row('apns-cpu', 'worker-apns CPU-s / 10k | node-apn per event (raw http2)', fmt(f.worker_apns_cpu_s_per_10k, 2), `${fmt(f.node_apn_cpu_s_per_10k, 2)} (${fmt(f.h2raw_cpu_s_per_10k, 2)})`, x('apns_cpu_ratio'), '<= 0.8x');
    row('fcm-vs-firebase-admin', 'FCM v1 msgs/s, events in -> ack | firebase-admin send(), same in-flight', fmt(f.fcm_e2e_msgs_per_s), fmt(f.firebase_admin_msgs_per_s), x('fcm_vs_firebase_admin_ratio'), '>= 1.2x');
    row('fcm-cpu', 'worker-gcm (FCM v1) CPU-s / 10k | firebase-admin', fmt(f.worker_gcm_cpu_s_per_10k, 2), fmt(f.firebase_admin_cpu_s_per_10k, 2), x('gcm_cpu_ratio'), '<= 0.8x');
    row('latency', `p99 enqueue->receipt ms @${fmt(f.latency_rate_events_per_s)}/s, one event per POST: APNs / FCM v1`, `${fmt(f.latency_apns_p99_ms, 1)} / ${fmt(f.latency_fcm_p99_ms, 1)}`, `p50 ${fmt(f.latency_apns_p50_ms, 1)} / ${fmt(f.latency_fcm_p50_ms, 1)}`, '', '<= 50 ms');
    row('api-alone', `/internal/events req/s, 1 event/request, workers stopped | bare node:http server (${p.apiConcurrency} out)`, fmt(f.api_alone_requests_per_s), fmt(f.bare_http_requests_per_s), x('api_vs_bare_http_ratio'), '>= 3,000 req/s');
    row('api-cpu', 'API CPU-s / 1k requests | bare node:http server (Redis CPU-s / 1k)', `${fmt(f.api_alone_cpu_s_per_1k, 3)} (${fmt(f.api_alone_redis_cpu_s_per_1k, 3)})`, fmt(f.bare_http_cpu_s_per_1k, 3), x('api_vs_bare_http_cpu_ratio'), 'report');
    row('light-cpu-apns', `worker-apns CPU ms/event @${fmt(f.latency_low_rate_events_per_s)}/s | under full load`, fmt(f.light_apns_cpu_ms_per_event, 3), fmt(f.full_apns_cpu_ms_per_event, 3), x('light_vs_full_apns_cpu_ratio'), '<= 2x');
    row('light-cpu-gcm', `worker-gcm CPU ms/event @${fmt(f.latency_low_rate_events_per_s)}/s | under full load`, fmt(f.light_gcm_cpu_ms_per_event, 3), fmt(f.full_gcm_cpu_ms_per_event, 3), x('light_vs_full_gcm_cpu_ratio'), '<= 2x');
  }
  row('ingest', 'ingestion events/s: producer | raw addBulk of the same jobs', fmt(f.ingest_producer_events_per_s), fmt(f.ingest_raw_addbulk_events_per_s), x('ingest_ratio'), '>= 0.8x');
  if ('backlog_ratio' in f) {
    row('backlog', `APNs deliveries/s draining ${fmt(p.backlog)} queued | ${fmt(p.backlogSmall)} queued`, fmt(f.backlog_large_per_s), fmt(f.backlog_small_per_s), x('backlog_ratio'), '>= 0.8x');
    row('registry', `APNs deliveries/s with ${fmt(p.registry + 2 * p.users)} tokens | ${fmt(2 * p.users)} tokens`, fmt(f.registry_large_per_s), fmt(f.registry_small_per_s), x('registry_ratio'), '>= 0.8x');
    row('rss', 'worker RSS MB under full load: APNs / FCM v1', `${fmt(f.worker_apns_rss_mb)} / ${fmt(f.worker_gcm_rss_mb)}`, '', '', 'report; aim <= 150');
    row('info-both', 'info: both systems at once, APNs / FCM v1 deliveries/s', `${fmt(f.both_apns_deliveries_per_s)} / ${fmt(f.both_fcm_msgs_per_s)}`, '', '', '');
    row('info-light-latency', `info: p99 ms @${fmt(f.latency_low_rate_events_per_s)}/s, APNs / FCM v1`, `${fmt(f.latency_low_rate_apns_p99_ms, 1)} / ${fmt(f.latency_low_rate_fcm_p99_ms, 1)}`, '', '', '');
    row('info-node-gcm', 'info: legacy GCM via node-gcm, ids/s per event (API shut down)', '', fmt(f.node_gcm_legacy_per_event_ids_per_s), '', '');
    row('info-bullmq', 'info: BullMQ no-op worker jobs/s (CPU-s / 10k) | Redis CPU-s / 10k APNs', fmt(f.redis_cpu_s_per_10k_apns_alone, 2), `${fmt(f.bullmq_noop_jobs_per_s)} (${fmt(f.bullmq_noop_cpu_s_per_10k, 2)})`, '', '');
    row('info-redis-bytes', 'info: Redis bytes / registered token, / queued event', `${fmt(f.redis_bytes_per_registered_token)}, ${fmt(f.redis_bytes_per_queued_event)}`, '', '', '<= 250, <= 1,200');
  }
  return rows;
}

export function formatTable(rows: Row[], targets: Target[], rounds: number): string {
  const head: Row = { id: '', figure: 'figure', pushfleet: 'pushfleet', baseline: 'baseline (same run)', ratio: rounds > 1 ? `ratio (median of ${rounds})` : 'ratio', target: 'target' };
  const cols = ['figure', 'pushfleet', 'baseline', 'ratio', 'target'] as const;
  const all = [head, ...rows];
  const widths = cols.map((c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: Row) => cols.map((c, i) => (i === 0 ? r[c].padEnd(widths[i]) : r[c].padStart(widths[i]))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), '', 'targets:'];
  for (const t of targets) out.push(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.value} ${t.unit} (target ${t.op} ${t.target} ${t.unit})`);
  return out.join('\n');
}
