import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import forge from 'node-forge';

/**
 * The sandbox's own little PKI: one CA that signs the TLS server certificate (APNs and Google ports) and,
 * on request, APNs-style client certificates for certificate-based auth. Keys are generated with
 * node:crypto (fast) and certificates are built and signed with node-forge.
 */

const OID_UID = '0.9.2342.19200300.100.1.1';
/** Apple's "Apple Push Notification service SSL (Sandbox)" / "(Production)" certificate extensions. */
export const OID_APNS_DEVELOPMENT = '1.2.840.113635.100.6.3.1';
export const OID_APNS_PRODUCTION = '1.2.840.113635.100.6.3.2';
const DER_NULL = '\x05\x00';

export interface CaMaterial {
  caCertPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

function rsaKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    // PKCS#1 ("BEGIN RSA PRIVATE KEY"): what node-forge and @parse/node-apn parse most readily.
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function serial(): string {
  // Positive 16-byte serial (leading nibble < 8 keeps the DER integer positive).
  const b = crypto.randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000); // tolerate a little clock skew
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
}

function createCa(): { certPem: string; keyPem: string } {
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serial();
  validity(cert, 3650);
  const attrs = [{ name: 'commonName', value: 'pushfleet sandbox CA' }, { name: 'organizationName', value: 'pushfleet' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

function altName(name: string): { type: number; value?: string; ip?: string } {
  return net.isIP(name) ? { type: 7, ip: name } : { type: 2, value: name };
}

function createServerCert(caCertPem: string, caKeyPem: string, names: string[]): { certPem: string; keyPem: string } {
  const ca = forge.pki.certificateFromPem(caCertPem);
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serial();
  validity(cert, 825);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }, { name: 'organizationName', value: 'pushfleet sandbox' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map(altName) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(caKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** DNS names and IPs present in a certificate's subjectAltName. */
function certificateNames(certPem: string): Set<string> {
  const x = new crypto.X509Certificate(certPem);
  const out = new Set<string>();
  for (const part of (x.subjectAltName ?? '').split(',')) {
    const m = /^\s*(DNS|IP Address):(.*)$/.exec(part);
    if (m) out.add(m[2].trim().toLowerCase());
  }
  return out;
}

function normaliseIp(name: string): string {
  // X509Certificate prints ::1 as "0:0:0:0:0:0:0:1"; compare in a canonical form.
  if (net.isIPv6(name)) {
    return name === '::1' ? '0:0:0:0:0:0:0:1' : name.toLowerCase();
  }
  return name.toLowerCase();
}

function certStillGood(certPem: string, caCertPem: string, names: string[]): boolean {
  try {
    const x = new crypto.X509Certificate(certPem);
    const ca = new crypto.X509Certificate(caCertPem);
    if (!x.checkIssued(ca) || !x.verify(ca.publicKey)) return false;
    if (new Date(x.validTo).getTime() < Date.now() + 7 * 24 * 3600 * 1000) return false;
    const have = certificateNames(certPem);
    return names.every((n) => have.has(normaliseIp(n)) || have.has(n.toLowerCase()));
  } catch {
    return false;
  }
}

function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

/**
 * Loads the CA and server certificate from `dataDir` when they are there (and still valid for `names`),
 * otherwise creates what is missing and writes it: ca.pem (the file clients trust), ca-key.pem,
 * server.pem, server-key.pem.
 */
export function loadOrCreatePki(dataDir: string, names: string[], opts: { reuseGenerated?: boolean } = {}): CaMaterial & { caFile: string } {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = (n: string) => path.join(dataDir, n);
  const memoKey = names.join(',');
  const memo = opts.reuseGenerated ? generated.get(memoKey) : undefined;
  const read = (n: string): string | undefined => {
    if (fs.existsSync(file(n))) return fs.readFileSync(file(n), 'utf8');
    if (memo === undefined) return undefined;
    // A throwaway data dir in a process that already made a PKI for these names: reuse it (RSA keygen is the slow part).
    const v = ({ 'ca.pem': memo.caCertPem, 'ca-key.pem': memo.caKeyPem, 'server.pem': memo.serverCertPem, 'server-key.pem': memo.serverKeyPem } as Record<string, string>)[n];
    if (v !== undefined) writeAtomic(file(n), v, n.endsWith('key.pem') ? 0o600 : 0o644);
    return v;
  };
  let caCertPem = read('ca.pem');
  let caKeyPem = read('ca-key.pem');
  if (!caCertPem || !caKeyPem) {
    const ca = createCa();
    caCertPem = ca.certPem;
    caKeyPem = ca.keyPem;
    writeAtomic(file('ca-key.pem'), caKeyPem, 0o600);
    writeAtomic(file('ca.pem'), caCertPem, 0o644);
  }
  let serverCertPem = read('server.pem');
  let serverKeyPem = read('server-key.pem');
  if (!serverCertPem || !serverKeyPem || !certStillGood(serverCertPem, caCertPem, names)) {
    const srv = createServerCert(caCertPem, caKeyPem, names);
    serverCertPem = srv.certPem;
    serverKeyPem = srv.keyPem;
    writeAtomic(file('server-key.pem'), serverKeyPem, 0o600);
    writeAtomic(file('server.pem'), serverCertPem, 0o644);
  }
  if (opts.reuseGenerated) generated.set(memoKey, { caCertPem, caKeyPem, serverCertPem, serverKeyPem });
  return { caCertPem, caKeyPem, serverCertPem, serverKeyPem, caFile: file('ca.pem') };
}

const generated = new Map<string, CaMaterial>();

export type ApnsEnvironment = 'production' | 'development';

export interface ClientCertificateOptions {
  /** The bundle id the certificate is for (subject UID, and CN "Apple Push Services: <topic>"). */
  topic: string;
  /** Which APNs environments the certificate is valid for (Apple's 6.3.1 / 6.3.2 extensions). Default both. */
  environments?: ApnsEnvironment[];
  /** Validity in days (default 365). A negative value yields an already-expired certificate. */
  validDays?: number;
}

let clientKeys: { privateKeyPem: string; publicKeyPem: string } | undefined;

/**
 * Issues an APNs-style client certificate signed by the given CA. Certificates issued by one process share
 * one RSA key pair: the sandbox identifies a client by what its certificate says, and RSA key generation
 * is what makes issuing slow.
 */
export function issueClientCertificateWithCa(caCertPem: string, caKeyPem: string, opts: ClientCertificateOptions): { certPem: string; keyPem: string } {
  const ca = forge.pki.certificateFromPem(caCertPem);
  const keys = (clientKeys ??= rsaKeyPair());
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serial();
  const days = opts.validDays ?? 365;
  if (days >= 0) {
    validity(cert, days);
  } else {
    cert.validity.notBefore = new Date(Date.now() - 400 * 24 * 3600 * 1000);
    cert.validity.notAfter = new Date(Date.now() + days * 24 * 3600 * 1000);
  }
  cert.setSubject([
    { type: OID_UID, value: opts.topic },
    { name: 'commonName', value: `Apple Push Services: ${opts.topic}` },
    { name: 'organizationName', value: 'pushfleet sandbox client' },
  ]);
  cert.setIssuer(ca.subject.attributes);
  const envs = opts.environments ?? ['production', 'development'];
  const exts: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ];
  // Apple marks these critical; OpenSSL would then refuse the unknown extension, so they are not here.
  if (envs.includes('development')) exts.push({ id: OID_APNS_DEVELOPMENT, value: DER_NULL });
  if (envs.includes('production')) exts.push({ id: OID_APNS_PRODUCTION, value: DER_NULL });
  cert.setExtensions(exts);
  cert.sign(forge.pki.privateKeyFromPem(caKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** What the APNs server needs to know about a verified client certificate. */
export interface ClientCertificateInfo {
  topic: string;
  production: boolean;
  development: boolean;
}

/** Reads the topic and environments from a DER client certificate (as seen on the TLS socket). */
export function clientCertificateInfo(raw: Buffer): ClientCertificateInfo | undefined {
  try {
    const cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(raw.toString('binary'))));
    const uid = cert.subject.getField({ type: OID_UID }) as { value?: string } | null;
    const cn = cert.subject.getField('CN') as { value?: string } | null;
    const topic = uid?.value ?? cn?.value?.replace(/^Apple (Development |Production )?(IOS )?Push Services: /i, '');
    if (!topic) return undefined;
    return {
      topic,
      development: (cert.extensions as { id?: string }[]).some((e) => e.id === OID_APNS_DEVELOPMENT),
      production: (cert.extensions as { id?: string }[]).some((e) => e.id === OID_APNS_PRODUCTION),
    };
  } catch {
    return undefined;
  }
}

function randomKeyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const b = crypto.randomBytes(10);
  let s = '';
  for (let i = 0; i < 10; i++) s += alphabet[b[i] % alphabet.length];
  return s;
}

/** A fresh APNs auth key: a P-256 key pair, the private half as a `.p8` (PKCS#8 "BEGIN PRIVATE KEY"). */
export function generateApnsKey(opts: { keyId?: string; teamId?: string } = {}): { keyId: string; teamId: string; privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    keyId: opts.keyId ?? randomKeyId(),
    teamId: opts.teamId ?? randomKeyId(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export interface GeneratedServiceAccount {
  /** Shaped like a Google service-account key file. */
  json: {
    type: 'service_account';
    project_id: string;
    private_key_id: string;
    private_key: string;
    client_email: string;
    client_id: string;
    auth_uri: string;
    token_uri: string;
  };
  publicKeyPem: string;
  clientEmail: string;
  projectId: string;
}

/** A fresh Google service account (RSA 2048) whose OAuth grants the sandbox token endpoint accepts once registered. */
export function generateServiceAccount(opts: { projectId: string; tokenUri: string; clientEmail?: string }): GeneratedServiceAccount {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = opts.clientEmail ?? `sandbox-${crypto.randomBytes(3).toString('hex')}@${opts.projectId}.iam.gserviceaccount.com`;
  return {
    json: {
      type: 'service_account',
      project_id: opts.projectId,
      private_key_id: crypto.randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: clientEmail,
      client_id: String(BigInt('0x' + crypto.randomBytes(8).toString('hex'))),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: opts.tokenUri,
    },
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    clientEmail,
    projectId: opts.projectId,
  };
}
