import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './env';
import { describeRedis, loadRedisEnv } from './redis';

test('standalone by default; REDIS_CLUSTER_NODES wins over REDIS_URL and turns the registry WAIT on', () => {
  const s = loadRedisEnv({});
  expect(s).toMatchObject({ kind: 'standalone', url: 'redis://127.0.0.1:6379', tls: false, registry: { buckets: 256, waitReplicas: 0, waitTimeoutMs: 200 } });
  const c = loadRedisEnv({ REDIS_URL: 'redis://elsewhere:6379', REDIS_CLUSTER_NODES: 'a.example:7000, b.example:7001', REDIS_PASSWORD: 'pw', REDIS_USERNAME: 'fleet', REDIS_TLS: 'true' });
  expect(c).toMatchObject({ kind: 'cluster', nodes: [{ host: 'a.example', port: 7000 }, { host: 'b.example', port: 7001 }], password: 'pw', username: 'fleet', tls: true, registry: { waitReplicas: 1 } });
  expect(loadRedisEnv({ REDIS_CLUSTER_NODES: 'a:1', REGISTRY_WAIT_REPLICAS: '0' }).registry.waitReplicas).toBe(0);
  expect(describeRedis(c)).toBe('cluster a.example:7000,b.example:7001');
  expect(describeRedis(loadRedisEnv({ REDIS_URL: 'rediss://:hunter2@h:6380' }))).toBe('rediss://:***@h:6380');
  expect(loadRedisEnv({ REDIS_URL: 'rediss://h:6380' }).tls).toBe(true);
});

test('the CA file is read at start-up; a NAT map must be host:port -> {host, port}', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-redis-ca-'));
  fs.writeFileSync(path.join(dir, 'ca.pem'), 'PEM');
  expect(loadRedisEnv({ REDIS_TLS_CA_FILE: path.join(dir, 'ca.pem') }).tlsCa).toBe('PEM');
  const nat = loadRedisEnv({ REDIS_CLUSTER_NODES: 'a:1', REDIS_CLUSTER_NAT_MAP: '{"10.0.0.1:7000":{"host":"127.0.0.1","port":17000}}' });
  expect(nat).toMatchObject({ natMap: { '10.0.0.1:7000': { host: '127.0.0.1', port: 17000 } } });
  expect(() => loadRedisEnv({ REDIS_CLUSTER_NODES: 'a:1', REDIS_CLUSTER_NAT_MAP: '{"x":1}' })).toThrow(ConfigError);
  expect(() => loadRedisEnv({ REDIS_TLS_CA_FILE: path.join(dir, 'missing.pem') })).toThrow(/REDIS_TLS_CA_FILE/);
});

test('bad values are reported together', () => {
  try {
    loadRedisEnv({ REDIS_CLUSTER_NODES: 'no-port', REGISTRY_BUCKETS: '0', REDIS_TLS: 'yes' });
    throw new Error('no error');
  } catch (e) {
    expect((e as ConfigError).problems.map((p) => p.split(':')[0]).sort()).toEqual(['REDIS_CLUSTER_NODES', 'REDIS_TLS', 'REGISTRY_BUCKETS']);
  }
});

test('QUEUE_PARTITIONS and WORKER_PARTITIONS: default one partition; a subset is checked against the count', () => {
  expect(loadRedisEnv({}).queues).toEqual({ count: 1, consumed: [0] });
  expect(loadRedisEnv({ QUEUE_PARTITIONS: '8', WORKER_PARTITIONS: '0-3' }).queues).toEqual({ count: 8, consumed: [0, 1, 2, 3] });
  expect(() => loadRedisEnv({ QUEUE_PARTITIONS: '4', WORKER_PARTITIONS: '2-5' })).toThrow(/WORKER_PARTITIONS/);
  expect(() => loadRedisEnv({ QUEUE_PARTITIONS: '0' })).toThrow(/QUEUE_PARTITIONS/);
});
