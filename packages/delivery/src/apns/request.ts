import type { OutgoingHttpHeaders } from 'node:http2';
import type { ApnsDevice } from '@pushfleet/registry';

// The parts of an APNs request built once per group of devices (ApnsTransport.sendGroup), not per token.

export interface Authorization { header: string; iat: number }

/** What every request of one group shares: built once per group, only :path (and authorization) per token. */
export interface RequestGroup<E> {
  endpoint: E;
  app: string;
  body: string;
  topic: string;
  pushType: string;
  priority: string;
  expiration: string;
}

/** No apns-id: Apple assigns one when it is absent, and nothing here would use ours. */
export function requestHeaders(g: RequestGroup<unknown>, token: string, auth: Authorization | undefined): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {
    ':method': 'POST',
    'apns-topic': g.topic,
    'apns-push-type': g.pushType,
    'apns-priority': g.priority,
    'apns-expiration': g.expiration,
    'content-type': 'application/json',
    ':path': `/3/device/${token}`,
  };
  if (auth) h.authorization = auth.header;
  return h;
}

/** The provider-duration histogram's labels per HTTP status, one object each. */
const statusLabelCache = new Map<number, { system: 'apns'; status: string }>();
export function statusLabels(status: number): { system: 'apns'; status: string } {
  let l = statusLabelCache.get(status);
  if (!l) statusLabelCache.set(status, (l = { system: 'apns', status: String(status) }));
  return l;
}

/** Whether the devices share app, environment and topic (one group). */
export function oneGroup(devices: readonly ApnsDevice[]): boolean {
  const [first] = devices;
  for (let i = 1; i < devices.length; i++) {
    const d = devices[i];
    if (d.app !== first.app || d.sandbox !== first.sandbox || d.apnsTopic !== first.apnsTopic) return false;
  }
  return true;
}

