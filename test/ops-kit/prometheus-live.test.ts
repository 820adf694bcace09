import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort } from '../../scripts/lib/redis-server';
import { waitFor } from '../support/env';
import { OpsFleet, startOpsFleet } from '../support/ops-fleet';
import { which } from '../support/tools';

/**
 * The Prometheus side of infra/ against the real thing: Debian's `prometheus` (CI installs it: .ci/run)
 * scrapes a running fleet (API, APNs worker, GCM worker on FCM v1, as processes) with a config derived from
 * infra/prometheus/prometheus.yml (same jobs and rule file; static targets on this run's ports, 1 s
 * intervals) after real traffic. Then every Grafana panel query and every alert expression is evaluated
 * through the HTTP API, every metric they name must be one some process exports, and the panels that
 * should show data must return series.
 */

const ROOT = path.resolve(__dirname, '../..');
const PROMETHEUS = which('prometheus');
if (!PROMETHEUS && process.env.CI) throw new Error('prometheus not installed in CI (.ci/run installs Debian\'s prometheus)');
if (!PROMETHEUS) console.warn('prometheus not found: SKIPPING the live Prometheus checks (Debian/Ubuntu: apt-get install prometheus; CI installs it)');
const withPrometheus = PROMETHEUS ? describe : describe.skip;

/** Panels that stay empty after healthy traffic: they show failures or credentials this fleet does not have. */
const EMPTY_WHEN_HEALTHY: Record<string, string> = {
  'Jobs dead-lettered by cause': 'nothing is dead-lettered',
  'Prune rate by system and reason': 'no token is pruned',
  'Failures and retries per app': 'no delivery fails or is retried',
  'Top non-delivered reasons': 'every delivery succeeds',
  'Expired and truncated events': 'no event expires or is truncated',
  'APNs certificate days left': 'the test app signs with a p8 key, not a certificate',
};

interface Panel { id: number; title: string; type: string; targets?: { expr?: string; refId?: string }[] }
const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'infra/grafana/dashboards/pushfleet.json'), 'utf8')) as { panels: Panel[] };
const queryPanels = dashboard.panels.filter((p) => (p.targets ?? []).some((t) => t.expr));
const alertRules = (parse(fs.readFileSync(path.join(ROOT, 'infra/prometheus/alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] })
  .groups.flatMap((g) => g.rules);

/** Grafana's own variables, as Grafana substitutes them (a 1 s scrape interval: 30 s holds many samples). */
const grafanaExpr = (e: string) => e.replace(/\$__rate_interval|\$__interval/g, '30s');

/** Metric names an expression reads (pushfleet_* and up), histogram series mapped to their family. */
function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(pushfleet_[a-z0-9_]+|up)\b/g)].map((m) => m[1]))];
}

