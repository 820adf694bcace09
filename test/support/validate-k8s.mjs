// Validates Kubernetes objects (JSON array on stdin) against the OpenAPI schemas that kubernetes-models and
// @kubernetes-models/keda ship (offline, ajv inside). Prints [{kind, name, error}] as JSON. ESM: the
// packages are ESM-only, so the Jest test (test/ops-kit/infra-schemas.test.ts) runs this with node.
const MODULES = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
};

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const obj of JSON.parse(input)) {
  const name = obj?.metadata?.name;
  const mod = MODULES[obj?.apiVersion];
  let error = '';
  if (!mod) error = `no schema for apiVersion ${obj?.apiVersion}`;
  else {
    const Cls = (await import(mod))[obj.kind];
    if (!Cls) error = `no schema for ${obj.apiVersion} ${obj.kind}`;
    else {
      try {
        new Cls(obj).validate();
      } catch (e) {
        error = e.message;
      }
    }
  }
  results.push({ kind: obj?.kind, name, error });
}
process.stdout.write(JSON.stringify(results));
