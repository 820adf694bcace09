import http2, { ClientHttp2Session, SecureClientSessionOptions } from 'node:http2';

/**
 * Opens one HTTP/2 connection and resolves once it is connected AND the server's first SETTINGS frame has
 * arrived: only then is SETTINGS_MAX_CONCURRENT_STREAMS the server's, not the protocol default (unlimited).
 * Apple starts token connections at 1 stream; a client that opens streams before reading that gets them
 * refused. Rejects with the error, or after `timeoutMs` (a peer that accepts TCP and never speaks HTTP/2).
 */
export function connectH2(origin: string, tls: SecureClientSessionOptions | undefined, timeoutMs: number): Promise<ClientHttp2Session> {
  return new Promise<ClientHttp2Session>((resolve, reject) => {
    const session = http2.connect(origin, { ...tls, settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 } });
    let settled = false;
    let connected = false;
    let settings = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      session.destroy();
      reject(e);
    };
    const ready = () => {
      if (settled || !connected || !settings) return;
      settled = true;
      clearTimeout(deadline);
      session.removeAllListeners('error');
      session.removeAllListeners('close');
      resolve(session);
    };
    const deadline = setTimeout(() => fail(new Error(`no HTTP/2 connection within ${timeoutMs} ms`)), timeoutMs);
    session.once('error', fail);
    session.once('close', () => fail(new Error('connection closed before it was established')));
    session.once('remoteSettings', () => { settings = true; ready(); });
    session.once('connect', () => { connected = true; ready(); });
  });
}
