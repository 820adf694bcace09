import http from 'node:http';
import { z } from 'zod';
import type { Behaviours } from './behaviours';
import type { Credentials } from './credentials';
import type { DeviceTokens } from './devices';
import { Hard, hardUpdateSchema } from './hard';
import { issueClientCertificateWithCa } from './pki';
import { ENDPOINTS, SYSTEMS, SandboxEndpoint, SandboxSystem } from './recorder';
import type { Recorder } from './recorder';
import type { Refusals } from './refusals';
import { apnsKeyInputSchema, serviceAccountInputSchema, toApnsKeyRegistration, toServiceAccountRegistration } from './registration';

export interface AdminDeps {
  recorder: Recorder;
  behaviours: Behaviours;
  credentials: Credentials;
  hard: Hard;
  refusals: Refusals;
  devices: DeviceTokens;
  /** What POST /reset does (recordings, behaviours, refusals, hard settings). */
  reset(): void;
  caCertPem: string;
  caKeyPem: string;
}

const deviceTokenSchema = z.union([
  z.object({ system: z.literal('apns'), environment: z.enum(['production', 'development']), token: z.string().regex(/^[0-9a-fA-F]{1,200}$/).optional() }).strict(),
  z.object({ system: z.literal('fcm'), projectId: z.string().min(1).max(200), token: z.string().regex(/^\S{1,4096}$/).optional() }).strict(),
]);

const clientCertSchema = z.object({
  topic: z.string().min(1),
  environments: z.array(z.enum(['production', 'development'])).optional(),
  validDays: z.number().int().optional(),
});

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly extra: object = {}) {
    super(message);
  }
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

function parseJson(body: string): unknown {
  if (body.trim() === '') return {};
  try {
    return JSON.parse(body);
  } catch {
    throw new HttpError(400, 'invalid-json', 'request body is not JSON');
  }
}

