import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createDeliveryMetrics, registerApnsCredentialMetrics } from '@pushfleet/delivery';
import { QUEUE_NAMES } from '@pushfleet/events';
import { checkRedis, createMetricsRegistry, registerQueueMetrics } from '@pushfleet/observability';
import { startTestApi, TestApi } from './support/api';
import { testRedisUrl } from './support/env';

/**
 * The metrics the dashboard, the alert rules and docs/operations.md talk about are the metrics the code
 * exports, with the types and labels the docs say. Built from the real registries: the API app (its
 * /metrics route), the worker's delivery metrics, the process defaults, the Redis check, the queue gauges,
 * and the gauges the worker mains declare inline.
 */

const ROOT = path.resolve(__dirname, '..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';
interface MetricInfo { name: string; type: MetricType; labels: string[]; from: string }

const exported = new Map<string, MetricInfo>();
const defaults = new Set<string>();
let api: TestApi;
let redis: Redis;
let queue: Queue;

function add(registry: Registry, from: string): void {
  for (const m of registry.getMetricsAsArray() as unknown as { name: string; type: MetricType; labelNames?: string[] }[]) {
    exported.set(m.name, { name: m.name, type: m.type, labels: [...(m.labelNames ?? [])].sort(), from });
  }
}

/** `new Gauge({ name: 'pushfleet_x', ..., labelNames: ['app'] ... })` declared in an app's wiring (main.ts). */
function declaredInline(file: string): MetricInfo[] {
  const src = read(file);
  const out: MetricInfo[] = [];
  const re = /new (Gauge|Counter|Histogram|Summary)\(\{\s*name:\s*'(pushfleet_[a-z0-9_]+)'([^}]*)\}/g;
  for (const m of src.matchAll(re)) {
    const labels = /labelNames:\s*\[([^\]]*)\]/.exec(m[3])?.[1].match(/'([^']+)'/g)?.map((s) => s.slice(1, -1)) ?? [];
    out.push({ name: m[2], type: m[1].toLowerCase() as MetricType, labels: labels.sort(), from: file });
  }
  return out;
}

const HISTOGRAM_SUFFIXES = /_(bucket|sum|count)$/;

/** A name as an expression uses it, mapped to the metric that exports it (histogram series -> histogram). */
function baseName(name: string): string {
  if (exported.has(name)) return name;
  const base = name.replace(HISTOGRAM_SUFFIXES, '');
  return exported.get(base)?.type === 'histogram' ? base : name;
}

function namesIn(text: string): string[] {
  return [...new Set(text.match(/pushfleet_[a-z0-9_]+/g) ?? [])].sort();
}

function dashboardExprs(): string[] {
  const dash = JSON.parse(read('infra/grafana/dashboards/pushfleet.json')) as { panels: { targets?: { expr?: string }[]; panels?: unknown[] }[] };
  const exprs: string[] = [];
  const walk = (panels: { targets?: { expr?: string }[]; panels?: unknown[] }[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) exprs.push(t.expr);
      if (p.panels) walk(p.panels as typeof panels);
    }
  };
  walk(dash.panels);
  return exprs;
}

interface CatalogueRow { name: string; type: string; labels: string[] }

