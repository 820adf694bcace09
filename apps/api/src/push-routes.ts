import express, { Request, Response, Router } from 'express';
import { z } from 'zod';
import { Counter, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { APPLICATION_ID_RE } from '@pushfleet/config';
import type { PushSystem } from '@pushfleet/events';
import { TokenRegistry } from '@pushfleet/registry';
import { tokenRef } from '@pushfleet/observability';
import { authenticateUser, sendError, unavailable, jsonBody, zodErrors } from './http';
import type { UserAuthenticator } from './auth';
import type { AuthFailures, SlidingWindowLimiter } from './limits';

const DEVICE_TOKEN_RE = /^[0-9a-fA-F]{64}$/;
// The spec's ^.{10,250}$, without control or format characters (C0, DEL, C1, bidi overrides, zero-width):
// ids are printed by operators' tools, and a terminal escape in one would be run by their terminal.
const REGISTRATION_ID_RE = /^[^\p{Cc}\p{Cf}\u2028\u2029]{10,250}$/u;
const APNS_TOPIC_RE = /^[a-zA-Z0-9.-]{5,100}$/;

// The spec's POST /api/push body. Fields that do not belong to the chosen system/action are ignored
// (clients send them), fields that do are validated with the spec's regexes.
export const pushRequestSchema = z.discriminatedUnion('system', [
  z.object({
    system: z.literal('gcm'),
    action: z.enum(['add', 'delete']),
    registration_id: z.string().regex(REGISTRATION_ID_RE, 'must be 10 to 250 characters, no control characters'),
  }),
  z.discriminatedUnion('action', [
    z.object({
      system: z.literal('apns'),
      action: z.literal('add'),
      device_token: z.string().regex(DEVICE_TOKEN_RE, 'must be 64 hexadecimal characters'),
      application_id: z.string().regex(APPLICATION_ID_RE, 'invalid application id'),
      sandbox: z.boolean().default(false),
      apns_topic: z.string().regex(APNS_TOPIC_RE, 'invalid APNs topic').optional(),
    }),
    z.object({
      system: z.literal('apns'),
      action: z.literal('delete'),
      device_token: z.string().regex(DEVICE_TOKEN_RE, 'must be 64 hexadecimal characters'),
    }),
  ]),
]);

export type PushRequest = z.infer<typeof pushRequestSchema>;

/** Maps a failed parse to the spec's status codes: invalid-appid and invalid-apns-topic are their own. */
function statusFor(body: unknown, issues: z.core.$ZodIssue[]): string {
  const b = (body ?? {}) as Record<string, unknown>;
  const onlyOn = (field: string) => issues.length > 0 && issues.every((i) => i.path[0] === field) && typeof b[field] === 'string';
  if (onlyOn('application_id')) return 'invalid-appid';
  if (onlyOn('apns_topic')) return 'invalid-apns-topic';
  return 'invalid-request';
}

export interface PushRoutesDeps {
  registry: TokenRegistry;
  authenticate: UserAuthenticator;
  /** RATE_LIMIT_PER_MINUTE: every user route, per user. */
  userLimiter: SlidingWindowLimiter;
  /** TOKEN_MOVES_PER_HOUR: adding tokens another user holds, per user. */
  moveLimiter: SlidingWindowLimiter;
  authFailures: AuthFailures;
  knownApplicationIds: ReadonlySet<string>;
  gcmSenderId: string;
  metrics: Registry;
  logger: Logger;
}

export function pushRoutes(deps: PushRoutesDeps): Router {
  const router = Router();
  const registrations = new Counter({
    name: 'pushfleet_registrations_total',
    help: 'POST /api/push outcomes by system, action and result',
    labelNames: ['system', 'action', 'result'] as const,
    registers: [deps.metrics],
  });

  const moves = new Counter({
    name: 'pushfleet_token_moves_total',
    help: 'Tokens added by a user while another user held them (moved to the caller), by system',
    labelNames: ['system'] as const,
    registers: [deps.metrics],
  });

  // Every user route: failed-auth guard per address, the user JWT, then the per-user limit.
  const user = [deps.authFailures.guard(), authenticateUser(deps.authenticate, deps.authFailures, deps.logger), limitUser(deps)];

  router.get('/api/push', ...user, async (req: Request, res: Response) => {
    const userId = res.locals.userId as string;
    let entries;
    try {
      entries = await deps.registry.entries(userId);
    } catch (e) {
      return unavailable(res, deps.logger, e);
    }
    const deviceTokens: Record<string, { application_id: string; sandbox: boolean; apns_topic?: string }> = {};
    for (const e of entries.apns) {
      deviceTokens[e.deviceToken] = e.apnsTopic === undefined
        ? { application_id: e.applicationId, sandbox: e.sandbox }
        : { application_id: e.applicationId, sandbox: e.sandbox, apns_topic: e.apnsTopic };
    }
    res.json({
      gcm: { sender_id: deps.gcmSenderId, registration_ids: entries.gcm.map((e) => e.registrationId) },
      apns: { device_tokens: deviceTokens },
    });
  });

  router.post('/api/push', ...user, jsonBody('16kb'), async (req: Request, res: Response) => {
    const userId = res.locals.userId as string;
    const parsed = pushRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      const status = statusFor(req.body, parsed.error.issues);
      registrations.inc({ system: systemLabel(req.body), action: actionLabel(req.body), result: status });
      if (status === 'invalid-request') return sendError(res, 400, status, { errors: zodErrors(parsed.error.issues) });
      return sendError(res, 400, status);
    }
    const r = parsed.data;
    if (r.system === 'apns' && r.action === 'add' && !deps.knownApplicationIds.has(r.application_id)) {
      registrations.inc({ system: 'apns', action: 'add', result: 'unknown-appid' });
      return sendError(res, 400, 'unknown-appid');
    }
    const token = r.system === 'gcm' ? r.registration_id : r.device_token.toLowerCase();
    try {
      if (r.action === 'delete') {
        await deps.registry.remove(userId, r.system, token);
      } else {
        const wait = await moveBudget(deps, userId, r.system, token);
        if (wait > 0) {
          registrations.inc({ system: r.system, action: 'add', result: 'rate-limited' });
          deps.logger.warn({ system: r.system, token: tokenRef(token) }, 'token move refused: the user moved too many tokens this hour');
          res.setHeader('Retry-After', String(wait));
          return sendError(res, 429, 'rate-limited');
        }
        const out = r.system === 'gcm'
          ? await deps.registry.addGcm(userId, token)
          : await deps.registry.addApns(userId, { deviceToken: token, applicationId: r.application_id, sandbox: r.sandbox, apnsTopic: r.apns_topic });
        if (out.movedFromOtherUser) {
          moves.inc({ system: r.system });
          deps.logger.info({ system: r.system, token: tokenRef(token) }, 'token moved to another user');
        }
      }
    } catch (e) {
      registrations.inc({ system: r.system, action: r.action, result: 'unavailable' });
      return unavailable(res, deps.logger, e);
    }
    registrations.inc({ system: r.system, action: r.action, result: 'ok' });
    res.status(200).json({});
  });

  router.all('/api/push', (_req, res) => {
    res.setHeader('Allow', 'GET, POST');
    sendError(res, 405, 'method-not-allowed');
  });

  return router;
}

