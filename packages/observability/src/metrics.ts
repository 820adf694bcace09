import http from 'node:http';
import { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per process, with Node's process metrics under the pushfleet_ prefix. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'pushfleet_' });
  return registry;
}

export interface Probe {
  /** Resolves when the process can do its work (e.g. Redis answers PING). */
  ready(): Promise<boolean>;
}

/**
 * A tiny HTTP server for workers: /metrics, /healthz (process up), /readyz (probe). The API serves the
 * same routes from Express instead.
 */
export async function startOpsServer(opts: { port: number; host?: string; registry: Registry; probe: Probe }): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') { res.writeHead(405).end(); return; }
    if (url === '/metrics') {
      opts.registry.metrics().then(
        (body) => { res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body); },
        () => { res.writeHead(500).end(); },
      );
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (url === '/readyz') {
      opts.probe.ready().then(
        (ok) => { res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(ok ? '{"status":"ok"}' : '{"status":"unavailable"}'); },
        () => { res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"unavailable"}'); },
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":"not-found"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(opts.port, opts.host ?? '0.0.0.0', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
