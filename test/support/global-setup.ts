import fs from 'node:fs';
import path from 'node:path';
import { startRedis } from './redis-server';
import { startRedisCluster } from '../../scripts/lib/redis-cluster';

/**
 * The suite runs on the Node the project brings (package.json devDependency `node`, `.nvmrc`): npm scripts
 * and npx put node_modules/.bin first on the PATH. Say which Node runs it, and refuse another major, so a
 * CI run on the system Node (20, end of life) fails loudly instead of passing on the wrong runtime.
 */
function checkNodeVersion(): void {
  const wanted = fs.readFileSync(path.join(__dirname, '../../.nvmrc'), 'utf8').trim();
  // eslint-disable-next-line no-console
  console.log(`
[pushfleet tests] Node ${process.version} (${process.execPath}); .nvmrc ${wanted}`);
  if (process.versions.node.split('.')[0] !== wanted.split('.')[0]) {
    throw new Error(`tests must run on Node ${wanted} (run them with npm test or npx jest, which use node_modules/.bin/node), not ${process.version}`);
  }
}

// One throwaway redis-server and one throwaway Redis Cluster (3 masters + 3 replicas) for the whole run;
// each test file uses its own key prefix on them.
export default async function globalSetup(): Promise<void> {
  checkNodeVersion();
  const [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  process.env.PUSHFLEET_TEST_REDIS_URL = redis.url;
  process.env.PUSHFLEET_TEST_REDIS_CLUSTER_NODES = cluster.nodesEnv;
  (globalThis as Record<string, unknown>).__pushfleetRedis = redis;
  (globalThis as Record<string, unknown>).__pushfleetCluster = cluster;
}