function catalogue(): CatalogueRow[] {
  const doc = read('docs/operations.md');
  const section = doc.slice(doc.indexOf('## Metrics catalogue'), doc.indexOf('\n## ', doc.indexOf('## Metrics catalogue') + 5));
  const rows: CatalogueRow[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`(pushfleet_[a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|([^|]*)\|/.exec(line);
    if (!m) continue;
    const labels = [...m[3].matchAll(/`([a-z_]+)`/g)].map((x) => x[1]).sort();
    rows.push({ name: m[1], type: m[2], labels });
  }
  return rows;
}

beforeAll(async () => {
  // Worker process: defaults + delivery metrics + the Redis check's gauge.
  const worker = createMetricsRegistry('worker-apns');
  for (const m of worker.getMetricsAsArray() as unknown as { name: string }[]) defaults.add(m.name);
  add(worker, 'createMetricsRegistry');
  createDeliveryMetrics(worker);
  registerApnsCredentialMetrics(worker, []);
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await checkRedis(redis, pino({ level: 'silent' }), worker);
  add(worker, 'worker registry');
  for (const file of ['apps/worker-apns/src/main.ts', 'apps/worker-gcm/src/main.ts', 'apps/api/src/main.ts']) {
    if (!fs.existsSync(path.join(ROOT, file))) continue;
    for (const m of declaredInline(file)) exported.set(m.name, m);
  }

  // API process: the real app (HTTP histogram, registrations, producer metrics) + the queue gauges.
  api = await startTestApi({ name: 'catalogue' });
  // As apps/api/src/main.ts wires it: the queues share the API's fail-fast connection and key prefix.
  queue = new Queue(QUEUE_NAMES.apns, { connection: api.redis, prefix: api.prefix });
  registerQueueMetrics(api.metrics, [{ name: 'apns', queue }]);
  await fetch(`${api.url}/healthz`);
  add(api.metrics, 'api registry');
});

afterAll(async () => {
  await queue?.close();
  await api?.close();
  await redis?.quit();
});

test('the API serves its metrics on /metrics, each with HELP and TYPE', async () => {
  const res = await fetch(`${api.opsUrl}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const typed = [...text.matchAll(/^# TYPE (pushfleet_[a-z0-9_]+) (\w+)$/gm)].map((m) => m[1]);
  for (const name of ['pushfleet_http_request_duration_seconds', 'pushfleet_registrations_total', 'pushfleet_events_accepted_total',
    'pushfleet_events_rejected_total', 'pushfleet_enqueue_duration_seconds', 'pushfleet_queue_jobs', 'pushfleet_queue_oldest_waiting_age_seconds',
    'pushfleet_dead_letter_jobs']) {
    expect(typed).toContain(name);
  }
  for (const name of typed) expect(text).toContain(`# HELP ${name} `);
  expect(text).toMatch(/^pushfleet_queue_metrics_ok\{queue="apns",partition="0"\} 1$/m);
  expect(text).toMatch(/^pushfleet_queue_jobs\{queue="apns",partition="0",state="waiting"\} 0$/m);
});

test('every metric the dashboard queries is exported', () => {
  const exprs = dashboardExprs();
  expect(exprs.length).toBeGreaterThan(20);
  const missing = namesIn(exprs.join('\n')).map(baseName).filter((n) => !exported.has(n));
  expect(missing).toEqual([]);
});

test('every metric the alert rules and their unit tests use is exported', () => {
  const rules = read('infra/prometheus/alerts.yml');
  const used = namesIn(rules);
  expect(used.length).toBeGreaterThan(10);
  expect(used.map(baseName).filter((n) => !exported.has(n))).toEqual([]);
  const ruleTests = read('infra/prometheus/alerts.test.yml');
  expect(namesIn(ruleTests).map(baseName).filter((n) => !exported.has(n))).toEqual([]);
});

test('the KEDA scalers query exported metrics', () => {
  const keda = read('infra/k8s/keda.yaml');
  const used = namesIn(keda);
  expect(used).toEqual(['pushfleet_queue_jobs']);
});

test('the docs catalogue lists exactly the exported pushfleet_ metrics (process defaults summarised), with their types and labels', () => {
  const rows = catalogue();
  const documented = new Map(rows.map((r) => [r.name, r]));
  expect(rows.length).toBe(documented.size); // no duplicate rows
  const own = [...exported.values()].filter((m) => !defaults.has(m.name));
  expect(own.filter((m) => !documented.has(m.name)).map((m) => `${m.name} (from ${m.from})`)).toEqual([]);
  expect(rows.filter((r) => !exported.has(r.name) || defaults.has(r.name)).map((r) => r.name)).toEqual([]);
  for (const m of own) {
    const row = documented.get(m.name)!;
    expect({ name: m.name, type: row.type, labels: row.labels }).toEqual({ name: m.name, type: m.type, labels: m.labels });
  }
  // The process defaults are there under the pushfleet_ prefix, and the docs name their families.
  expect([...defaults].every((n) => /^pushfleet_(process|nodejs)_/.test(n))).toBe(true);
  const doc = read('docs/operations.md');
  expect(doc).toContain('`pushfleet_process_*`');
  expect(doc).toContain('`pushfleet_nodejs_*`');
});

test('every complete metric name the docs mention exists', () => {
  const doc = read('docs/operations.md');
  const mentioned = [...new Set([...doc.matchAll(/`(pushfleet_[a-z0-9_]+)`/g)].map((m) => m[1]))];
  expect(mentioned.map(baseName).filter((n) => !exported.has(n))).toEqual([]);
});

test('our metrics follow the naming conventions: prefix, _total counters, units, no unbounded labels', () => {
  const forbidden = ['user', 'user_id', 'owner', 'token', 'device_token', 'registration_id', 'id', 'job_id', 'text'];
  for (const m of exported.values()) {
    if (defaults.has(m.name)) continue;
    expect(m.name).toMatch(/^pushfleet_[a-z0-9_]+$/);
    if (m.type === 'counter') expect(m.name).toMatch(/_total$/);
    else expect(m.name).not.toMatch(/_total$/);
    if (m.type === 'histogram') expect(m.name).toMatch(/_(seconds|bytes)$/);
    for (const l of m.labels) expect(forbidden).not.toContain(l);
  }
});

test('every alert has a runbook_url anchor that exists in docs/operations.md, with a runbook entry named after it', () => {
  const rules = read('infra/prometheus/alerts.yml');
  const doc = read('docs/operations.md');
  const blocks = rules.split(/\n\s+- alert: /).slice(1);
  expect(blocks.length).toBeGreaterThanOrEqual(12);
  const anchors = new Set<string>();
  for (const block of blocks) {
    const name = /^(\w+)/.exec(block)![1];
    const url = /runbook_url: (\S+)/.exec(block)?.[1];
    expect({ name, url }).toEqual({ name, url: expect.stringMatching(/^docs\/operations\.md#alert-[a-z0-9-]+$/) });
    const anchor = url!.split('#')[1];
    expect({ name, anchorInDocs: doc.includes(`<a id="${anchor}"></a>\n### ${name}\n`) }).toEqual({ name, anchorInDocs: true });
    anchors.add(anchor);
  }
  expect(anchors.size).toBe(blocks.length); // one entry per alert
  // and no runbook entry for an alert that does not exist
  const documented = [...doc.matchAll(/<a id="(alert-[a-z0-9-]+)"><\/a>/g)].map((m) => m[1]);
  expect(documented.filter((a) => !anchors.has(a))).toEqual([]);
});
