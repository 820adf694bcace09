import type { PushSystem } from '@pushfleet/events';
import type { UserEntries } from './registry';
import { decodeToken } from './entries';

/**
 * One registered device as a delivery worker sends to it: the entry already carries its token (device
 * token or registration id) and the app it belongs to (metrics label, circuit key).
 */
export interface Device {
  token: string;
  app: string;
  registeredAt: number;
}

export interface ApnsDevice extends Device {
  sandbox: boolean;
  /** Only when the app registered one; else the worker uses the application id's bundle id. */
  apnsTopic?: string;
}

export type GcmDevice = Device;

/** The device type of a push system. */
export type DeviceOf<S extends PushSystem> = S extends 'apns' ? ApnsDevice : GcmDevice;

/** GCM registrations carry no app: one server key or FCM project per worker process, labelled so. */
export const GCM_APP = 'gcm';

/** The devices of one system among a user's entries, oldest registration first. */
export function devicesIn<S extends PushSystem>(entries: UserEntries, system: S): DeviceOf<S>[] {
  if (system === 'gcm') return entries.gcm.map((e) => ({ token: e.registrationId, app: GCM_APP, registeredAt: e.registeredAt })) as DeviceOf<S>[];
  return entries.apns.map((e) => {
    const d: ApnsDevice = { token: e.deviceToken, app: e.applicationId, sandbox: e.sandbox, registeredAt: e.registeredAt };
    if (e.apnsTopic !== undefined) d.apnsTopic = e.apnsTopic;
    return d;
  }) as DeviceOf<S>[];
}

/**
 * The devices of one system in a user's stored value (entries.ts, scripts.ts: one line per entry), oldest
 * registration first: exactly `devicesIn(decodeEntries(blob), system)`, without the intermediate line and
 * entry objects, and without decoding the other system's tokens (the worker's read path, per event).
 */
export function decodeDevices<S extends PushSystem>(blob: string | null | undefined, system: S): DeviceOf<S>[] {
  const out: DeviceOf<S>[] = [];
  if (!blob) return out;
  const tag = system === 'apns' ? 'a' : 'g';
  let sorted = true;
  for (let start = 0; start <= blob.length;) {
    let end = blob.indexOf('\n', start);
    if (end < 0) end = blob.length;
    const d = blob.charCodeAt(start) === 0x3d /* = */ && blob[start + 1] === tag && blob.charCodeAt(start + 2) === 0x2c ? deviceOfLine(blob, start, end, system) : undefined;
    start = end + 1;
    if (!d) continue;
    if (out.length > 0 && out[out.length - 1].registeredAt > d.registeredAt) sorted = false;
    out.push(d as DeviceOf<S>);
  }
  if (!sorted) out.sort((x, y) => x.registeredAt - y.registeredAt);
  return out;
}

/** Line terminators other than \n: the line pattern's `.` (the token field) does not match them. */
const TERMINATOR = /[\r\u2028\u2029]/;

/** An active line `=<sys>,<tag>,<at>,<extra>,<token>` of the system (checked up to the first comma) as a device. */
function deviceOfLine(blob: string, start: number, end: number, system: PushSystem): ApnsDevice | GcmDevice | undefined {
  const c1 = blob.indexOf(',', start + 3);
  const c2 = c1 < 0 || c1 > end ? -1 : blob.indexOf(',', c1 + 1);
  const c3 = c2 < 0 || c2 > end ? -1 : blob.indexOf(',', c2 + 1);
  if (c3 < 0 || c3 > end) return undefined;
  const stored = blob.slice(c3 + 1, end);
  if (TERMINATOR.test(stored)) return undefined;
  const registeredAt = parseInt(blob.slice(c1 + 1, c2), 36);
  const token = decodeToken(system, stored);
  if (system === 'gcm') return { token, app: GCM_APP, registeredAt };
  const [app, sandbox, topic] = blob.slice(c2 + 1, c3).split(';');
  const d: ApnsDevice = { token, app, sandbox: sandbox === '1', registeredAt };
  if (topic) d.apnsTopic = topic;
  return d;
}
