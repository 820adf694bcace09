import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parseAllDocuments } from 'yaml';
import { which } from '../support/tools';

/**
 * infra/ against the schemas the real tools use, offline:
 * - the Kubernetes manifests as kustomize renders them, and the KEDA ScaledObjects, against the OpenAPI
 *   schemas kubernetes-models / @kubernetes-models/keda ship (test/support/validate-k8s.mjs);
 * - infra/compose.yaml against the Compose Specification's JSON schema (vendored: test/fixtures/compose-spec);
 * - the Grafana dashboard for what Grafana needs to import it.
 */

const ROOT = path.resolve(__dirname, '../..');
const rel = (p: string) => path.join(ROOT, p);
/* eslint-disable @typescript-eslint/no-explicit-any */
const yamlDocs = (file: string): any[] => parseAllDocuments(fs.readFileSync(rel(file), 'utf8'), { merge: true }).map((d) => d.toJS({ maxAliasCount: -1 })).filter(Boolean);

/**
 * `kustomize build infra/k8s` for what our kustomization uses (resources, images): the resources in
 * order, each container image named in `images` retagged. Checked against `kubectl kustomize` where
 * kubectl exists.
 */
function renderKustomization(dir: string): any[] {
  const k = yamlDocs(path.join(dir, 'kustomization.yaml'))[0];
  const known = new Set(['apiVersion', 'kind', 'resources', 'images']);
  expect(Object.keys(k).filter((key) => !known.has(key))).toEqual([]); // a new kustomize feature: render it here too
  const images = new Map<string, { newName?: string; newTag?: string }>((k.images ?? []).map((i: any) => [i.name, i]));
  const retag = (image: string) => {
    const [name, tag] = image.split(':');
    const i = images.get(name);
    return i ? `${i.newName ?? name}:${i.newTag ?? tag}` : image;
  };
  return (k.resources as string[]).flatMap((r) => yamlDocs(path.join(dir, r))).map((o) => {
    for (const c of o.spec?.template?.spec?.containers ?? []) c.image = retag(c.image);
    return o;
  });
}

function validateK8s(objects: unknown[]): { kind: string; name: string; error: string }[] {
  const r = spawnSync(process.execPath, [rel('test/support/validate-k8s.mjs')], { cwd: ROOT, input: JSON.stringify(objects), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`validate-k8s.mjs failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('Kubernetes manifests (kustomize output) against the Kubernetes and KEDA schemas', () => {
  const objects = renderKustomization('infra/k8s');

  test('every object validates', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(expect.arrayContaining(['Deployment/api', 'Deployment/worker-apns', 'Deployment/worker-gcm', 'ScaledObject/worker-apns']));
    expect(validateK8s(objects).filter((r) => r.error)).toEqual([]);
  });

  test('the validator catches a broken manifest (a string port, a ScaledObject without target)', () => {
    const deployment = structuredClone(objects.find((o) => o.kind === 'Deployment'));
    deployment.spec.template.spec.containers[0].ports = [{ containerPort: 'http' }];
    const scaled = structuredClone(objects.find((o) => o.kind === 'ScaledObject'));
    delete scaled.spec.scaleTargetRef;
    const errors = validateK8s([deployment, scaled]).map((r) => r.error);
    expect(errors[0]).toMatch(/containerPort/);
    expect(errors[1]).toMatch(/scaleTargetRef/);
  });

  const kubectl = which('kubectl');
  (kubectl ? test : test.skip)('the rendering matches kubectl kustomize', () => {
    const r = spawnSync(kubectl!, ['kustomize', 'infra/k8s'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
    const key = (o: any) => `${o.kind}/${o.metadata.name}`;
    const sort = (xs: any[]) => [...xs].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sort(objects)).toEqual(sort(theirs));
  });
});

describe('infra/compose.yaml against the Compose Specification schema', () => {
  // Draft-07 (Ajv's default); the file names its meta-schema by an https URL Ajv does not know by that name.
  const { $schema, ...schema } = JSON.parse(fs.readFileSync(rel('test/fixtures/compose-spec/compose-spec.json'), 'utf8'));
  expect($schema).toMatch(/draft-07/);
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);

  test('it validates', () => {
    const ok = validate(yamlDocs('infra/compose.yaml')[0]);
    expect(ajv.errorsText(validate.errors)).toBe('No errors');
    expect(ok).toBe(true);
  });

  test('the schema catches a broken file (an unknown service key)', () => {
    const compose = yamlDocs('infra/compose.yaml')[0];
    compose.services.api.enviroment = { X: '1' };
    expect(validate(compose)).toBe(false);
  });
});

describe('Grafana dashboard: what an import needs', () => {
  const dash = JSON.parse(fs.readFileSync(rel('infra/grafana/dashboards/pushfleet.json'), 'utf8'));

  test('uid, title, a current schemaVersion; no fixed id', () => {
    expect(dash.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dash.title).toEqual(expect.any(String));
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(36); // Grafana 9+: datasource refs as {type, uid}
    expect(dash.id ?? null).toBeNull(); // an id would overwrite another dashboard on import
  });

  test('unique panel ids and grid positions that fit the 24-column grid', () => {
    const ids = dash.panels.map((p: any) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dash.panels) {
      expect({ id: p.id, ok: Number.isInteger(p.id) && p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24 }).toEqual({ id: p.id, ok: true });
    }
  });

  test('every query panel uses the datasource variable, declared in templating; every target has a refId', () => {
    const variable = dash.templating.list.find((v: any) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const p of dash.panels.filter((x: any) => x.targets)) {
      expect({ id: p.id, ds: p.datasource }).toEqual({ id: p.id, ds: { type: 'prometheus', uid: `\${${variable.name}}` } });
      const refIds = p.targets.map((t: any) => t.refId);
      expect({ id: p.id, refIds: new Set(refIds).size === refIds.length && refIds.every(Boolean) }).toEqual({ id: p.id, refIds: true });
    }
  });
});
