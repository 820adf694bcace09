import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface ThrowawayRedis {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function redisServerBinary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a redis-server that only this run owns, on a free port, in a temp dir. `persist` turns on AOF so a
 * restart on the same port and dir keeps the data (used by the Redis-restart fault tests).
 */
export async function startRedis(opts: { port?: number; dir?: string; persist?: boolean; extraArgs?: string[] } = {}): Promise<ThrowawayRedis> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server not found: install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis)');
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no',
    // noeviction and hash-max-listpack-value as recommended for production (docs/operations.md "Redis").
    '--maxmemory-policy', 'noeviction', '--hash-max-listpack-value', '1024', '--loglevel', 'notice'];
  args.push('--appendonly', opts.persist ? 'yes' : 'no');
  if (opts.persist) args.push('--appendfsync', 'always');
  if (opts.extraArgs) args.push(...opts.extraArgs);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`redis-server did not start on ${port}: ${out}`)); }, 10_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (/Ready to accept connections/i.test(out)) { clearTimeout(deadline); resolve(); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => { clearTimeout(deadline); reject(new Error(`redis-server exited with ${code}: ${out}`)); });
  });
  child.stdout!.removeAllListeners('data');
  child.stderr!.removeAllListeners('data');
  child.stdout!.resume();
  child.stderr!.resume();
  child.removeAllListeners('exit');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
