// Preload (`node --require scripts/dist/bench/fcm-preload.js`) for the firebase-admin baseline only:
// firebase-admin has no endpoint setting, so within this one process TLS connections to
// fcm.googleapis.com and oauth2.googleapis.com go to the sandbox (BENCH_GOOGLE_PORT on 127.0.0.1),
// trusting the sandbox CA (BENCH_CA_FILE). node:https, node:http2 and fetch all connect through
// tls.connect, so that is the one function patched. Nothing outside this process changes.
import fs from 'node:fs';
import tls from 'node:tls';

const HOSTS = new Set(['fcm.googleapis.com', 'oauth2.googleapis.com']);
const port = Number(process.env.BENCH_GOOGLE_PORT);
const ca = fs.readFileSync(process.env.BENCH_CA_FILE ?? '', 'utf8');
const original = tls.connect;

function redirect(...args: unknown[]): tls.TLSSocket {
  // tls.connect(options[, cb]) | (port[, host][, options][, cb])
  let opts: tls.ConnectionOptions = {};
  let cb: (() => void) | undefined;
  const rest = [...args];
  if (typeof rest[rest.length - 1] === 'function') cb = rest.pop() as () => void;
  if (typeof rest[0] === 'object' && rest[0] !== null) opts = { ...(rest[0] as tls.ConnectionOptions) };
  else {
    opts = { ...((rest.find((a, i) => i > 0 && typeof a === 'object') as tls.ConnectionOptions | undefined) ?? {}), port: rest[0] as number };
    if (typeof rest[1] === 'string') opts.host = rest[1];
  }
  const host = opts.servername || opts.host;
  if (host && HOSTS.has(host)) {
    opts = { ...opts, host: '127.0.0.1', port, servername: 'localhost', ca };
  }
  return cb ? original(opts, cb) : original(opts);
}

if (!Number.isFinite(port) || port <= 0) throw new Error('fcm-preload: BENCH_GOOGLE_PORT is not set');
(tls as { connect: typeof tls.connect }).connect = redirect as typeof tls.connect;