function validate<T>(schema: z.ZodType<T>, value: unknown, code: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, code, 'invalid request body', { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
  return r.data;
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[], name: string): T | undefined {
  if (value === null || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new HttpError(400, 'invalid-query', `${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

/**
 * The admin API (JSON over HTTP, 127.0.0.1 only): what was received, what the sandbox should do next, and
 * which credentials it accepts. Errors answer `{"status":"<kebab-code>","message":...}`.
 */
export function createAdminServer(deps: AdminDeps): http.Server {
  const { recorder, behaviours, credentials } = deps;

  function route(method: string, path: string, query: URLSearchParams, body: string, res: http.ServerResponse): void {
    if (method === 'GET' && path === '/healthz') return json(res, 200, { status: 'ok' });
    if (method === 'GET' && path === '/deliveries') {
      const limitRaw = query.get('limit');
      const limit = limitRaw === null ? 1000 : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 0) throw new HttpError(400, 'invalid-query', 'limit must be a non-negative integer');
      return json(res, 200, recorder.deliveries({
        system: oneOf<SandboxSystem>(query.get('system'), SYSTEMS, 'system'),
        endpoint: oneOf<SandboxEndpoint>(query.get('endpoint'), ENDPOINTS, 'endpoint'),
        token: query.get('token') ?? undefined,
        limit,
      }));
    }
    if (method === 'GET' && path === '/stats') return json(res, 200, recorder.stats());
    if (method === 'GET' && path === '/behaviours') return json(res, 200, behaviours.list());
    if (method === 'POST' && path === '/behaviours') {
      const input = parseJson(body);
      const rules = Array.isArray(input) ? input : [input];
      const ids: string[] = [];
      for (const r of rules) {
        try {
          ids.push(behaviours.set(r as never));
        } catch (err) {
          if (err instanceof z.ZodError) {
            throw new HttpError(400, 'invalid-behaviour', 'invalid behaviour rule', { issues: err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })), accepted: ids });
          }
          throw err;
        }
      }
      return json(res, 201, Array.isArray(input) ? { ids } : { id: ids[0] });
    }
    if (method === 'DELETE' && path === '/behaviours') {
      behaviours.clear();
      return json(res, 200, { status: 'ok' });
    }
    if (method === 'DELETE' && path.startsWith('/behaviours/')) {
      const id = decodeURIComponent(path.slice('/behaviours/'.length));
      if (!behaviours.remove(id)) throw new HttpError(404, 'unknown-behaviour', `no behaviour ${id}`);
      return json(res, 200, { status: 'ok' });
    }
    if (method === 'POST' && path === '/reset') {
      deps.reset();
      return json(res, 200, { status: 'ok' });
    }
    if (routeHard(method, path, query, body, res)) return;
    if (method === 'GET' && path === '/ca.pem') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(deps.caCertPem);
      return;
    }
    if (method === 'GET' && path === '/apns-keys') return json(res, 200, credentials.listApnsKeys());
    if (method === 'POST' && path === '/apns-keys') {
      const reg = toApnsKeyRegistration(validate(apnsKeyInputSchema, parseJson(body), 'invalid-apns-key'));
      credentials.addApnsKey(reg);
      return json(res, 201, { keyId: reg.keyId });
    }
    if (method === 'POST' && path === '/gcm-api-keys') {
      const { key, projectId } = validate(z.object({ key: z.string().min(1), projectId: z.string().min(1).optional() }), parseJson(body), 'invalid-gcm-api-key');
      credentials.addGcmApiKey(key, projectId);
      return json(res, 201, { status: 'ok' });
    }
    if (method === 'GET' && path === '/fcm-service-accounts') return json(res, 200, credentials.listFcmServiceAccounts());
    if (method === 'POST' && path === '/fcm-service-accounts') {
      const reg = toServiceAccountRegistration(validate(serviceAccountInputSchema, parseJson(body), 'invalid-service-account'));
      credentials.addFcmServiceAccount(reg);
      return json(res, 201, { clientEmail: reg.clientEmail });
    }
    if (method === 'POST' && path === '/apns-client-certificates') {
      const opts = validate(clientCertSchema, parseJson(body), 'invalid-client-certificate');
      return json(res, 201, issueClientCertificateWithCa(deps.caCertPem, deps.caKeyPem, opts));
    }
    throw new HttpError(404, 'not-found', `no route ${method} ${path}`);
  }

  /** The hard behaviours: settings, what they refused, device tokens per environment / project. */
  function routeHard(method: string, path: string, query: URLSearchParams, body: string, res: http.ServerResponse): boolean {
    const answer = (status: number, value: unknown): true => {
      json(res, status, value);
      return true;
    };
    if (method === 'GET' && path === '/hard') return answer(200, deps.hard.settings);
    if ((method === 'POST' || method === 'PATCH') && path === '/hard') {
      const update = validate(hardUpdateSchema, parseJson(body), 'invalid-hard-settings');
      return answer(200, deps.hard.set(update));
    }
    if (method === 'GET' && path === '/refusals') {
      const limit = Number(query.get('limit') ?? 50);
      if (!Number.isInteger(limit) || limit < 0) throw new HttpError(400, 'invalid-query', 'limit must be a non-negative integer');
      return answer(200, deps.refusals.report(limit));
    }
    if (method === 'DELETE' && path === '/refusals') {
      deps.refusals.clear();
      return answer(200, { status: 'ok' });
    }
    if (method === 'GET' && path === '/device-tokens') return answer(200, deps.devices.counts());
    if (method === 'POST' && path === '/device-tokens') {
      const input = validate(deviceTokenSchema, parseJson(body), 'invalid-device-token');
      const token = input.system === 'apns' ? deps.devices.issueApnsToken(input.environment, input.token) : deps.devices.issueFcmToken(input.projectId, input.token);
      return answer(201, { token });
    }
    return false;
  }

  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://admin');
      try {
        route(req.method ?? 'GET', url.pathname, url.searchParams, Buffer.concat(chunks).toString('utf8'), res);
      } catch (err) {
        if (err instanceof HttpError) json(res, err.status, { status: err.code, message: err.message, ...err.extra });
        else json(res, 500, { status: 'internal-error', message: err instanceof Error ? err.message : String(err) });
      }
    });
  });
}
