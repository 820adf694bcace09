import net from 'node:net';
import tls from 'node:tls';
import { H2Session } from './session';

/** TLS options for a provider connection: extra CAs, a client certificate. Certificate checking stays on. */
export type H2TlsOptions = Pick<tls.ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'servername'>;

/**
 * Opens one HTTP/2 connection (TLS with ALPN `h2` for https:, prior knowledge for http:, which only tests
 * use) and resolves once it is connected AND the server's first SETTINGS frame has arrived: only then is
 * SETTINGS_MAX_CONCURRENT_STREAMS the server's, not the protocol default (unlimited). Apple starts token
 * connections at 1 stream; a client that opens streams before reading that gets them refused. Rejects
 * with the error, or after `timeoutMs` (a peer that accepts TCP and never speaks HTTP/2).
 */
export function connectH2(origin: string, tlsOptions: H2TlsOptions | undefined, timeoutMs: number): Promise<H2Session> {
  const url = new URL(origin);
  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port) || (secure ? 443 : 80);
  return new Promise<H2Session>((resolve, reject) => {
    const socket = secure
      ? tls.connect({ ...tlsOptions, host, port, servername: tlsOptions?.servername ?? (net.isIP(host) ? undefined : host), ALPNProtocols: ['h2'] })
      : net.connect({ host, port });
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      reject(e);
    };
    const deadline = setTimeout(() => fail(new Error(`no HTTP/2 connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('connection closed before it was established')));
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      if (secure && (socket as tls.TLSSocket).alpnProtocol !== 'h2') return fail(new Error('the server did not negotiate HTTP/2 (ALPN h2)'));
      const session = new H2Session(socket, url.host, secure);
      session.onSettings = () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        socket.removeListener('error', fail);
        resolve(session);
      };
    });
  });
}
