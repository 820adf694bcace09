import { createPrivateKey, KeyObject, X509Certificate } from 'node:crypto';

/**
 * Loading APNs credentials with node:crypto. Every message names the file and the problem from a small
 * closed set, never the file's contents nor a crypto library's message about them: a p8 key pasted into
 * the wrong file must not end up in stderr, a log or a crash report.
 */
export class CredentialError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CredentialError';
  }
}

/** The label of the first PEM block ("PRIVATE KEY", "CERTIFICATE"), or undefined when the text is not PEM. */
function pemLabel(text: string): string | undefined {
  return /-----BEGIN ([A-Z0-9 ]{1,40})-----/.exec(text)?.[1];
}

function privateKey(pem: string, file: string, passphrase?: string): KeyObject {
  const label = pemLabel(pem);
  if (label === undefined) throw new CredentialError(file, 'not a PEM file (expected a "-----BEGIN PRIVATE KEY-----" block)');
  if (!label.endsWith('PRIVATE KEY')) throw new CredentialError(file, `the PEM block is "${label}", not a private key`);
  try {
    return createPrivateKey(passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase });
  } catch {
    throw new CredentialError(file, label.includes('ENCRYPTED') || passphrase !== undefined
      ? 'the private key cannot be read (damaged, or the passphrase is wrong or missing)'
      : 'the PEM block is not a readable private key (damaged or truncated)');
  }
}

/** The p8 key Apple issues for provider tokens: PEM, an EC key on P-256 (ES256). */
export function loadApnsSigningKey(pem: string, file: string): KeyObject {
  const key = privateKey(pem, file);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    const found = key.asymmetricKeyType === 'ec' ? `EC on ${curve ?? 'an unknown curve'}` : (key.asymmetricKeyType ?? 'unknown').toUpperCase();
    throw new CredentialError(file, `not an EC P-256 key (found ${found}); APNs provider tokens are signed with ES256`);
  }
  return key;
}

/** Apple's "Apple Push Notification service SSL (Sandbox)" / "(Production)" extension OIDs, DER-encoded. */
const OID_DEVELOPMENT = Buffer.from('060a2a864886f76364060301', 'hex'); // 1.2.840.113635.100.6.3.1
const OID_PRODUCTION = Buffer.from('060a2a864886f76364060302', 'hex'); // 1.2.840.113635.100.6.3.2

export interface ApnsCertificate {
  cert: X509Certificate;
  /** Which APNs environments the certificate is valid for. */
  production: boolean;
  development: boolean;
}

/** A PEM client certificate and its private key: both readable, matching each other, not expired. */
export function loadApnsCertificate(
  c: { certPem: string; keyPem: string; passphrase?: string },
  files: { cert: string; key: string },
  now = Date.now(),
): ApnsCertificate {
  if (pemLabel(c.certPem) !== 'CERTIFICATE') throw new CredentialError(files.cert, 'not a PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(c.certPem);
  } catch {
    throw new CredentialError(files.cert, 'the PEM block is not a readable X.509 certificate');
  }
  const key = privateKey(c.keyPem, files.key, c.passphrase);
  if (!cert.checkPrivateKey(key)) throw new CredentialError(files.key, `the private key does not belong to the certificate in ${files.cert}`);
  if (Date.parse(cert.validTo) < now) throw new CredentialError(files.cert, `the certificate expired on ${new Date(cert.validTo).toISOString()}`);
  return { cert, production: cert.raw.includes(OID_PRODUCTION), development: cert.raw.includes(OID_DEVELOPMENT) };
}
