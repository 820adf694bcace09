import { z } from 'zod';
import { ConfigError, Env, jsonObject, parseEnv, positiveInt, readConfigFile, redisUrl } from './env';
import { QueuePartitions, queueEnv, queuePartitions } from './queues';

/**
 * How every process reaches Redis (API, workers, CLI, npm start, bench). Standalone by default; a Redis
 * Cluster when REDIS_CLUSTER_NODES is set (it wins over REDIS_URL). Documented in the README.
 */
export const redisEnv = {
  /** Standalone Redis, redis:// or rediss:// (TLS); user and password may sit in the URL. */
  REDIS_URL: redisUrl,
  /** Seed nodes of a Redis Cluster, `host:port,host:port,...`; when set, every process uses the Cluster client. */
  REDIS_CLUSTER_NODES: z.string().regex(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, 'host:port,host:port,...').optional(),
  /** AUTH for both kinds (overrides a password in REDIS_URL); managed Redis needs it. */
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  /** TLS to the cluster nodes (standalone: use a rediss:// URL). Certificates are always verified. */
  REDIS_TLS: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
  /** Extra CA (PEM) to trust for Redis TLS, e.g. a managed service's private CA. */
  REDIS_TLS_CA_FILE: z.string().optional(),
  /** Cluster only: JSON {"<announced host:port>": {"host": "...", "port": n}} when nodes announce addresses the process cannot reach (NAT, docker). */
  REDIS_CLUSTER_NAT_MAP: jsonObject.optional(),
  /** Registry buckets per kind (docs/redis-keys.md): fixed for a deployment; size it at about tokens / 64. */
  REGISTRY_BUCKETS: positiveInt(256).pipe(z.number().max(1 << 20)),
  /** Replicas a registry move waits for (WAIT) after its claim and its cleaning; default 1 on a cluster, 0 standalone. */
  REGISTRY_WAIT_REPLICAS: z.coerce.number().int().min(0).optional(),
  REGISTRY_WAIT_TIMEOUT_MS: positiveInt(200),
  ...queueEnv,
};

const natMapSchema = z.record(z.string(), z.object({ host: z.string(), port: z.number().int() }));

export type RedisConnection = {
  username?: string;
  password?: string;
  /** PEM of an extra CA, read at start-up. */
  tlsCa?: string;
  tls: boolean;
  registry: { buckets: number; waitReplicas: number; waitTimeoutMs: number };
  /** QUEUE_PARTITIONS and the partitions a worker consumes (WORKER_PARTITIONS). */
  queues: QueuePartitions;
} & ({ kind: 'standalone'; url: string } | { kind: 'cluster'; nodes: { host: string; port: number }[]; natMap?: Record<string, { host: string; port: number }> });

type RedisEnvValues = z.infer<z.ZodObject<typeof redisEnv>>;

/** The parsed variables as one connection description (reads REDIS_TLS_CA_FILE). */
export function redisConnection(e: RedisEnvValues): RedisConnection {
  const tlsCa = e.REDIS_TLS_CA_FILE ? readConfigFile('REDIS_TLS_CA_FILE', e.REDIS_TLS_CA_FILE) : undefined;
  const cluster = e.REDIS_CLUSTER_NODES !== undefined;
  const registry = { buckets: e.REGISTRY_BUCKETS, waitReplicas: e.REGISTRY_WAIT_REPLICAS ?? (cluster ? 1 : 0), waitTimeoutMs: e.REGISTRY_WAIT_TIMEOUT_MS };
  const common = { username: e.REDIS_USERNAME, password: e.REDIS_PASSWORD, tlsCa, registry, queues: queuePartitions(e) };
  if (!cluster) return { ...common, kind: 'standalone', url: e.REDIS_URL, tls: e.REDIS_URL.startsWith('rediss://') };
  const nodes = e.REDIS_CLUSTER_NODES!.split(',').map((s) => {
    const [host, port] = s.trim().split(':');
    return { host, port: Number(port) };
  });
  let natMap: Record<string, { host: string; port: number }> | undefined;
  if (e.REDIS_CLUSTER_NAT_MAP !== undefined) {
    const r = natMapSchema.safeParse(e.REDIS_CLUSTER_NAT_MAP);
    if (!r.success) throw new ConfigError(['REDIS_CLUSTER_NAT_MAP: must map "host:port" to {"host": "...", "port": n}']);
    natMap = r.data;
  }
  return { ...common, kind: 'cluster', nodes, natMap, tls: e.REDIS_TLS };
}

/** Where a connection points, without credentials, for messages. */
export function describeRedis(c: RedisConnection): string {
  if (c.kind === 'cluster') return `cluster ${c.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  try {
    const u = new URL(c.url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'redis://?';
  }
}

const redisEnvSchema = z.object(redisEnv);

/** Only the Redis variables (tests, tools): the connection they describe. */
export const loadRedisEnv = (env: Env): RedisConnection => redisConnection(parseEnv(redisEnvSchema, env));
