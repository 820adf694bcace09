import type { DeviceTokens } from './devices';
import type { Hard, RateWindows } from './hard';
import type { Refusals } from './refusals';

/** The hard Google behaviours: sender id (project) of a registration token, quotas, access-token expiry, grant rate. */
export interface GoogleLimitDeps {
  hard: Hard;
  refusals: Refusals;
  devices: DeviceTokens;
  rates: RateWindows;
}

export interface V1Refusal { code: 'SENDER_ID_MISMATCH' | 'QUOTA_EXCEEDED'; headers?: Record<string, string> }

const QUOTA_DEVICE_MESSAGE = 'Quota exceeded for quota metric \'Messages to a single device\' and limit \'Messages to a single device per minute\'.';

/** FCM v1: SENDER_ID_MISMATCH for another project's token, else QUOTA_EXCEEDED past the project's or the device's rate. */
export function v1Refusal(deps: GoogleLimitDeps, projectId: string, token: string | undefined): (V1Refusal & { message?: string }) | undefined {
  const s = deps.hard.settings;
  const refuse = (rule: 'sender-id' | 'project-quota' | 'device-quota', code: V1Refusal['code'], status: number, retryAfter?: number): V1Refusal => {
    deps.refusals.add({ rule, system: 'fcm', endpoint: 'v1', status, reason: code, subject: token ?? projectId });
    return retryAfter === undefined ? { code } : { code, headers: { 'retry-after': String(retryAfter) } };
  };
  if (token !== undefined && s.fcmSenderId) {
    const owner = deps.devices.fcmProject(token);
    if (owner !== undefined && owner !== projectId) return refuse('sender-id', 'SENDER_ID_MISMATCH', 403);
  }
  const project = deps.rates.over(`project:${projectId}`, s.fcmProjectQuotaPerMinute);
  if (project !== undefined) return refuse('project-quota', 'QUOTA_EXCEEDED', 429, project);
  const device = token === undefined ? undefined : deps.rates.over(`device:${token}`, s.fcmDeviceQuotaPerMinute);
  if (device !== undefined) return { ...refuse('device-quota', 'QUOTA_EXCEEDED', 429, device), message: QUOTA_DEVICE_MESSAGE };
  // Only messages that go through count against the quotas.
  if (s.fcmProjectQuotaPerMinute > 0) deps.rates.add(`project:${projectId}`);
  if (token !== undefined && s.fcmDeviceQuotaPerMinute > 0) deps.rates.add(`device:${token}`);
  return undefined;
}

/** Legacy per-result errors: MismatchSenderId (the server key's project is not the token's), DeviceMessageRateExceeded. */
export function legacyResultRefusal(deps: GoogleLimitDeps, keyProject: string | undefined, token: string): string | undefined {
  const s = deps.hard.settings;
  const owner = s.fcmSenderId && keyProject !== undefined ? deps.devices.fcmProject(token) : undefined;
  if (owner !== undefined && owner !== keyProject) {
    deps.refusals.add({ rule: 'sender-id', system: 'gcm', endpoint: 'legacy', status: 200, reason: 'MismatchSenderId', subject: token });
    return 'MismatchSenderId';
  }
  if (deps.rates.take(`device:${token}`, s.fcmDeviceQuotaPerMinute) !== undefined) {
    deps.refusals.add({ rule: 'device-quota', system: 'gcm', endpoint: 'legacy', status: 200, reason: 'DeviceMessageRateExceeded', subject: token });
    return 'DeviceMessageRateExceeded';
  }
  return undefined;
}

/** Records a 401 for an access token that was granted but has expired. */
export function noteAuthError(deps: GoogleLimitDeps, error: { code: string; expired?: true }): void {
  if (error.expired) deps.refusals.add({ rule: 'access-token-expired', system: 'fcm', endpoint: 'v1', status: 401, reason: 'UNAUTHENTICATED' });
}

/** The token endpoint's rate limit per service account (the assertion's `iss`): a 429 answer, or undefined. */
export function grantRefusal(deps: GoogleLimitDeps, formBody: string): { status: number; body: string; headers: Record<string, string> } | undefined {
  const assertion = new URLSearchParams(formBody).get('assertion') ?? '';
  let iss = '';
  try {
    const claims: unknown = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8'));
    if (claims !== null && typeof claims === 'object' && typeof (claims as { iss?: unknown }).iss === 'string') iss = (claims as { iss: string }).iss;
  } catch {
    // a malformed assertion is the grant's to reject; it still counts against the anonymous bucket
  }
  const retryAfter = deps.rates.take(`grant:${iss}`, deps.hard.settings.fcmGrantsPerMinute);
  if (retryAfter === undefined) return undefined;
  deps.refusals.add({ rule: 'token-grant-rate', system: 'oauth', status: 429, reason: 'rate_limit_exceeded', subject: iss });
  return { status: 429, body: JSON.stringify({ error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' }), headers: { 'retry-after': String(retryAfter) } };
}
