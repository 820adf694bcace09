#!/usr/bin/env node
// Dev-only credentials for the compose stack (infra/compose.yaml, service `dev-credentials`): a fresh APNs
// signing key for one app, the PUSH_APPS_FILE that names it, the same key registered with the sandbox,
// and a Google service account for FCM HTTP v1 (token_uri: the sandbox's OAuth server) that the sandbox
// trusts. Written once into the shared volume; later runs keep what is there. Never use these files
// against Apple or Google: production credentials come from your secret store (infra/k8s).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2] || '/data/config';
const APP_ID = 'DEVTEAM001.com.example.pushfleet';
const KEY_ID = 'DEVKEY0001';
const TEAM_ID = 'DEVTEAM001';
const FCM_PROJECT = 'pushfleet-dev';
const TOKEN_URI = process.argv[3] || 'https://sandbox:4443/token';

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
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const account = {
  type: 'service_account',
  project_id: FCM_PROJECT,
  private_key_id: crypto.randomBytes(20).toString('hex'),
  private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  client_email: `pushfleet-dev@${FCM_PROJECT}.iam.gserviceaccount.com`,
  client_id: String(BigInt('0x' + crypto.randomBytes(8).toString('hex'))),
  token_uri: TOKEN_URI,
};
write('fcm-service-account.json', JSON.stringify(account, null, 2));
write('sandbox-fcm-service-accounts.json', JSON.stringify([{
  clientEmail: account.client_email, projectId: FCM_PROJECT,
  publicKeyPem: rsa.publicKey.export({ type: 'spki', format: 'pem' }),
}], null, 2));
console.log(JSON.stringify({ msg: 'dev credentials written', dir, applicationId: APP_ID, fcmProject: FCM_PROJECT }));
