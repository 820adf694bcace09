import { z } from 'zod';
import { pushEventInputSchema } from '@pushfleet/events';
import { pushRequestSchema } from './push-routes';

/**
 * The API's OpenAPI 3.1 document, built from the zod schemas the routes validate with (request bodies)
 * and the response shapes below, so it cannot drift: `npm run openapi` writes it to docs/openapi.yaml and
 * test/openapi.test.ts fails when the file differs, when a linter rejects it, or when a real response of
 * the running API does not conform.
 */

const MAX_EVENTS_PER_BATCH = 1000;
/** /metrics and /readyz are served on the ops listener (OPS_PORT, default 9100), not the public one. */
const OPS_SERVERS = [{ url: 'http://127.0.0.1:9100', description: '`npm start` (OPS_PORT): the ops listener, off the public network' }];

const errorItem = z.object({
  path: z.string().describe('dotted path of the offending field; "" for the whole body'),
  message: z.string(),
  index: z.number().int().min(0).optional().describe('the event\'s position in a batch (POST /internal/events)'),
});

/** `{"status":"<kebab-code>"}`, with `errors` for invalid-request. */
function errorBody(statuses: readonly [string, ...string[]], withErrors = false) {
  return z.strictObject({
    status: z.enum(statuses),
    ...(withErrors ? { errors: z.array(errorItem).min(1).optional() } : {}),
  });
}

export const responseSchemas = {
  pushList: z.strictObject({
    gcm: z.strictObject({ sender_id: z.string(), registration_ids: z.array(z.string()) }),
    apns: z.strictObject({
      device_tokens: z.record(z.string().regex(/^[0-9a-f]{64}$/), z.strictObject({
        application_id: z.string(),
        sandbox: z.boolean(),
        apns_topic: z.string().optional(),
      })),
    }),
  }).describe('The caller\'s registrations, ordered by registration time'),
  empty: z.strictObject({}),
  accepted: z.strictObject({ ids: z.array(z.string()).min(1).max(MAX_EVENTS_PER_BATCH) }).describe('Event ids, in request order; durably enqueued to both queues'),
  ok: z.strictObject({ status: z.literal('ok') }),
  pushInvalid: errorBody(['invalid-request', 'invalid-appid', 'unknown-appid', 'invalid-apns-topic'], true),
  invalidRequest: errorBody(['invalid-request'], true),
  unauthorized: errorBody(['unauthorized']),
  methodNotAllowed: errorBody(['method-not-allowed']),
  payloadTooLarge: errorBody(['payload-too-large']),
  rateLimited: errorBody(['rate-limited']),
  unavailable: errorBody(['unavailable']),
};

type ResponseName = keyof typeof responseSchemas;

const eventsBatch = z.strictObject({ events: z.array(pushEventInputSchema).min(1).max(MAX_EVENTS_PER_BATCH) });

const json = (name: ResponseName, description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } },
});
const retryAfter = { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'string', pattern: '^[0-9]+$' } } };
const common = {
  401: json('unauthorized', 'missing, malformed, expired or wrongly signed credentials', { 'WWW-Authenticate': { schema: { type: 'string' } } }),
  503: json('unavailable', 'Redis down or slow (answered within a second)', retryAfter),
  429: json('rateLimited', 'over RATE_LIMIT_PER_MINUTE requests by this user, or AUTH_FAILURES_PER_MINUTE failed authentications from this address', retryAfter),
};

/** A zod schema as an OpenAPI 3.1 (JSON Schema 2020-12) schema object. */
function schemaOf(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** The paths: every route with every response it can give. */
function apiPaths(): Record<string, unknown> {
  const pushPost = {
    200: json('empty', 'added, updated or deleted (also when nothing was registered)'),
    400: json('pushInvalid', 'invalid-appid / unknown-appid / invalid-apns-topic, or invalid-request with errors'),
    401: common[401],
    413: json('payloadTooLarge', 'body over 16 KiB'),
    429: common[429],
    503: common[503],
  };
  const notAllowed = { 405: json('methodNotAllowed', 'only GET and POST', { Allow: { schema: { type: 'string', const: 'GET, POST' } } }) };
  return {
    '/api/push': {
      get: {
        operationId: 'listRegistrations', security: [{ userJwt: [] }], summary: 'the caller\'s device tokens and registration ids',
        responses: { 200: json('pushList', 'the caller\'s registrations'), 401: common[401], 429: common[429], 503: common[503] },
      },
      post: {
        operationId: 'changeRegistration', security: [{ userJwt: [] }], summary: 'add or delete one APNs device token or GCM/FCM registration id',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PushRequest' } } } },
        responses: pushPost,
      },
      put: { operationId: 'pushPutNotAllowed', summary: 'not allowed (as every method but GET and POST)', responses: notAllowed },
      delete: { operationId: 'pushDeleteNotAllowed', summary: 'not allowed', responses: notAllowed },
    },
    '/internal/events': {
      post: {
        operationId: 'publishEvents', security: [{ internalToken: [] }], summary: 'one event, or a batch of 1-1000; all or nothing',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/PushEvent' }, { $ref: '#/components/schemas/PushEventBatch' }] } } },
        },
        responses: {
          202: json('accepted', 'accepted: durably enqueued to the APNs and the GCM queue'),
          400: json('invalidRequest', 'any invalid event rejects the whole batch; errors carry the index'),
          401: common[401],
          413: json('payloadTooLarge', 'body over 1 MiB'),
          429: common[429],
          503: common[503],
        },
      },
    },
    '/healthz': { get: { operationId: 'healthz', summary: 'the process is up', responses: { 200: json('ok', 'up') } } },
    '/readyz': {
      servers: OPS_SERVERS,
      get: { operationId: 'readyz', summary: 'Redis answers', responses: { 200: json('ok', 'ready'), 503: json('unavailable', 'Redis does not answer') } },
    },
    '/metrics': {
      servers: OPS_SERVERS,
      get: {
        operationId: 'metrics', summary: 'Prometheus metrics (docs/operations.md "Metrics catalogue")',
        responses: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
  };
}

export function openApiDocument(): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    PushRequest: schemaOf(pushRequestSchema, 'input'),
    PushEvent: schemaOf(pushEventInputSchema, 'input'),
    PushEventBatch: schemaOf(eventsBatch, 'input'),
  };
  for (const [name, s] of Object.entries(responseSchemas)) schemas[name] = schemaOf(s, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'pushfleet API',
      version: '0.1.0',
      summary: 'Token registry for apps and push events for the telephony backend',
      description: 'Every error body is `{"status":"<kebab-code>", ...}`. Generated from the zod schemas in apps/api and packages/events by `npm run openapi`; README.md "HTTP API" explains each rule.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: 'http://127.0.0.1:3000', description: '`npm start` (PORT): the public listener' }],
    components: {
      securitySchemes: {
        userJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'user JWT; `sub` is the user id, `exp` required' },
        internalToken: { type: 'http', scheme: 'bearer', description: 'one of INTERNAL_API_TOKENS' },
      },
      schemas,
    },
    paths: apiPaths(),
  };
}
