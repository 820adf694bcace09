import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { issueClientCertificateWithCa, loadOrCreatePki } from '../../../apps/sandbox/src/pki';
import { CredentialError, loadApnsCertificate, loadApnsSigningKey } from './apns-credentials';
import { loadPushApps } from './push-apps';
import { ConfigError } from './env';

const SECRET = 'TOPSECRETKEYMATERIAL-5f2c';
const FILE = '/etc/pushfleet/AuthKey_ABC123DEFG.p8';
const pem = (key: crypto.KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const ecKey = (namedCurve: string) => pem(crypto.generateKeyPairSync('ec', { namedCurve }).privateKey);

/** The error `load` throws, checked to be an `E`. */
function thrown<E extends Error>(type: new (...a: never[]) => E, load: () => unknown): E {
  try {
    load();
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as E;
  }
  throw new Error(`expected a ${type.name}`);
}
const problem = (load: () => unknown) => thrown(CredentialError, load).message;
const configProblems = (load: () => unknown) => thrown(ConfigError, load).problems;

describe('loadApnsSigningKey', () => {
  it('loads an EC P-256 p8 key', () => {
    const key = loadApnsSigningKey(ecKey('prime256v1'), FILE);
    expect([key.type, key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve]).toEqual(['private', 'ec', 'prime256v1']);
  });

  it.each([
    ['not PEM at all (the base64 body alone)', `MIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg${SECRET}`, 'not a PEM file'],
    ['a PEM block of another kind', `-----BEGIN CERTIFICATE-----\n${SECRET}\n-----END CERTIFICATE-----\n`, 'the PEM block is "CERTIFICATE", not a private key'],
    ['a damaged PEM key', `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n`, 'not a readable private key'],
  ])('refuses %s, naming the file and never quoting the contents', (_what, contents, expected) => {
    const msg = problem(() => loadApnsSigningKey(contents, FILE));
    expect(msg.startsWith(`${FILE}: `)).toBe(true);
    expect(msg).toContain(expected);
    expect(msg).not.toContain(SECRET);
    expect(msg).not.toContain('MIGT');
  });

  it('refuses keys that cannot sign ES256', () => {
    expect(problem(() => loadApnsSigningKey(ecKey('secp384r1'), FILE))).toBe(`${FILE}: not an EC P-256 key (found EC on secp384r1); APNs provider tokens are signed with ES256`);
    const rsa = pem(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
    expect(problem(() => loadApnsSigningKey(rsa, FILE))).toContain('not an EC P-256 key (found RSA)');
  });
});

describe('loadApnsCertificate', () => {
  const pki = loadOrCreatePki(fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-pki-')), ['localhost'], { reuseGenerated: true });
  const files = { cert: '/etc/apns/cert.pem', key: '/etc/apns/key.pem' };
  const issue = (o: Parameters<typeof issueClientCertificateWithCa>[2]) => issueClientCertificateWithCa(pki.caCertPem, pki.caKeyPem, o);

  it('reads a client certificate and the environments it covers', () => {
    const both = loadApnsCertificate(issue({ topic: 'de.cospace.app' }), files);
    expect([both.production, both.development]).toEqual([true, true]);
    const dev = loadApnsCertificate(issue({ topic: 'de.cospace.app', environments: ['development'] }), files);
    expect([dev.production, dev.development]).toEqual([false, true]);
  });

  it('refuses a certificate file that is not PEM, a key of another certificate, an expired certificate', () => {
    const good = issue({ topic: 'de.cospace.app' });
    expect(problem(() => loadApnsCertificate({ ...good, certPem: SECRET }, files))).toBe(`${files.cert}: not a PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)`);
    expect(problem(() => loadApnsCertificate({ ...good, keyPem: SECRET }, files))).toContain(`${files.key}: not a PEM file`);
    expect(problem(() => loadApnsCertificate({ ...good, keyPem: ecKey('prime256v1') }, files))).toBe(`${files.key}: the private key does not belong to the certificate in ${files.cert}`);
    expect(problem(() => loadApnsCertificate(issue({ topic: 'de.cospace.app', validDays: -1 }), files))).toMatch(/^\/etc\/apns\/cert\.pem: the certificate expired on /);
  });
});

describe('loadPushApps checks credentials at start-up', () => {
  it('lists every unusable credential file by name, never its contents', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-apps-'));
    fs.writeFileSync(path.join(dir, 'AuthKey_ABC123DEFG.p8'), `${SECRET}\n`);
    fs.writeFileSync(path.join(dir, 'AuthKey_OTHER00000.p8'), ecKey('secp384r1'));
    const token = (key_file: string) => ({ key_file, key_id: 'ABC123DEFG', team_id: '39JSDKGJ38' });
    fs.writeFileSync(path.join(dir, 'apps.json'), JSON.stringify({ apns: { apps: [
      { application_id: '39JSDKGJ38.de.cospace.app', token: token('AuthKey_ABC123DEFG.p8') },
      { application_id: '39JSDKGJ38.de.cospace.other', token: token('AuthKey_OTHER00000.p8') },
    ] } }));
    expect(configProblems(() => loadPushApps(path.join(dir, 'apps.json')))).toEqual([
      `PUSH_APPS_FILE 39JSDKGJ38.de.cospace.app token.key_file: ${path.join(dir, 'AuthKey_ABC123DEFG.p8')}: not a PEM file (expected a "-----BEGIN PRIVATE KEY-----" block)`,
      `PUSH_APPS_FILE 39JSDKGJ38.de.cospace.other token.key_file: ${path.join(dir, 'AuthKey_OTHER00000.p8')}: not an EC P-256 key (found EC on secp384r1); APNs provider tokens are signed with ES256`,
    ]);
  });

  it('does not quote a PUSH_APPS_FILE that is not JSON (a key pasted into the wrong file)', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-apps-')), 'apps.json');
    fs.writeFileSync(file, SECRET);
    expect(configProblems(() => loadPushApps(file))).toEqual([`PUSH_APPS_FILE (${file}): not valid JSON`]);
  });
});
