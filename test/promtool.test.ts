import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { apiEnvSchema, apnsWorkerEnvSchema, gcmWorkerEnvSchema } from '@pushfleet/config';
import { createDeliveryMetrics } from '@pushfleet/delivery';
import { QUEUE_NAMES } from '@pushfleet/events';
import { checkRedis, createMetricsRegistry, registerQueueMetrics } from '@pushfleet/observability';
import { call, startTestApi, TestApi } from './support/api';
import { testRedisUrl, uniquePrefix } from './support/env';
import { userToken } from './support/jwt';

/**
 * The Prometheus side of infra/ checked with the real promtool (CI installs it: .ci/run), and the YAML of
 * infra/ (compose, Kubernetes, Grafana provisioning) parsed and checked against the code it runs.
 */

const ROOT = path.resolve(__dirname, '..');
const rel = (p: string) => path.join(ROOT, p);
const read = (p: string) => fs.readFileSync(rel(p), 'utf8');

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const PROMTOOL = which('promtool');
if (!PROMTOOL) {
  // eslint-disable-next-line no-console
  console.warn('promtool not found: SKIPPING the promtool checks of infra/prometheus (Debian/Ubuntu: apt-get install prometheus; CI installs it)');
}
const withPromtool = PROMTOOL ? describe : describe.skip;

