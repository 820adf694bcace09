import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { generateApnsKey, generateServiceAccount } from '@pushfleet/sandbox';

export const DEMO_APP_ID = '39JSDKGJ38.de.cospace.app';
/** The `iss` / `aud` of the demo's user JWTs, required by the API (AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE). */
export const DEMO_JWT_ISSUER = 'https://id.pushfleet.local';
export const DEMO_JWT_AUDIENCE = 'pushfleet';
/** The API's /metrics and /readyz in the demo (OPS_PORT; the workers use 9101 and 9102). */
export const DEMO_API_OPS_PORT = 9100;
export const DEMO_FCM_PROJECT = 'pushfleet-demo';

export interface DemoSecrets {
  jwtSecret: string;
  internalToken: string;
  adminToken: string;
  gcmApiKey: string;
  userId: string;
  pushAppsFile: string;
  apnsKey: { keyId: string; teamId: string; publicKeyPem: string };
}

/**
 * Fresh secrets for a local run: an HS256 secret for user JWTs, an internal token, an admin token, a GCM
 * key and an APNs p8 key registered with the sandbox. Written under `dir` (git-ignored), never logged.
 */
export function createDemoSecrets(dir: string): DemoSecrets {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = generateApnsKey({ keyId: 'DEMOKEY123', teamId: '39JSDKGJ38' });
  const keyFile = path.join(dir, `AuthKey_${key.keyId}.p8`);
  fs.writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
  const pushAppsFile = path.join(dir, 'push-apps.json');
  fs.writeFileSync(pushAppsFile, JSON.stringify({
    apns: { apps: [{ application_id: DEMO_APP_ID, token: { key_file: path.basename(keyFile), key_id: key.keyId, team_id: key.teamId } }] },
  }, null, 2));
  return {
    jwtSecret: randomBytes(32).toString('base64url'),
    internalToken: `pfi_${randomBytes(24).toString('base64url')}`,
    adminToken: `pfa_${randomBytes(24).toString('base64url')}`,
    gcmApiKey: `AIza${randomBytes(20).toString('base64url')}`,
    userId: randomUUID(),
    pushAppsFile,
    apnsKey: { keyId: key.keyId, teamId: key.teamId, publicKeyPem: key.publicKeyPem },
  };
}

/** The API's user-JWT settings for the demo secrets. */
export function demoAuthEnv(secrets: DemoSecrets): Record<string, string> {
  return { AUTH_JWT_SECRET: secrets.jwtSecret, AUTH_JWT_ISSUER: DEMO_JWT_ISSUER, AUTH_JWT_AUDIENCE: DEMO_JWT_AUDIENCE };
}

/** A user JWT the demo API accepts: 24 h, the API's default AUTH_MAX_TOKEN_AGE_SECONDS. */
export async function demoUserToken(secrets: DemoSecrets, userId = secrets.userId, lifetime = '24h'): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuer(DEMO_JWT_ISSUER).setAudience(DEMO_JWT_AUDIENCE)
    .setIssuedAt().setExpirationTime(lifetime).sign(new TextEncoder().encode(secrets.jwtSecret));
}

/**
 * A fresh Google service account for FCM HTTP v1 whose OAuth grants the sandbox's token endpoint
 * (`tokenUri`) accepts once `publicKeyPem` is registered: the key file is written under `dir` (mode 0600,
 * git-ignored), as an operator would download it from the Google Cloud console.
 */
export function createDemoServiceAccount(dir: string, tokenUri: string): { file: string; clientEmail: string; publicKeyPem: string; projectId: string } {
  const account = generateServiceAccount({ projectId: DEMO_FCM_PROJECT, tokenUri });
  const file = path.join(dir, 'fcm-service-account.json');
  fs.writeFileSync(file, JSON.stringify(account.json, null, 2), { mode: 0o600 });
  return { file, clientEmail: account.clientEmail, publicKeyPem: account.publicKeyPem, projectId: account.projectId };
}

/** The running fleet's connection settings, for the operator CLI (scripts/lib/cli-env.ts reads them). */
export function writeFleetEnv(stateDir: string, vars: Record<string, string>): string {
  const file = path.join(stateDir, 'env');
  const lines = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  fs.writeFileSync(file, `# written by npm start for npm run cli; removed when the fleet stops\n${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}
