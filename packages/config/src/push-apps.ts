import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CredentialError, loadApnsCertificate, loadApnsSigningKey } from './apns-credentials';
import { ConfigError } from './env';

/** The application id as the spec means it: ten-character team id, a literal dot, the bundle id. */
export const APPLICATION_ID_RE = /^[a-zA-Z0-9]{10}\.[a-zA-Z0-9.-]{5,100}$/;

const tokenCredentialSchema = z.strictObject({
  key_file: z.string().min(1),
  key_id: z.string().regex(/^[A-Z0-9]{10}$/, 'a 10-character APNs key id'),
  team_id: z.string().regex(/^[A-Z0-9]{10}$/, 'a 10-character Apple team id'),
});
const certificateCredentialSchema = z.strictObject({
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  passphrase_env: z.string().optional(),
});
const apnsAppSchema = z
  .strictObject({
    application_id: z.string().regex(APPLICATION_ID_RE, 'team-id.bundle-id'),
    token: tokenCredentialSchema.optional(),
    certificate: certificateCredentialSchema.optional(),
  })
  .refine((a) => Boolean(a.token) !== Boolean(a.certificate), 'exactly one of token or certificate');
export const pushAppsFileSchema = z.strictObject({
  apns: z.strictObject({ apps: z.array(apnsAppSchema) }).default({ apps: [] }),
});

/** `keyFile`/`certFile`: where the PEM came from, for error messages (never the PEM itself). */
export type ApnsCredentials =
  | { kind: 'token'; keyPem: string; keyId: string; teamId: string; keyFile?: string }
  | { kind: 'certificate'; certPem: string; keyPem: string; passphrase?: string; certFile?: string; keyFile?: string };

export interface ApnsApp {
  applicationId: string;
  /** The bundle id part of the application id: the default APNs topic. */
  bundleId: string;
  credentials: ApnsCredentials;
}

export interface PushApps {
  apns: Map<string, ApnsApp>;
}

/**
 * Loads PUSH_APPS_FILE: the APNs apps this deployment knows. Credential paths are relative to the file.
 * Every credential file is read and checked now (a p8 key must be an EC P-256 PEM key; a certificate must
 * be PEM, match its key and not be expired), so a typo fails the start-up rather than the first push.
 * Problems name the file, never its contents.
 */
export function loadPushApps(file: string, env: Record<string, string | undefined> = {}): PushApps {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    // Not the parser's message: it quotes the start of the file, which could be a key pasted in by mistake.
    const why = e instanceof SyntaxError ? 'not valid JSON' : ((e as NodeJS.ErrnoException).code ?? 'cannot read');
    throw new ConfigError([`PUSH_APPS_FILE (${file}): ${why}`]);
  }
  const parsed = pushAppsFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `PUSH_APPS_FILE ${i.path.join('.')}: ${i.message}`));
  }
  const dir = path.dirname(path.resolve(file));
  const problems: string[] = [];
  const read = (p: string, what: string): string => {
    try {
      return fs.readFileSync(path.resolve(dir, p), 'utf8');
    } catch (e) {
      problems.push(`PUSH_APPS_FILE ${what}: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return '';
    }
  };
  const apns = new Map<string, ApnsApp>();
  for (const app of parsed.data.apns.apps) {
    const id = app.application_id;
    if (apns.has(id)) problems.push(`PUSH_APPS_FILE: application_id ${id} is listed twice`);
    const credentials = appCredentials(app, { dir, env, problems, read });
    apns.set(id, { applicationId: id, bundleId: id.slice(11), credentials });
  }
  if (problems.length) throw new ConfigError(problems);
  return { apns };
}

interface LoadContext {
  dir: string;
  env: Record<string, string | undefined>;
  problems: string[];
  read: (p: string, what: string) => string;
}

/** One app's credentials, read and checked; problems name the files, never their contents. */
function appCredentials(app: z.infer<typeof apnsAppSchema>, { dir, env, problems, read }: LoadContext): ApnsCredentials {
  const id = app.application_id;
  const check = (what: string, load: () => unknown) => {
    try {
      load();
    } catch (e) {
      problems.push(`PUSH_APPS_FILE ${id} ${what}: ${e instanceof CredentialError ? e.message : 'unusable credentials'}`);
    }
  };
  if (app.token) {
    const keyFile = path.resolve(dir, app.token.key_file);
    const keyPem = read(app.token.key_file, `${id} token.key_file`);
    if (keyPem) check('token.key_file', () => loadApnsSigningKey(keyPem, keyFile));
    return { kind: 'token', keyPem, keyId: app.token.key_id, teamId: app.token.team_id, keyFile };
  }
  const c = app.certificate!;
  const passphrase = c.passphrase_env ? env[c.passphrase_env] : undefined;
  if (c.passphrase_env && passphrase === undefined) problems.push(`PUSH_APPS_FILE ${id}: env ${c.passphrase_env} (certificate passphrase) is not set`);
  const files = { cert: path.resolve(dir, c.cert_file), key: path.resolve(dir, c.key_file) };
  const cert = { certPem: read(c.cert_file, `${id} certificate.cert_file`), keyPem: read(c.key_file, `${id} certificate.key_file`), passphrase };
  if (cert.certPem && cert.keyPem) check('certificate', () => loadApnsCertificate(cert, files));
  return { kind: 'certificate', ...cert, certFile: files.cert, keyFile: files.key };
}

export const noPushApps = (): PushApps => ({ apns: new Map() });
