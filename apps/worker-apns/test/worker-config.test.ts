import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProcess } from '../../../scripts/lib/processes';

// The compiled worker refuses bad configuration at start-up with every problem listed and exit code 78.
async function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const lines: string[] = [];
  const p = startProcess('worker-apns', 'apps/worker-apns/dist/main.js', env, { quiet: true, onLine: (l) => lines.push(l) });
  const code = await p.exited;
  return { code, output: lines.join('\n') };
}

test('an unusable p8 key in PUSH_APPS_FILE stops the worker at start-up (exit 78), not at the first push', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-badkey-'));
  fs.writeFileSync(path.join(dir, 'AuthKey_ABC123DEFG.p8'), '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
  fs.writeFileSync(path.join(dir, 'apps.json'), JSON.stringify({ apns: { apps: [{ application_id: '39JSDKGJ38.de.cospace.app', token: { key_file: 'AuthKey_ABC123DEFG.p8', key_id: 'ABC123DEFG', team_id: '39JSDKGJ38' } }] } }));
  const { code, output } = await run({ PUSH_APPS_FILE: path.join(dir, 'apps.json'), REDIS_URL: 'redis://127.0.0.1:1' });
  expect(code).toBe(78);
  expect(output).toContain('39JSDKGJ38.de.cospace.app: unusable APNs credentials');
});

test('every bad variable is reported at once', async () => {
  const { code, output } = await run({ APNS_CONCURRENCY: 'many', APNS_CA_FILE: '/nonexistent/ca.pem' });
  expect(code).toBe(78);
  expect(output).toContain('PUSH_APPS_FILE');
  expect(output).toContain('APNS_CONCURRENCY');
});

test('a bad EVENT_POLICIES is a configuration error at start-up, reported with the others', async () => {
  const { code, output } = await run({ EVENT_POLICIES: '{"fax_neu":{"ttlSeconds":60}}' });
  expect(code).toBe(78);
  expect(output).toContain('EVENT_POLICIES');
  expect(output).toContain('PUSH_APPS_FILE');
});
