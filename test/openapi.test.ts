import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { parse, stringify } from 'yaml';
import { openApiDocument } from '../apps/api/src/openapi';
import { OPENAPI_HEADER } from '../scripts/openapi';
import { freePort } from '../scripts/lib/redis-server';
import { call, startTestApi, TestApi, TEST_APP_ID, TEST_INTERNAL_TOKEN } from './support/api';
import { userToken } from './support/jwt';

/**
 * docs/openapi.yaml is the zod schemas' document (apps/api/src/openapi.ts): the committed file must be
 * what `npm run openapi` writes, valid OpenAPI 3.1 by the official schema, and true of the running API:
 * every documented response is produced by a real request here and its body conforms; a status the
 * document does not list fails.
 */

const ROOT = path.resolve(__dirname, '..');
const FILE = path.join(ROOT, 'docs/openapi.yaml');
/* eslint-disable @typescript-eslint/no-explicit-any */
const doc = openApiDocument() as any;

test('docs/openapi.yaml is what `npm run openapi` writes from the zod schemas (no drift)', () => {
  const committed = fs.readFileSync(FILE, 'utf8');
  expect(committed.startsWith(OPENAPI_HEADER)).toBe(true);
  expect(parse(committed)).toEqual(JSON.parse(JSON.stringify(doc)));
  expect(committed).toBe(OPENAPI_HEADER + stringify(doc, { lineWidth: 0 }));
});

test('it is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator, the official schema)', () => {
  const run = (file: string) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'test/support/validate-openapi.mjs'), file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as { valid: boolean; version: string; errors: unknown[] };
  };
  expect(run(FILE)).toEqual({ valid: true, version: '3.1', errors: [] });
  // And it does reject a broken document (a response without its description).
  const broken = structuredClone(doc);
  delete broken.paths['/healthz'].get.responses['200'].description;
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-openapi-')), 'broken.json');
  fs.writeFileSync(tmp, JSON.stringify(broken));
  expect(run(tmp).valid).toBe(false);
});