function promtool(args: string[], input?: string): { code: number; out: string } {
  const r = spawnSync(PROMTOOL!, args, { cwd: ROOT, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function tmpFile(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-promtool-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

/**
 * prom-client's default metrics name three gauges `..._total`, which promtool's linter reports; they are
 * not ours to rename. Anything else promtool says fails the test.
 */
const KNOWN_DEFAULT_LINT = /^pushfleet_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;

function checkMetrics(text: string): void {
  const r = promtool(['check', 'metrics'], text);
  const problems = r.out.split('\n').map((l) => l.trim()).filter((l) => l && !KNOWN_DEFAULT_LINT.test(l));
  expect({ code: r.code === 3 && problems.length === 0 ? 0 : r.code, problems }).toEqual({ code: 0, problems: [] });
}

withPromtool('promtool', () => {
  test('check rules: infra/prometheus/alerts.yml', () => {
    const r = promtool(['check', 'rules', 'infra/prometheus/alerts.yml']);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  test('test rules: the alert unit tests (infra/prometheus/alerts.test.yml)', () => {
    const r = promtool(['test', 'rules', 'infra/prometheus/alerts.test.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  test('check config: infra/prometheus/prometheus.yml (and the rule files it loads)', () => {
    const r = promtool(['check', 'config', 'infra/prometheus/prometheus.yml']);
    expect(r.out).toContain('is valid prometheus config file syntax');
    expect(r.code).toBe(0);
  });

  test('every dashboard and KEDA query is valid PromQL', () => {
    const dash = JSON.parse(read('infra/grafana/dashboards/pushfleet.json')) as { panels: { targets?: { expr?: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr).filter((e): e is string => Boolean(e)));
    exprs.push(...[...read('infra/k8s/keda.yaml').matchAll(/query: (.+)$/gm)].map((m) => m[1]));
    expect(exprs.length).toBeGreaterThan(20);
    // Grafana's $__rate_interval becomes a plain range; each query becomes a recording rule promtool parses.
    const rules = {
      groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `pushfleet:dashboard_query_${i}`, expr: e.replace(/\$__rate_interval/g, '5m') })) }],
    };
    const file = tmpFile('dashboard-rules.yml', JSON.stringify(rules)); // JSON is YAML
    const r = promtool(['check', 'rules', file]);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.code).toBe(0);
  });

  describe('check metrics on real /metrics output', () => {
    let api: TestApi;
    let redis: Redis;
    let queue: Queue;

    beforeAll(async () => {
      api = await startTestApi({ name: 'promtool' });
      redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
      queue = new Queue(QUEUE_NAMES.apns, { connection: redis, prefix: uniquePrefix('promtool') });
    });
    afterAll(async () => {
      await api.close();
      await queue.close();
      await redis.quit();
    });

    test('the API: its /metrics route after real requests, plus process defaults, queue gauges, Redis check', async () => {
      const token = await userToken('promtool-user');
      await call(api, 'GET', '/api/push', { token });
      await call(api, 'POST', '/api/push', { token, body: { system: 'gcm', action: 'add', registration_id: 'APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx' } });
      await call(api, 'POST', '/api/push', { token, body: { system: 'nope' } });
      await call(api, 'GET', '/no-such-route');
      const routeText = await (await fetch(`${api.opsUrl}/metrics`)).text();
      expect(routeText).toMatch(/^pushfleet_http_request_duration_seconds_bucket\{/m);
      expect(routeText).toMatch(/^pushfleet_registrations_total\{/m);
      checkMetrics(routeText);

      // What the API process adds in main.ts: defaults under pushfleet_, the eviction gauge, queue gauges.
      const processRegistry = createMetricsRegistry('api');
      await checkRedis(redis, pino({ level: 'silent' }), processRegistry);
      registerQueueMetrics(processRegistry, [{ name: 'apns', queue }]);
      const text = await processRegistry.metrics();
      expect(text).toMatch(/^pushfleet_queue_jobs\{queue="apns",partition="0",state="waiting",service="api"\} 0$/m);
      expect(text).toMatch(/^pushfleet_process_cpu_seconds_total\{service="api"\} /m);
      checkMetrics(text);
    });

    test('a worker: defaults plus every delivery metric with samples', async () => {
      const registry: Registry = createMetricsRegistry('worker-apns');
      const m = createDeliveryMetrics(registry);
      m.deliveries.inc({ system: 'apns', app: 'ABCDE12345.com.example.app', event: 'chat_message', outcome: 'delivered', reason: 'Success' });
      m.events.inc({ system: 'apns', result: 'done' });
      m.prunes.inc({ system: 'apns', reason: 'Unregistered' });
      m.replacements.inc({ system: 'gcm', result: 'replaced' });
      m.expired.inc({ system: 'apns', event: 'dialplan_callreverse_start' });
      m.truncated.inc({ system: 'apns', event: 'chat_message' });
      m.deadLettered.inc({ system: 'apns', cause: 'attempts_exhausted' });
      m.attempts.inc({ system: 'apns' });
      m.latency.observe({ system: 'apns' }, 0.042);
      m.providerDuration.observe({ system: 'apns', status: '200' }, 0.012);
      m.inflight.set({ system: 'apns' }, 3);
      m.circuitOpen.set({ system: 'apns', app: 'ABCDE12345.com.example.app' }, 0);
      m.credentialFailures.inc({ system: 'apns' }, 0);
      await checkRedis(redis, pino({ level: 'silent' }), registry);
      const text = await registry.metrics();
      expect(text).toMatch(/^pushfleet_delivery_latency_seconds_bucket\{le="0.05",service="worker-apns",system="apns"\} 1$/m);
      checkMetrics(text);
    });
  });
});

// ------------------------------------------------------------------------------------------------ YAML

/** Parses YAML files with python3 + PyYAML (no YAML package in node_modules); undefined when unavailable. */
function parseYaml(files: string[]): Record<string, unknown[]> | undefined {
  const py = 'import sys, json, yaml\nprint(json.dumps({f: list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]}))';
  const r = spawnSync('python3', ['-c', py, ...files], { cwd: ROOT, encoding: 'utf8' });
  if (r.error || (r.status !== 0 && /No module named .?yaml|not found/i.test(r.stderr ?? ''))) return undefined;
  if (r.status !== 0) throw new Error(`YAML parse failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown[]>;
}

const K8S = fs.readdirSync(rel('infra/k8s')).filter((f) => /\.ya?ml$/.test(f)).map((f) => `infra/k8s/${f}`);
const YAML_FILES = [
  ...K8S,
  'infra/compose.yaml',
  'infra/prometheus/prometheus.yml',
  'infra/prometheus/alerts.yml',
  'infra/prometheus/alerts.test.yml',
  ...fs.readdirSync(rel('infra/grafana/provisioning/datasources')).map((f) => `infra/grafana/provisioning/datasources/${f}`),
  ...fs.readdirSync(rel('infra/grafana/provisioning/dashboards')).map((f) => `infra/grafana/provisioning/dashboards/${f}`),
];
const parsed = parseYaml(YAML_FILES);
if (!parsed) {
  // eslint-disable-next-line no-console
  console.warn('python3 with PyYAML not found: SKIPPING the YAML checks of infra/ (Debian/Ubuntu: apt-get install python3-yaml)');
}
const withYaml = parsed ? describe : describe.skip;

/* eslint-disable @typescript-eslint/no-explicit-any */
const docs = (file: string) => (parsed![file] ?? []).filter(Boolean) as any[];
const k8sObjects = () => K8S.filter((f) => !f.endsWith('kustomization.yaml')).flatMap((f) => docs(f).map((d) => ({ file: f, ...d })));
const shapeKeys = (schema: unknown) => Object.keys((schema as { shape: Record<string, unknown> }).shape);
const sandboxEnvKeys = () => [...read('apps/sandbox/src/config.ts').matchAll(/^\s+(SANDBOX_[A-Z0-9_]+):/gm)].map((m) => m[1]);

withYaml('infra YAML', () => {
  test('every file parses', () => {
    for (const f of YAML_FILES) expect({ f, docs: docs(f).length > 0 }).toEqual({ f, docs: true });
  });

  test('Kubernetes: namespace-agnostic objects, each listed in kustomization.yaml', () => {
    const objects = k8sObjects();
    for (const o of objects) {
      expect(o.apiVersion).toEqual(expect.any(String));
      expect(o.kind).toEqual(expect.any(String));
      expect(o.metadata?.name).toEqual(expect.any(String));
      expect({ name: o.metadata.name, namespace: o.metadata.namespace }).toEqual({ name: o.metadata.name, namespace: undefined });
    }
    const kustomization = docs('infra/k8s/kustomization.yaml')[0];
    expect([...kustomization.resources].sort()).toEqual(K8S.filter((f) => !f.endsWith('kustomization.yaml')).map((f) => path.basename(f)).sort());
  });

  test('Kubernetes: Deployments for api/worker-apns/worker-gcm with probes, grace above the shutdown timeout, resources, Service and PDB', () => {
    const objects = k8sObjects();
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'pushfleet-config');
    const shutdownMs = Number(config.data.SHUTDOWN_TIMEOUT_MS);
    expect(shutdownMs).toBeGreaterThan(0);
    const expected: Record<string, { port: number; main: string }> = {
      api: { port: 9100, main: 'apps/api/dist/main.js' }, // the ops port: probes and /metrics
      'worker-apns': { port: 9101, main: 'apps/worker-apns/dist/main.js' },
      'worker-gcm': { port: 9102, main: 'apps/worker-gcm/dist/main.js' },
    };
    for (const [name, { port, main }] of Object.entries(expected)) {
      const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
      expect(d).toBeDefined();
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      expect(c.command).toEqual(['node', main]);
      expect(fs.existsSync(rel(main.replace('/dist/', '/src/').replace(/\.js$/, '.ts')))).toBe(true);
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      const portOf = (p: number | string) => (typeof p === 'number' ? p : c.ports.find((x: any) => x.name === p).containerPort);
      expect(portOf(c.livenessProbe.httpGet.port)).toBe(port);
      expect(portOf(c.readinessProbe.httpGet.port)).toBe(port);
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(shutdownMs + 15_000);
      expect(c.resources.requests.cpu).toBeDefined();
      expect(c.resources.requests.memory).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      // Deployment selector matches its pods; a Service and a PDB select them too.
      const podLabels = d.spec.template.metadata.labels;
      const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
      expect(selects(d.spec.selector.matchLabels)).toBe(true);
      const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
      expect(selects(svc.spec.selector)).toBe(true);
      const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === name);
      expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
      // Metrics scrape annotations point at the port that serves /metrics.
      expect(d.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(port));
    }
  });

  test('Kubernetes: a KEDA prometheus ScaledObject per worker on its queue backlog', () => {
    const objects = k8sObjects();
    for (const system of ['apns', 'gcm']) {
      const so = objects.find((o) => o.kind === 'ScaledObject' && o.spec.scaleTargetRef.name === `worker-${system}`);
      expect(so).toBeDefined();
      expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      const trigger = so.spec.triggers[0];
      expect(trigger.type).toBe('prometheus');
      // Summed over every queue partition, each counted once however many API replicas export it.
      expect(trigger.metadata.query).toContain(`sum(max by (partition, state) (pushfleet_queue_jobs{queue="${system}",state=~"waiting|prioritized"}))`);
      expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
    }
  });

  test('Kubernetes: env and config keys are variables the processes read', () => {
    const objects = k8sObjects();
    const known = new Set([...shapeKeys(apiEnvSchema), ...shapeKeys(apnsWorkerEnvSchema), ...shapeKeys(gcmWorkerEnvSchema), 'NODE_OPTIONS']);
    const config = objects.find((o) => o.kind === 'ConfigMap');
    expect(Object.keys(config.data).filter((k) => !known.has(k))).toEqual([]);
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      const names = (d.spec.template.spec.containers[0].env ?? []).map((e: any) => e.name);
      expect(names.filter((k: string) => !known.has(k))).toEqual([]);
    }
  });

  test('compose: the services, Redis with AOF and noeviction, two APNs workers, mounts that exist', () => {
    const compose = docs('infra/compose.yaml')[0];
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(expect.arrayContaining(['api', 'grafana', 'prometheus', 'redis', 'sandbox', 'worker-apns', 'worker-gcm']));
    const redisCmd = s.redis.command.join(' ');
    expect(redisCmd).toMatch(/--appendonly yes/);
    expect(redisCmd).toMatch(/--maxmemory-policy noeviction/);
    expect(s.redis.image).toMatch(/^redis:7/);
    expect(s['worker-apns'].deploy.replicas).toBe(2);
    const commands: Record<string, string> = {
      api: 'apps/api/dist/main.js', 'worker-apns': 'apps/worker-apns/dist/main.js', 'worker-gcm': 'apps/worker-gcm/dist/main.js', sandbox: 'apps/sandbox/dist/main.js',
    };
    for (const [name, main] of Object.entries(commands)) {
      expect(s[name].command).toEqual(['node', main]);
      expect(s[name].build.dockerfile).toBe('infra/docker/Dockerfile');
      expect(fs.existsSync(path.resolve(rel('infra'), s[name].build.context, s[name].build.dockerfile))).toBe(true);
      expect(s[name].init).toBe(true);
    }
    // Bind mounts (./...) point at files in the repository.
    for (const [name, svc] of Object.entries<any>(s)) {
      for (const v of svc.volumes ?? []) {
        const src = String(v).split(':')[0];
        if (src.startsWith('.')) expect({ name, src, exists: fs.existsSync(path.resolve(rel('infra'), src)) }).toEqual({ name, src, exists: true });
      }
    }
    // Prometheus scrapes what compose runs, on the ports the processes listen on.
    const prom = docs('infra/prometheus/prometheus.yml')[0];
    const targets = Object.fromEntries(prom.scrape_configs.filter((c: any) => c.dns_sd_configs).map((c: any) => [c.job_name, c.dns_sd_configs[0]]));
    expect(targets.api).toMatchObject({ names: ['api'], port: Number(s.api.environment.OPS_PORT) });
    expect(Number(s.api.environment.OPS_PORT)).not.toBe(Number(s.api.environment.PORT));
    expect(targets['worker-apns']).toMatchObject({ names: ['worker-apns'], port: Number(s['worker-apns'].environment.METRICS_PORT) });
    expect(targets['worker-gcm']).toMatchObject({ names: ['worker-gcm'], port: Number(s['worker-gcm'].environment.METRICS_PORT) });
  });

  test('compose: shutdown grace above SHUTDOWN_TIMEOUT_MS; every env var is one the process reads', () => {
    const s = docs('infra/compose.yaml')[0].services;
    for (const name of ['worker-apns', 'worker-gcm']) {
      const grace = Number(/^(\d+)s$/.exec(s[name].stop_grace_period)![1]) * 1000;
      expect(grace).toBeGreaterThan(Number(s[name].environment.SHUTDOWN_TIMEOUT_MS));
    }
    const known: Record<string, string[]> = {
      api: shapeKeys(apiEnvSchema),
      'worker-apns': shapeKeys(apnsWorkerEnvSchema),
      'worker-gcm': shapeKeys(gcmWorkerEnvSchema),
      sandbox: sandboxEnvKeys(),
    };
    expect(known.sandbox.length).toBeGreaterThan(5);
    for (const [name, keys] of Object.entries(known)) {
      const unknown = Object.keys(s[name].environment).filter((k) => !keys.includes(k));
      expect({ name, unknown }).toEqual({ name, unknown: [] });
    }
  });

  test('Grafana provisioning: the datasource uid the dashboard uses, the dashboards folder compose mounts', () => {
    const ds = docs('infra/grafana/provisioning/datasources/prometheus.yaml')[0].datasources[0];
    const dash = JSON.parse(read('infra/grafana/dashboards/pushfleet.json'));
    // Panels name the datasource through the dashboard's `datasource` variable; it defaults to the provisioned uid.
    const uids = new Set(dash.panels.filter((p: any) => p.datasource).map((p: any) => p.datasource.uid));
    expect([...uids]).toEqual(['${datasource}']);
    expect(dash.templating.list.find((v: any) => v.name === 'datasource')?.current?.value).toBe(ds.uid);
    const provider = docs('infra/grafana/provisioning/dashboards/pushfleet.yaml')[0].providers[0];
    const compose = docs('infra/compose.yaml')[0];
    expect(compose.services.grafana.volumes).toContain(`./grafana/dashboards:${provider.options.path}:ro`);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('infra/docker/Dockerfile');

  test('multi-stage: build with npm ci + npm run build, run on node:24-bookworm-slim with production deps as a non-root user', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS build$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    expect(dockerfile).toMatch(/npm ci --no-audit --no-fund && npm run build/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "apps\/api\/dist\/main\.js"\]$/m);
    // The runtime image keeps every workspace: each must have a package.json to copy.
    for (const dir of ['packages', 'apps']) {
      for (const ws of fs.readdirSync(rel(dir))) expect(fs.existsSync(rel(`${dir}/${ws}/package.json`))).toBe(true);
    }
    expect(fs.existsSync(rel('infra/docker/Dockerfile.dockerignore'))).toBe(true);
  });
});
