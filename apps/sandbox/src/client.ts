import crypto from 'node:crypto';
import http2 from 'node:http2';

/**
 * Small client-side helpers for tests, the demo and the benchmark: sign an APNs provider token and make a
 * raw HTTP/2 request that exposes everything the server answered (node-apn hides response headers).
 */

/** Signs an APNs provider token (ES256 JWT: header {alg, kid}, claims {iss, iat}) with a `.p8` key. */
export function signApnsProviderToken(key: { keyId: string; teamId: string; privateKeyPem: string }, iatSeconds = Math.floor(Date.now() / 1000)): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'ES256', kid: key.keyId })}.${enc({ iss: key.teamId, iat: iatSeconds })}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: key.privateKeyPem, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** One request on an HTTP/2 session; resolves with status, headers and body (rejects on stream errors). */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const h: http2.OutgoingHttpHeaders = { ':method': 'POST', ...headers };
    for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
    const bodyless = h[':method'] === 'GET' || h[':method'] === 'HEAD';
    const req = session.request(h, { endStream: bodyless });
    let status = 0;
    let resHeaders: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const fail = (err: Error) => reject(Object.assign(err, { rstCode: req.rstCode }));
    req.on('response', (rh) => {
      resHeaders = rh;
      status = Number(rh[':status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (status === 0) fail(new Error('stream ended without a response'));
      else resolve({ status, headers: resHeaders, body: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', fail);
    req.on('close', () => {
      if (status === 0) fail(new Error(`stream closed without a response (rst code ${req.rstCode})`));
    });
    if (!bodyless) req.end(body);
  });
}