withPrometheus('a real Prometheus scraping a running fleet', () => {
  let fleet: OpsFleet;
  let prometheus: ChildProcess;
  let url: string;
  let dir: string;
  let log = '';

  async function api<T>(p: string): Promise<T> {
    const res = await fetch(url + p);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${p}: ${res.status} ${body.error}`);
    return body.data;
  }
  const query = (expr: string) => api<{ resultType: string; result: unknown[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);

  beforeAll(async () => {
    fleet = await startOpsFleet('prometheus');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-prometheus-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const config = parse(fs.readFileSync(path.join(ROOT, 'infra/prometheus/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>; rule_files: string[]; scrape_configs: Record<string, unknown>[];
    };
    // Same jobs and rules; this run's ports instead of Docker DNS; scrape and evaluate every second.
    config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
    config.rule_files = config.rule_files.map((f) => path.join(ROOT, 'infra/prometheus', f));
    const targets: Record<string, string> = { ...fleet.metricsTargets, prometheus: `127.0.0.1:${port}` };
    for (const job of config.scrape_configs) {
      const name = job.job_name as string;
      expect(targets[name]).toBeDefined(); // a job in prometheus.yml this fleet has no process for
      delete job.dns_sd_configs;
      job.static_configs = [{ targets: [targets[name]] }];
    }
    expect(Object.keys(targets).sort()).toEqual(config.scrape_configs.map((j) => j.job_name).sort());
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
    prometheus = spawn(PROMETHEUS!, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-8000); });
    await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 20_000, what: `prometheus ready\n${log}` });

    // Every job scraped before the traffic (Prometheus hands discovered targets to the scraper in 5 s
    // batches), so rate() sees the counters appear and grow.
    await waitFor(async () => {
      const t = await api<{ activeTargets: { health: string }[] }>('/api/v1/targets');
      return t.activeTargets.length === Object.keys(targets).length && t.activeTargets.every((x) => x.health === 'up');
    }, { timeoutMs: 30_000, intervalMs: 250, what: `every target scraped\n${log}` });
    await fleet.traffic(10);
    // Some failed requests too, so the API's status and rejection panels have more than successes.
    await fetch(`${fleet.apiUrl}/api/push`);
    await fetch(`${fleet.apiUrl}/internal/events`, { method: 'POST', headers: { authorization: `Bearer ${fleet.internalToken}`, 'content-type': 'application/json' }, body: '{"message":"nope"}' });
    // Then until every target was scraped twice after the traffic (rate() needs two samples) and every rule
    // was evaluated on that.
    const after = Date.now() + 2100;
    await waitFor(async () => {
      const t = await api<{ activeTargets: { lastScrape: string }[] }>('/api/v1/targets');
      const r = await api<{ groups: { rules: { lastEvaluation: string }[] }[] }>('/api/v1/rules');
      if (r.groups.length === 0) return false;
      return t.activeTargets.every((x) => Date.parse(x.lastScrape) > after)
        && r.groups.flatMap((g) => g.rules).every((x) => Date.parse(x.lastEvaluation) > after);
    }, { timeoutMs: 30_000, intervalMs: 250, what: `traffic scraped and rules evaluated\n${log}` });
  }, 90_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await fleet?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every target of prometheus.yml is up', async () => {
    const r = await api<{ activeTargets: { labels: { job: string }; health: string; lastError: string }[] }>('/api/v1/targets');
    const health = Object.fromEntries(r.activeTargets.map((t) => [t.labels.job, t.health === 'up' ? 'up' : `${t.health}: ${t.lastError}`]));
    expect(health).toEqual({ api: 'up', 'worker-apns': 'up', 'worker-gcm': 'up', prometheus: 'up' });
  });

  test('every metric a dashboard panel or an alert names is exported by a scraped process', async () => {
    const metadata = await api<Record<string, unknown>>('/api/v1/metadata');
    const exported = new Set(['up', ...Object.keys(metadata)]);
    const family = (n: string) => (exported.has(n) ? n : n.replace(/_(bucket|sum|count)$/, ''));
    const named = [...queryPanels.flatMap((p) => p.targets!.flatMap((t) => metricNames(t.expr ?? ''))), ...alertRules.flatMap((r) => metricNames(r.expr))];
    expect(named.length).toBeGreaterThan(20);
    expect([...new Set(named)].filter((n) => !exported.has(family(n)))).toEqual([]);
  });

  test.each(queryPanels.map((p) => [p.title, p] as const))('panel "%s": every query evaluates; it shows data unless only failures would', async (title, panel) => {
    const results = [];
    for (const t of panel.targets!.filter((x) => x.expr)) results.push(await query(grafanaExpr(t.expr!)));
    const series = results.reduce((n, r) => n + r.result.length, 0);
    if (EMPTY_WHEN_HEALTHY[title]) expect({ title, series }).toEqual({ title, series: 0 }); // not empty: move it out of the list
    else expect({ title, series: series > 0 }).toEqual({ title, series: true });
  });

  test.each(alertRules.map((r) => [r.alert ?? r.record!, r] as const))('alert %s: the expression evaluates and the rule is healthy', async (name, rule) => {
    await query(rule.expr);
    const rules = await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules');
    const loaded = rules.groups.flatMap((g) => g.rules).find((r) => r.name === name);
    expect({ name, health: loaded?.health, error: loaded?.lastError ?? '' }).toEqual({ name, health: 'ok', error: '' });
  });

  test('no alert fires on a healthy fleet after traffic', async () => {
    const r = await query('ALERTS{alertstate="firing"}');
    expect(r.result).toEqual([]);
  });
});
