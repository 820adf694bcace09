import http from 'node:http';
import { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { TokenRegistry } from '@pushfleet/registry';
import { createProducer, Producer } from '@pushfleet/producer';
import { apiProbe, ApiDeps, ApiLimits, createApiApp } from '../../apps/api/src/app';
import { createUserAuthenticator, UserAuthOptions } from '../../apps/api/src/auth';
import { apiRedisOptions } from '../../apps/api/src/redis-options';
import { createRedisClient, RedisClient, startOpsServer } from '@pushfleet/observability';
import { loadRedisEnv } from '@pushfleet/config';
import { uniquePrefix } from './env';
import { currentRedisTarget } from './targets';
import { TEST_AUTH } from './jwt';

export const TEST_APP_ID = '39JSDKGJ38.de.cospace.app';
export const TEST_INTERNAL_TOKEN = 'internal-token-0123456789abcdef';

export interface TestApi {
  /** The public listener. */
  url: string;
  /** The ops listener (/metrics, /readyz, /healthz). */
  opsUrl: string;
  prefix: string;
  redis: RedisClient;
  registry: TokenRegistry;
  producer: Producer;
  metrics: Registry;
  logs: string[];
  close(): Promise<void>;
}

/** The real API app, in-process on port 0, on the run's throwaway Redis (or cluster: useRedisTarget) under a fresh prefix. */
export async function startTestApi(opts: {
  redisUrl?: string; maxTokensPerUser?: number; auth?: UserAuthOptions; name?: string;
  /** Defaults: every limit off (0), so tests that are not about limits are not limited. */
  limits?: Partial<ApiLimits>; trustProxy?: ApiDeps['trustProxy']; admin?: ApiDeps['admin'];
} = {}): Promise<TestApi> {
  const prefix = uniquePrefix(opts.name ?? 'api');
  const conn = opts.redisUrl ? loadRedisEnv({ REDIS_URL: opts.redisUrl }) : currentRedisTarget().connection;
  const redis = createRedisClient(conn, apiRedisOptions());
  redis.on('error', () => undefined);
  await redis.connect().catch(() => undefined);
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(s); } });
  const metrics = new Registry();
  const registry = new TokenRegistry(redis, { prefix, maxTokensPerUser: opts.maxTokensPerUser ?? 50, ...conn.registry });
  const producer = createProducer({ connection: redis, prefix, metrics });
  const app = createApiApp({
    redis,
    prefix,
    registry,
    limits: { userPerMinute: 0, authFailuresPerMinute: 0, tokenMovesPerHour: 0, ...opts.limits },
    trustProxy: opts.trustProxy,
    admin: opts.admin,
    authenticate: createUserAuthenticator(opts.auth ?? TEST_AUTH),
    producer,
    internalTokens: [TEST_INTERNAL_TOKEN],
    knownApplicationIds: new Set([TEST_APP_ID]),
    gcmSenderId: '4815162342',
    metrics,
    logger,
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const ops = await startOpsServer({ port: 0, host: '127.0.0.1', registry: metrics, probe: apiProbe(redis) });
  return {
    url: `http://127.0.0.1:${port}`,
    opsUrl: `http://127.0.0.1:${ops.port}`,
    prefix,
    redis,
    registry,
    producer,
    metrics,
    logs,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await ops.close();
      await producer.close().catch(() => undefined);
      redis.disconnect();
    },
  };
}

export async function call(api: { url: string }, method: string, path: string, opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers['content-type'] ??= 'application/json'; }
  const res = await fetch(api.url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}
