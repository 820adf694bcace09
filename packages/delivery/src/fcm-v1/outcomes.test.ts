import { FCM_ERROR_TYPE, FCM_V1_OUTCOMES, fcmV1Rule } from './outcomes';
import type { DeliveryAction } from '../outcome';

const fcmError = (status: number, rpc: string, errorCode?: string, extra: object = {}) => ({
  error: {
    code: status,
    status: rpc,
    message: 'x',
    ...(errorCode ? { details: [{ '@type': FCM_ERROR_TYPE, errorCode }] } : {}),
    ...extra,
  },
});

describe('FCM v1 answers (ErrorCode reference; decide on the FcmError detail)', () => {
  test.each<[string, number, object | undefined, string, DeliveryAction, number | undefined, boolean | undefined]>([
    ['200', 200, { name: 'projects/p/messages/1' }, 'Success', 'delivered', undefined, undefined],
    ['UNREGISTERED', 404, fcmError(404, 'NOT_FOUND', 'UNREGISTERED'), 'UNREGISTERED', 'prune', undefined, undefined],
    ['SENDER_ID_MISMATCH', 403, fcmError(403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH'), 'SENDER_ID_MISMATCH', 'fail', undefined, undefined],
    ['INVALID_ARGUMENT on message.token (field violation)', 400,
      { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'Invalid value', details: [{ '@type': FCM_ERROR_TYPE, errorCode: 'INVALID_ARGUMENT' }, { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'message.token', description: 'Invalid registration token' }] }] } },
      'INVALID_ARGUMENT', 'prune', undefined, undefined],
    ['INVALID_ARGUMENT on the token (message)', 400, fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', { message: 'The registration token is not a valid FCM registration token' }), 'INVALID_ARGUMENT', 'prune', undefined, undefined],
    ['INVALID_ARGUMENT on the payload', 400,
      { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'Invalid value at \'message.data[0].value\'', details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'message.data[0].value', description: 'Invalid value' }] }] } },
      'INVALID_ARGUMENT', 'fail', undefined, undefined],
    ['QUOTA_EXCEEDED', 429, fcmError(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'), 'QUOTA_EXCEEDED', 'retry', 60_000, undefined],
    ['UNAVAILABLE', 503, fcmError(503, 'UNAVAILABLE', 'UNAVAILABLE'), 'UNAVAILABLE', 'retry', undefined, undefined],
    ['INTERNAL', 500, fcmError(500, 'INTERNAL', 'INTERNAL'), 'INTERNAL', 'retry', undefined, undefined],
    ['UNSPECIFIED_ERROR', 500, fcmError(500, 'UNKNOWN', 'UNSPECIFIED_ERROR'), 'UNSPECIFIED_ERROR', 'retry', undefined, undefined],
    ['THIRD_PARTY_AUTH_ERROR (detail wins over UNAUTHENTICATED)', 401, fcmError(401, 'UNAUTHENTICATED', 'THIRD_PARTY_AUTH_ERROR'), 'THIRD_PARTY_AUTH_ERROR', 'fail', undefined, undefined],
    ['bare 401 UNAUTHENTICATED (our OAuth token)', 401, fcmError(401, 'UNAUTHENTICATED'), 'UNAUTHENTICATED', 'fail', undefined, true],
    ['bare PERMISSION_DENIED', 403, fcmError(403, 'PERMISSION_DENIED'), 'PERMISSION_DENIED', 'fail', undefined, undefined],
    ['bare NOT_FOUND (the project, not the token)', 404, fcmError(404, 'NOT_FOUND'), 'NOT_FOUND', 'fail', undefined, undefined],
    ['bare RESOURCE_EXHAUSTED', 429, fcmError(429, 'RESOURCE_EXHAUSTED'), 'RESOURCE_EXHAUSTED', 'retry', 60_000, undefined],
    ['bare UNAVAILABLE', 503, fcmError(503, 'UNAVAILABLE'), 'UNAVAILABLE', 'retry', undefined, undefined],
    ['bare UNKNOWN', 500, fcmError(500, 'UNKNOWN'), 'UNKNOWN', 'retry', undefined, undefined],
    ['bare DEADLINE_EXCEEDED', 504, fcmError(504, 'DEADLINE_EXCEEDED'), 'DEADLINE_EXCEEDED', 'retry', undefined, undefined],
    ['bare INVALID_ARGUMENT', 400, fcmError(400, 'INVALID_ARGUMENT'), 'INVALID_ARGUMENT', 'fail', undefined, undefined],
    ['HTML 502', 502, undefined, '502', 'retry', undefined, undefined],
    ['HTML 503', 503, undefined, '503', 'retry', undefined, undefined],
    ['HTML 504', 504, undefined, '504', 'retry', undefined, undefined],
    ['HTML 500', 500, undefined, '500', 'retry', undefined, undefined],
    ['HTML 429', 429, undefined, '429', 'retry', 60_000, undefined],
    ['HTML 401', 401, undefined, '401', 'fail', undefined, true],
    ['HTML 400', 400, undefined, '400', 'fail', undefined, undefined],
    ['HTML 403', 403, undefined, '403', 'fail', undefined, undefined],
    ['HTML 404', 404, undefined, '404', 'fail', undefined, undefined],
    ['unknown errorCode, 5xx', 500, fcmError(500, 'INTERNAL', 'SOMETHING_NEW'), 'INTERNAL', 'retry', undefined, undefined],
    ['unknown errorCode, 4xx', 400, fcmError(400, 'FOO', 'SOMETHING_NEW'), '400', 'fail', undefined, undefined],
  ])('%s', (_name, status, body, reason, action, floor, refresh) => {
    const r = fcmV1Rule(status, body as never);
    expect(r.reason).toBe(reason);
    expect(r.rule.action).toBe(action);
    expect(r.rule.minRetryAfterMs).toBe(floor);
    expect(r.rule.refreshCredentials).toBe(refresh);
  });

  test('a detail of another @type does not decide', () => {
    const body = { error: { code: 404, status: 'NOT_FOUND', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', errorCode: 'UNREGISTERED' }] } };
    expect(fcmV1Rule(404, body).rule.action).toBe('fail');
  });

  test.each(['timeout', 'goaway', 'stream-reset', 'connection', 'body-too-large', 'refused'])('transport error %s -> retry', (kind) => {
    expect(FCM_V1_OUTCOMES[kind].action).toBe('retry');
  });
});
