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

function appsWithKey(contents: string): { file: string; keyFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-badkey-'));
  const keyFile = path.join(dir, 'AuthKey_ABC123DEFG.p8');
  fs.writeFileSync(keyFile, contents);
  fs.writeFileSync(path.join(dir, 'apps.json'), JSON.stringify({ apns: { apps: [{ application_id: '39JSDKGJ38.de.cospace.app', token: { key_file: 'AuthKey_ABC123DEFG.p8', key_id: 'ABC123DEFG', team_id: '39JSDKGJ38' } }] } }));
  return { file: path.join(dir, 'apps.json'), keyFile };
}

test('an unusable p8 key in PUSH_APPS_FILE stops the worker at start-up (exit 78), not at the first push', async () => {
  const { file, keyFile } = appsWithKey('-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
  const { code, output } = await run({ PUSH_APPS_FILE: file, REDIS_URL: 'redis://127.0.0.1:1' });
  expect(code).toBe(78);
  expect(output).toContain(`39JSDKGJ38.de.cospace.app token.key_file: ${keyFile}: the PEM block is not a readable private key`);
});

test('a key file that is not PEM is named in the error, and its contents appear nowhere in the output', async () => {
  // Before: node-apn took non-PEM text for a path, and its ENOENT message (the whole key) went to stderr.
  const secret = 'MIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQgSECRETKEYMATERIAL7f3a';
  const { file, keyFile } = appsWithKey(`${secret}\n`);
  const { code, output } = await run({ PUSH_APPS_FILE: file, REDIS_URL: 'redis://127.0.0.1:1' });
  expect(code).toBe(78);
  expect(output).toContain(`${keyFile}: not a PEM file`);
  expect(output).not.toContain('SECRETKEYMATERIAL');
  expect(output).not.toContain('MIGTAgEA');
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