/** RATE_LIMIT_PER_MINUTE per user, on every user route: 429 `rate-limited` with Retry-After past it. */
function limitUser(deps: PushRoutesDeps): express.RequestHandler {
  return (req, res, next) => {
    deps.userLimiter.hit(res.locals.userId as string).then((wait) => {
      if (wait === 0) return next();
      res.setHeader('Retry-After', String(wait));
      sendError(res, 429, 'rate-limited');
    }, (e) => unavailable(res, deps.logger, e));
  };
}

/**
 * When the token is held by another user, this add moves it: counted against the caller's hourly move
 * budget (TOKEN_MOVES_PER_HOUR). Resolves 0 when the add may go ahead, else the seconds to wait.
 */
async function moveBudget(deps: PushRoutesDeps, userId: string, system: PushSystem, token: string): Promise<number> {
  if (!deps.moveLimiter.enabled) return 0;
  const owner = await deps.registry.ownerOf(system, token);
  if (owner === null || owner === userId) return 0;
  return deps.moveLimiter.hit(userId);
}

const systemLabel = (b: unknown) => { const s = (b as { system?: unknown } | undefined)?.system; return s === 'apns' || s === 'gcm' ? s : 'invalid'; };
const actionLabel = (b: unknown) => { const s = (b as { action?: unknown } | undefined)?.action; return s === 'add' || s === 'delete' ? s : 'invalid'; };
