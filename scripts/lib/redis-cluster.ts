import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, startRedis, ThrowawayRedis } from './redis-server';

const run = promisify(execFile);

export interface ThrowawayCluster {
  /** Seed nodes as REDIS_CLUSTER_NODES takes them: `127.0.0.1:p1,127.0.0.1:p2,...`. */
  nodesEnv: string;
  nodes: ThrowawayRedis[];
  stop(): Promise<void>;
}

async function clusterInfo(port: number): Promise<string> {
  return (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout;
}

/** Whether the cluster has `replicas` per master and every replica's link to its master is up. */
async function replicasSynced(ports: number[], replicas: number): Promise<boolean> {
  if (replicas === 0) return true;
  const roles = await Promise.all(ports.map(async (p) => (await run('redis-cli', ['-p', String(p), 'info', 'replication'])).stdout));
  const slaves = roles.filter((r) => /role:slave/.test(r));
  return slaves.length === ports.length / (1 + replicas) * replicas && slaves.every((r) => /master_link_status:up/.test(r) && /master_sync_in_progress:0/.test(r));
}

/**
 * A local Redis Cluster that only this run owns: `masters` masters (3) with one replica each (or none), on free ports,
 * one temp dir per node. Resolves once every node reports cluster_state:ok (polled, with a deadline).
 */
export async function startRedisCluster(opts: { masters?: number; replicas?: 0 | 1; timeoutMs?: number } = {}): Promise<ThrowawayCluster> {
  const replicas = opts.replicas ?? 1;
  const count = (opts.masters ?? 3) * (1 + replicas);
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const nodes = await Promise.all(ports.map((port) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-cluster-'));
    return startRedis({ port, dir, // No diskless-sync delay (Redis waits 5 s by default before a replica's first sync).
    extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--repl-diskless-sync-delay', '0'] });
  }));
  const stop = async () => { await Promise.all(nodes.map((n) => n.stop())); };
  try {
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
    for (;;) {
      const infos = await Promise.all(ports.map(clusterInfo));
      // Ready means every replica has finished its first sync too: a replica that never synced cannot be
      // promoted when its master dies (it counts as disconnected for too long), and WAIT gets no answer.
      if (infos.every((i) => /cluster_state:ok/.test(i) && /cluster_known_nodes:(\d+)/.exec(i)?.[1] === String(count)) && (await replicasSynced(ports, replicas))) break;
      if (Date.now() > deadline) throw new Error(`the local cluster did not reach cluster_state:ok in time: ${infos[0]}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodesEnv: ports.map((p) => `127.0.0.1:${p}`).join(','), nodes, stop };
}
