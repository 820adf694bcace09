// Deterministic bench data: the users (UUID, one APNs device token, one GCM registration id each) and the
// events. The bench and each baseline child rebuild the same data from the same seed, so a baseline sends
// exactly the notifications pushfleet sent, without shipping megabytes of JSON through argv.
import { createHash } from 'node:crypto';
import type { PushEvent } from '@pushfleet/events';

export interface BenchUser {
  userId: string;
  /** 64 lower-case hex characters, as the registry stores it. */
  apnsToken: string;
  /** An FCM-shaped registration id (163 characters: 11-character instance id, ':', 'APA91b', body). */
  gcmId: string;
}

function digest(seed: string, kind: string, i: number, algo = 'sha256'): Buffer {
  return createHash(algo).update(`${seed}:${kind}:${i}`).digest();
}

/** A version-4-shaped UUID from a hash (random-looking, reproducible). */
function uuidFrom(b: Buffer): string {
  const h = Buffer.from(b.subarray(0, 16));
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function benchUsers(seed: string, count: number): BenchUser[] {
  const out: BenchUser[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const instance = digest(seed, 'gcm-instance', i).toString('base64url').slice(0, 11);
    const body = digest(seed, 'gcm', i, 'sha512').toString('base64url') + digest(seed, 'gcm2', i, 'sha512').toString('base64url');
    out[i] = {
      userId: uuidFrom(digest(seed, 'user', i)),
      apnsToken: digest(seed, 'apns', i).toString('hex'),
      gcmId: `${instance}:APA91b${body.slice(0, 163 - 18)}`,
    };
  }
  return out;
}

/** Small deterministic PRNG (mulberry32). */
function prng(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Chat lines of the lengths people write: mostly short, some long, some with umlauts and emoji.
const CHAT_LINES = [
  'ok',
  'Bin gleich da 👍',
  'Can you call me back when you are out of the meeting?',
  'Danke! Die Präsentation ist fertig, ich schicke sie gleich rüber.',
  "what's for lunch today? the new place around the corner or the usual one?",
  'Reminder: the quarterly review moved to Thursday 14:00, room Köln 2. Please bring the numbers for Q3 and the draft of the customer survey.',
  'Hi all, quick update on the migration: the first batch of numbers was ported this morning without trouble; the second batch follows on Monday. If you see anything odd with incoming calls, tell me right away 🙏',
  'Der Kunde hat zurückgerufen und möchte das Angebot bis Freitag. Kannst du die Preise für die 50er-Lizenz noch einmal prüfen? Danke dir!',
  'lol 😂😂',
  'I just sent you the fax with the signed contract, please check page 2.',
];
const NAMES = ['John Doe', 'Anna Müller', 'Lars Schmidt', 'Priya Raman', 'Zoë Dubois', 'Mehmet Yılmaz'];
const PHONES = ['+492215587412', '+4989123248278', '+492216698000', 'anonymous', '+14155550123', '+442071838750'];

/**
 * `n` events owned round-robin by `users`: 50 % chat messages, 15 % new faxes, 10 % new recordings,
 * 12.5 % call-reverse start, 12.5 % stop. Already in the normalised form (numbers as numbers), so each is
 * both a valid producer input and the `PushEvent` a worker renders.
 */
export function benchEvents(seed: string, n: number, users: readonly BenchUser[], offset = 0): PushEvent[] {
  const rnd = prng(`${seed}:events:${offset}`);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const uuid = (i: number, kind: string) => uuidFrom(digest(seed, kind, offset + i));
  const out: PushEvent[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const owner = users[(offset + i) % users.length].userId;
    const k = (offset + i) % 40;
    if (k < 20) {
      out[i] = {
        message: 'chat_message', owner, chat: uuid(i % 97, 'chat'), uuid: uuid(i, 'msg'), time: 1_767_225_600 + offset + i,
        user: uuid(i % 13, 'sender'), user_name: pick(NAMES), type: 'text', text: pick(CHAT_LINES),
      };
    } else if (k < 26) {
      out[i] = { message: 'fax_new', owner, fax: uuid(i, 'fax'), phone: pick(PHONES), page_count: 1 + Math.floor(rnd() * 12) };
    } else if (k < 30) {
      out[i] = { message: 'recording_new', owner, recording: uuid(i, 'rec'), phone: pick(PHONES) };
    } else if (k < 35) {
      out[i] = { message: 'dialplan_callreverse_start', owner, phone_from: pick(PHONES), phone_to: pick(PHONES) };
    } else {
      out[i] = { message: 'dialplan_callreverse_stop', owner, phone_from: pick(PHONES), phone_to: pick(PHONES) };
    }
  }
  return out;
}
