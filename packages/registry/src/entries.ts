import type { TokenSystem } from './keys';

export interface ApnsEntry {
  deviceToken: string;
  applicationId: string;
  sandbox: boolean;
  /** Only when the app registered one; else the worker uses the application id's bundle id. */
  apnsTopic?: string;
  registeredAt: number;
}

export interface GcmEntry {
  registrationId: string;
  registeredAt: number;
}

export interface UserEntries {
  apns: ApnsEntry[];
  gcm: GcmEntry[];
}

/** An entry line as scripts.ts stores it (see there for the format). */
export interface EntryLine {
  active: boolean;
  system: TokenSystem;
  /** Claim version when active, the add's nonce when pending. */
  tag: string;
  registeredAt: number;
  extra: string;
  token: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A user id as the registry stores it (user field, claim records): a lower-case UUID as '*' + its 16 bytes
 * in base64url (23 characters instead of 36); any other id as it is, with one more '*' when it starts
 * with one. Ids hold no whitespace (the API refuses them), so records can separate them with tabs.
 */
export function encodeUser(userId: string): string {
  if (UUID_RE.test(userId)) return `*${Buffer.from(userId.replace(/-/g, ''), 'hex').toString('base64url')}`;
  return userId.startsWith('*') ? `*${userId}` : userId;
}

export function decodeUser(stored: string): string {
  if (stored.startsWith('**')) return stored.slice(1);
  if (!stored.startsWith('*')) return stored;
  const x = Buffer.from(stored.slice(1), 'base64url').toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** A token as its line stores it: an APNs token (64 hex) as 43 base64url characters; anything else as it is ('!' first for APNs). */
export function encodeToken(system: TokenSystem, token: string): string {
  if (system === 'gcm') return token;
  return /^[0-9a-f]{64}$/.test(token) ? Buffer.from(token, 'hex').toString('base64url') : `!${token}`;
}

export function decodeToken(system: TokenSystem, stored: string): string {
  if (system === 'gcm') return stored;
  return stored.startsWith('!') ? stored.slice(1) : Buffer.from(stored, 'base64url').toString('hex');
}

const LINE = /^([=+])([ag]),([^,]*),([^,]*),([^,]*),(.*)$/;

/** Every line of a user's value, pending ones too (tests and migration look at those). */
export function parseLines(blob: string | null | undefined): EntryLine[] {
  if (!blob) return [];
  const out: EntryLine[] = [];
  for (const line of blob.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const system = m[2] === 'a' ? 'apns' : 'gcm';
    out.push({ active: m[1] === '=', system, tag: m[3], registeredAt: parseInt(m[4], 36), extra: m[5], token: decodeToken(system, m[6]) });
  }
  return out;
}

export const apnsExtra = (e: { applicationId: string; sandbox: boolean; apnsTopic?: string }): string => `${e.applicationId};${e.sandbox ? 1 : 0};${e.apnsTopic ?? ''}`;

/** A user's ACTIVE entries, oldest registration first. Pending lines (a move not complete) are never read. */
export function decodeEntries(blob: string | null | undefined): UserEntries {
  const out: UserEntries = { apns: [], gcm: [] };
  for (const l of parseLines(blob)) {
    if (!l.active) continue;
    if (l.system === 'gcm') {
      out.gcm.push({ registrationId: l.token, registeredAt: l.registeredAt });
      continue;
    }
    const [applicationId, sandbox, topic] = l.extra.split(';');
    const e: ApnsEntry = { deviceToken: l.token, applicationId, sandbox: sandbox === '1', registeredAt: l.registeredAt };
    if (topic) e.apnsTopic = topic;
    out.apns.push(e);
  }
  out.apns.sort((x, y) => x.registeredAt - y.registeredAt);
  out.gcm.sort((x, y) => x.registeredAt - y.registeredAt);
  return out;
}
