import fs from 'node:fs';
import path from 'node:path';
import { OpsFleet, startOpsFleet } from './support/ops-fleet';

/**
 * The project brings its runtime (devDependency `node`, `.nvmrc`): every spawned fleet process must run on
 * it and say so on /metrics (prom-client's default `nodejs_version_info`, under the pushfleet_ prefix), the
 * way an operator checks a running fleet.
 */
const WANTED = fs.readFileSync(path.join(__dirname, '..', '.nvmrc'), 'utf8').trim();
const [major, minor, patch] = WANTED.split('.');

let fleet: OpsFleet;
beforeAll(async () => { fleet = await startOpsFleet('node-runtime'); }, 60_000);
afterAll(async () => { await fleet?.close(); });

test(`the test runner itself runs on Node ${WANTED}`, () => {
  expect(process.version).toBe(`v${WANTED}`);
});

test.each(['api', 'worker-apns', 'worker-gcm'] as const)(`%s process: pushfleet_nodejs_version_info says v${WANTED}`, async (job) => {
  const text = await (await fetch(`http://${fleet.metricsTargets[job]}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('pushfleet_nodejs_version_info{'));
  expect(line).toBeDefined();
  expect(line).toContain(`version="v${WANTED}"`);
  expect(line).toContain(`major="${major}"`);
  expect(line).toContain(`minor="${minor}"`);
  expect(line).toContain(`patch="${patch}"`);
  expect(line).toContain(`service="${job}"`);
});