describe('real responses of the running API conform to the document', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  const seen = new Set<string>();
  let api: TestApi;
  let limited: TestApi;
  let down: TestApi;

  beforeAll(async () => {
    api = await startTestApi({ name: 'openapi' });
    limited = await startTestApi({ name: 'openapi-limited', limits: { userPerMinute: 1, authFailuresPerMinute: 1 } });
    down = await startTestApi({ name: 'openapi-down', redisUrl: `redis://127.0.0.1:${await freePort()}` });
  });
  afterAll(async () => {
    await api.close();
    await limited.close();
    await down.close();
  });

  /** Checks a real answer against the document's response for (path, method, status). */
  async function conforms(target: TestApi, method: string, p: string, opts: Parameters<typeof call>[3] = {}): Promise<number> {
    const op = doc.paths[p]?.[method.toLowerCase()];
    // Paths served on the ops listener (OPS_PORT) say so with their own `servers`.
    const onOps = (doc.paths[p]?.servers ?? []).some((s: { url: string }) => s.url.endsWith(':9100'));
    const r = await call({ url: onOps ? target.opsUrl : target.url }, method, p, opts);
    expect({ route: `${method} ${p}`, documented: Boolean(op) }).toEqual({ route: `${method} ${p}`, documented: true });
    const response = op.responses[String(r.status)];
    expect({ route: `${method} ${p}`, status: r.status, documented: Boolean(response) }).toEqual({ route: `${method} ${p}`, status: r.status, documented: true });
    const [type, media] = Object.entries<any>(response.content)[0];
    expect(r.headers.get('content-type') ?? '').toContain(type);
    for (const h of Object.keys(response.headers ?? {})) expect({ header: h, present: r.headers.has(h) }).toEqual({ header: h, present: true });
    const validate = ajv.compile(media.schema.$ref ? { $ref: `openapi${media.schema.$ref}` } : media.schema);
    const ok = validate(r.body);
    expect({ route: `${method} ${p} ${r.status}`, errors: ok ? null : ajv.errorsText(validate.errors) }).toEqual({ route: `${method} ${p} ${r.status}`, errors: null });
    seen.add(`${method.toLowerCase()} ${p} ${r.status}`);
    return r.status;
  }

  const apns = { system: 'apns', action: 'add', device_token: 'a6461732069737d42065496e' + '0'.repeat(35) + 'f39ad', application_id: TEST_APP_ID, sandbox: true, apns_topic: 'de.cospace.app.voip' };
  const event = { message: 'fax_new', owner: '9aed5e94-3803-11e3-8475-0024e8f90cc0', fax: 'af729cc0-3251-11e2-81c1-0800200c9a66', phone: '+492215587412', page_count: 2 };

  test('/api/push: 200s, every 4xx and the 503', async () => {
    const token = await userToken('9aed5e94-3803-11e3-8475-0024e8f90cc0');
    expect(await conforms(api, 'POST', '/api/push', { token, body: apns })).toBe(200);
    expect(await conforms(api, 'POST', '/api/push', { token, body: { system: 'gcm', action: 'add', registration_id: 'APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx' } })).toBe(200);
    expect(await conforms(api, 'GET', '/api/push', { token })).toBe(200);
    for (const body of [{ ...apns, application_id: 'nope' }, { ...apns, application_id: 'ABCDEFGHIJ.de.unknown.app' }, { ...apns, apns_topic: '!' }, { system: 'fax' }]) {
      expect(await conforms(api, 'POST', '/api/push', { token, body })).toBe(400);
    }
    expect(await conforms(api, 'POST', '/api/push', { token, rawBody: '{not json' })).toBe(400);
    expect(await conforms(api, 'GET', '/api/push', {})).toBe(401);
    expect(await conforms(api, 'POST', '/api/push', { token: 'x.y.z', body: apns })).toBe(401);
    expect(await conforms(api, 'POST', '/api/push', { token, rawBody: JSON.stringify({ ...apns, pad: 'x'.repeat(17 * 1024) }) })).toBe(413);
    expect(await conforms(api, 'PUT', '/api/push', { token })).toBe(405);
    expect(await conforms(api, 'DELETE', '/api/push', { token })).toBe(405);
    await conforms(limited, 'POST', '/api/push', { token, body: apns });
    expect(await conforms(limited, 'POST', '/api/push', { token, body: apns })).toBe(429);
    expect(await conforms(limited, 'GET', '/api/push', { token })).toBe(429);
    expect(await conforms(down, 'GET', '/api/push', { token })).toBe(503);
    expect(await conforms(down, 'POST', '/api/push', { token, body: apns })).toBe(503);
  });

  test('/internal/events: 202, 400, 401, 413, 429, 503', async () => {
    const token = TEST_INTERNAL_TOKEN;
    expect(await conforms(api, 'POST', '/internal/events', { token, body: event })).toBe(202);
    expect(await conforms(api, 'POST', '/internal/events', { token, body: { events: [event, { ...event, id: 'evt-1' }] } })).toBe(202);
    expect(await conforms(api, 'POST', '/internal/events', { token, body: { events: [event, { message: 'fax_new' }] } })).toBe(400);
    expect(await conforms(api, 'POST', '/internal/events', { token, body: { events: [] } })).toBe(400);
    expect(await conforms(api, 'POST', '/internal/events', { body: event })).toBe(401);
    expect(await conforms(api, 'POST', '/internal/events', { token, rawBody: JSON.stringify({ events: [event], pad: 'x'.repeat(1100 * 1024) }) })).toBe(413);
    expect(await conforms(down, 'POST', '/internal/events', { token, body: event })).toBe(503);
    // Failed authentications per address are limited too (AUTH_FAILURES_PER_MINUTE).
    await conforms(limited, 'POST', '/internal/events', { body: event });
    expect(await conforms(limited, 'POST', '/internal/events', { body: event })).toBe(429);
  });

  test('/healthz, /readyz (up and with Redis down), /metrics', async () => {
    expect(await conforms(api, 'GET', '/healthz')).toBe(200);
    expect(await conforms(api, 'GET', '/readyz')).toBe(200);
    expect(await conforms(down, 'GET', '/readyz')).toBe(503);
    expect(await conforms(api, 'GET', '/metrics')).toBe(200);
  });

  test('every response the document lists was produced above', () => {
    const documented = Object.entries<any>(doc.paths).flatMap(([p, ops]) => Object.entries<any>(ops).filter(([m]) => m !== 'servers').flatMap(([m, op]) => Object.keys(op.responses).map((s) => `${m} ${p} ${s}`)));
    expect(documented.filter((d) => !seen.has(d))).toEqual([]);
  });
});
