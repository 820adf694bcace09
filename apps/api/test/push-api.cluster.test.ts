// push-api.test.ts, every test of it, on the local Redis Cluster (3 masters + 3 replicas) of the run.
import { useRedisTarget } from '../../../test/support/targets';

useRedisTarget('cluster');
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./push-api.test');
