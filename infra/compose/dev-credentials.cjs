#!/usr/bin/env node
// Dev-only credentials for the compose stack (infra/compose.yaml, service `dev-credentials`): a fresh APNs
// signing key for one app, the PUSH_APPS_FILE that names it, and the same key registered with the
// sandbox. Written once into the shared volume; later runs keep what is there. Never use these files
// against Apple or Google: production credentials come from your secret store (infra/k8s).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2] || '/data/config';
const APP_ID = 'DEVTEAM001.com.example.pushfleet';
const KEY_ID = 'DEVKEY0001';
const TEAM_ID = 'DEVTEAM001';

const pushApps = path.join(dir, 'push-apps.json');
if (fs.existsSync(pushApps)) {
  console.log(JSON.stringify({ msg: 'dev credentials already present', dir }));
  process.exit(0);
}
fs.mkdirSync(dir, { recursive: true });
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
const write = (name, content) => fs.writeFileSync(path.join(dir, name), content, { mode: 0o644 });
write('apns-dev-key.p8', privateKeyPem);
write('sandbox-apns-keys.json', JSON.stringify([{ keyId: KEY_ID, teamId: TEAM_ID, privateKeyPem }], null, 2));
write('push-apps.json', JSON.stringify({
  apns: { apps: [{ application_id: APP_ID, token: { key_file: 'apns-dev-key.p8', key_id: KEY_ID, team_id: TEAM_ID } }] },
}, null, 2));
console.log(JSON.stringify({ msg: 'dev credentials written', dir, applicationId: APP_ID }));
