/**
 * The providers' documented answers as data: which HTTP status goes with which reason, and which reason a
 * bare status stands for. Behaviour rules may name either; the tables fill in the other half.
 */

/** Every APNs reason Apple documents, with its HTTP status. */
export const APNS_REASON_STATUS: Readonly<Record<string, number>> = {
  BadCollapseId: 400,
  BadDeviceToken: 400,
  BadExpirationDate: 400,
  BadMessageId: 400,
  BadPriority: 400,
  BadTopic: 400,
  DeviceTokenNotForTopic: 400,
  DuplicateHeaders: 400,
  IdleTimeout: 400,
  InvalidPushType: 400,
  MissingDeviceToken: 400,
  MissingTopic: 400,
  PayloadEmpty: 400,
  TopicDisallowed: 400,
  BadCertificate: 403,
  BadCertificateEnvironment: 403,
  ExpiredProviderToken: 403,
  Forbidden: 403,
  InvalidProviderToken: 403,
  MissingProviderToken: 403,
  UnrelatedKeyIdInToken: 403,
  BadPath: 404,
  MethodNotAllowed: 405,
  ExpiredToken: 410,
  Unregistered: 410,
  PayloadTooLarge: 413,
  TooManyProviderTokenUpdates: 429,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
  Shutdown: 503,
};

/** The reason a rule that gives only a status answers with on APNs. */
export const APNS_STATUS_REASON: Readonly<Record<number, string>> = {
  400: 'BadDeviceToken',
  403: 'Forbidden',
  404: 'BadPath',
  405: 'MethodNotAllowed',
  410: 'Unregistered',
  413: 'PayloadTooLarge',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

/** Per-result errors of the legacy HTTP API (results[i].error). */
export const GCM_RESULT_ERRORS = [
  'MissingRegistration', 'InvalidRegistration', 'NotRegistered', 'InvalidPackageName', 'MismatchSenderId',
  'InvalidParameters', 'MessageTooBig', 'InvalidDataKey', 'InvalidTtl', 'Unavailable', 'InternalServerError',
  'DeviceMessageRateExceeded', 'TopicsMessageRateExceeded', 'InvalidApnsCredential', 'DeprecatedApi',
] as const;

export interface FcmErrorShape { status: number; rpcStatus: string; message: string; detail: boolean }

/** FCM v1 `FcmError.errorCode` -> HTTP status, canonical google.rpc status and Google's usual message. */
export const FCM_ERROR_CODES: Readonly<Record<string, FcmErrorShape>> = {
  UNSPECIFIED_ERROR: { status: 500, rpcStatus: 'UNKNOWN', message: 'Unknown error.', detail: true },
  INVALID_ARGUMENT: { status: 400, rpcStatus: 'INVALID_ARGUMENT', message: 'The registration token is not a valid FCM registration token', detail: true },
  UNREGISTERED: { status: 404, rpcStatus: 'NOT_FOUND', message: 'Requested entity was not found.', detail: true },
  SENDER_ID_MISMATCH: { status: 403, rpcStatus: 'PERMISSION_DENIED', message: 'SenderId mismatch', detail: true },
  QUOTA_EXCEEDED: { status: 429, rpcStatus: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded for quota metric \'Send requests\' and limit \'Send requests per minute\'.', detail: true },
  UNAVAILABLE: { status: 503, rpcStatus: 'UNAVAILABLE', message: 'The service is currently unavailable.', detail: true },
  INTERNAL: { status: 500, rpcStatus: 'INTERNAL', message: 'Internal error encountered.', detail: true },
  THIRD_PARTY_AUTH_ERROR: { status: 401, rpcStatus: 'UNAUTHENTICATED', message: 'Auth error from APNS or Web Push Service', detail: true },
  // Not FcmError codes: the plain google.rpc errors Google's front end returns without an FcmError detail.
  UNAUTHENTICATED: {
    status: 401, rpcStatus: 'UNAUTHENTICATED', detail: false,
    message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  },
  PERMISSION_DENIED: { status: 403, rpcStatus: 'PERMISSION_DENIED', message: 'The caller does not have permission', detail: false },
};

/** The FcmError code a rule that gives only a status answers with on FCM v1. */
export const FCM_STATUS_CODE: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'SENDER_ID_MISMATCH',
  404: 'UNREGISTERED',
  429: 'QUOTA_EXCEEDED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

const RPC_FOR_STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL', 501: 'UNIMPLEMENTED', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

export function rpcStatusFor(status: number): string {
  return RPC_FOR_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'UNKNOWN');
}

/** The google.rpc error envelope FCM v1 answers errors with. */
export function googleRpcError(code: number, status: string, message: string, details: object[] = []): string {
  return JSON.stringify({ error: { code, message, status, ...(details.length ? { details } : {}) } });
}

export function fcmErrorDetail(errorCode: string): object {
  return { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode };
}

export function badRequestDetail(field: string, description: string): object {
  return { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description }] };
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

/** The HTML error page Google's front end serves (401 on a bad legacy server key, 404, 502...). */
export function googleHtmlError(status: number): string {
  const text = statusText(status);
  return `<HTML>\n<HEAD>\n<TITLE>${text}</TITLE>\n</HEAD>\n<BODY BGCOLOR="#FFFFFF" TEXT="#000000">\n<H1>${text}</H1>\n<H2>Error ${status}</H2>\n</BODY>\n</HTML>\n`;
}
