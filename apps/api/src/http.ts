import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { AuthUnavailableError, UnauthorizedError, UserAuthenticator } from './auth';
import type { AuthFailures } from './limits';

/** Every error body is `{"status":"<kebab-code>", ...}` like the spec's `unknown-appid`. */
export function sendError(res: Response, http: number, status: string, extra: Record<string, unknown> = {}): void {
  res.status(http).json({ status, ...extra });
}

/** Redis is down or too slow: a quick 503 instead of a hang. */
export function unavailable(res: Response, logger: Logger, e: unknown, what = 'redis unavailable'): void {
  logger.warn({ err: (e as Error)?.message }, what);
  res.setHeader('Retry-After', '1');
  sendError(res, 503, 'unavailable');
}

/**
 * The user JWT: sets `res.locals.userId`, else 401 `unauthorized` (counted against the client address),
 * or 503 `unavailable` while the keys cannot be fetched (the JWKS endpoint is down past its cache).
 */
export function authenticateUser(authenticate: UserAuthenticator, failures: AuthFailures, logger: Logger): RequestHandler {
  return (req, res, next) => {
    authenticate(req.headers.authorization).then(
      (userId) => { res.locals.userId = userId; next(); },
      (e) => {
        if (e instanceof AuthUnavailableError) return unavailable(res, logger, e, 'user authentication unavailable');
        if (!(e instanceof UnauthorizedError)) return next(e);
        failures.failed(req, 'user', e.message);
        res.setHeader('WWW-Authenticate', 'Bearer');
        sendError(res, 401, 'unauthorized');
      },
    );
  };
}

/**
 * express.json with a size limit whose failures become JSON 400/413 bodies. Any content type is parsed
 * as JSON: the contract is JSON, and a client that forgets the header should get a validation answer.
 */
export function jsonBody(limit: string): RequestHandler {
  const parse = express.json({ limit, type: () => true, strict: true });
  return (req, res, next) => {
    parse(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as { status?: number; type?: string; message?: string };
      if (e.type === 'entity.too.large' || e.status === 413) return sendError(res, 413, 'payload-too-large');
      return sendError(res, 400, 'invalid-request', { errors: [{ path: '', message: e.type === 'entity.parse.failed' ? 'body is not valid JSON' : e.message ?? 'unreadable body' }] });
    });
  };
}

export function zodErrors(issues: z.core.$ZodIssue[]): { path: string; message: string }[] {
  return issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

/** Last-resort handler: never an HTML page, never a stack trace to the client. */
export function errorHandler(logger: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; statusCode?: number; message?: string };
    const status = e.status ?? e.statusCode ?? 500;
    if (status >= 500) logger.error({ err: e.message }, 'unhandled error');
    if (res.headersSent) return;
    if (status === 413) return sendError(res, 413, 'payload-too-large');
    if (status >= 400 && status < 500) return sendError(res, status, 'invalid-request');
    sendError(res, 500, 'internal-error');
  };
}
