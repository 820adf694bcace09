import type { PushSystem } from '@pushfleet/events';
import type { UserEntries } from './registry';

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
