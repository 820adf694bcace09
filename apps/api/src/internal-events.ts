import { createHash, timingSafeEqual } from 'node:crypto';
import express, { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { PushEventInput } from '@pushfleet/events';
import { InvalidEventsError, Producer, QueueUnavailableError } from '@pushfleet/producer';
import { jsonBody, sendError, unavailable } from './http';
import type { AuthFailures } from './limits';

/** Events per request; the producer splits them into addBulk chunks itself. */
export const MAX_EVENTS_PER_REQUEST = 1000;
/** A 1000-event batch of chat messages needs far more than the user API's 16 KiB. Larger bodies: 413. */
export const INTERNAL_EVENTS_BODY_LIMIT = '1mb';

export interface InternalEventsDeps {
  producer: Producer;
  /** Shared secrets of the telephony backend (INTERNAL_API_TOKENS); empty means every call is refused. */
  internalTokens: string[];
  logger: Logger;
  /** Counts refused callers per address (429 past AUTH_FAILURES_PER_MINUTE) and logs them sampled. */
  authFailures: AuthFailures;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * `POST /internal/events`: the telephony backend hands in push events.
 *
 * - `Authorization: Bearer <internal token>`, else 401 `{"status":"unauthorized"}` (user JWTs are not accepted).
 * - Body: one event (optionally with `"id"`) or `{"events":[...]}` with 1..1000 events, at most 1 MB.
 * - 202 `{"ids":[...]}` in input order; an id given again is not delivered again.
 * - 400 `{"status":"invalid-request","errors":[{"index","path","message"}]}`: the whole batch is refused.
 *   Problems with the envelope itself (not JSON, no events) carry no index.
 * - 413 `{"status":"payload-too-large"}`; 503 `{"status":"unavailable"}` (Retry-After: 1) when Redis is down.
 */
export function internalEventsRouter(deps: InternalEventsDeps): express.Router {
  const router = express.Router();
  const digests = deps.internalTokens.map(sha256);

  // Tokens are compared as SHA-256 digests (fixed length, so timingSafeEqual applies), against every
  // configured token without stopping at a match.
  const authenticate: RequestHandler = (req, res, next) => {
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    let ok = false;
    if (m) {
      const presented = sha256(m[1]);
      for (const d of digests) ok = timingSafeEqual(d, presented) || ok;
    }
    if (ok) return next();
    deps.authFailures.failed(req, 'internal', m ? 'wrong internal token' : 'missing or other scheme');
    res.setHeader('WWW-Authenticate', 'Bearer');
    sendError(res, 401, 'unauthorized');
  };

  router.post('/internal/events', deps.authFailures.guard(), authenticate, jsonBody(INTERNAL_EVENTS_BODY_LIMIT), async (req, res, next) => {
    const envelope = eventsOf(req.body);
    if ('error' in envelope) {
      sendError(res, 400, 'invalid-request', { errors: [envelope.error] });
      return;
    }
    try {
      // Validated (whole batch) inside the producer, which owns the event schema.
      const { ids } = await deps.producer.publishMany(envelope.events as readonly PushEventInput[]);
      deps.logger.debug({ events: ids.length }, 'internal events accepted');
      res.status(202).json({ ids });
    } catch (err) {
      if (err instanceof InvalidEventsError) {
        deps.logger.info({ events: envelope.events.length, errors: err.errors.length, first: err.errors[0] && { index: err.errors[0].index, path: err.errors[0].path } }, 'internal events refused: invalid');
        sendError(res, 400, 'invalid-request', { errors: err.errors });
      } else if (err instanceof QueueUnavailableError) {
        unavailable(res, deps.logger, err);
      } else {
        next(err);
      }
    }
  });
  return router;
}

type Envelope = { events: unknown[] } | { error: { path: string; message: string } };

/** One event, or `{"events":[...]}` (an event never has an `events` key: event objects are strict). */
function eventsOf(body: unknown): Envelope {
  // An empty body arrives as undefined or {} depending on the parser: neither is an event.
  if (body === undefined || (isPlainObject(body) && Object.keys(body).length === 0)) {
    return { error: { path: '', message: 'body must be a push event or {"events":[...]}' } };
  }
  if (!isPlainObject(body) || !('events' in body)) return { events: [body] };
  const { events, ...rest } = body;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) return { error: { path: extra, message: 'unknown field (a batch has only "events")' } };
  if (!Array.isArray(events) || events.length === 0 || events.length > MAX_EVENTS_PER_REQUEST) {
    return { error: { path: 'events', message: `must be an array of 1 to ${MAX_EVENTS_PER_REQUEST} events` } };
  }
  return { events };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
