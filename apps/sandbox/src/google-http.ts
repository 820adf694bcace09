import crypto from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { Logger } from 'pino';
import type { Behaviour, Behaviours } from './behaviours';
import type { Credentials } from './credentials';
import { goaway, markAnswered, unanswerable } from './goaway';
import type { GoogleLimitDeps } from './google-limits';
import type { Recorder } from './recorder';

/** What Google's endpoints share: request/response types, content types, answering, ids. */

export interface GoogleServerDeps extends GoogleLimitDeps {
  credentials: Credentials;
  recorder: Recorder;
  behaviours: Behaviours;
  logger: Logger;
}

export type Req = http.IncomingMessage | http2.Http2ServerRequest;
export type Headers = Record<string, string | string[] | undefined>;
/** The part of the HTTP/1.1 and HTTP/2 compatibility response APIs used here. */
export interface Res {
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  end(body?: string): unknown;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
}

export const MAX_TTL = 2_419_200;
export const TOKEN_RE = /^\S{1,4096}$/;
export const JSON_TYPE = 'application/json; charset=UTF-8';
export const TEXT_TYPE = 'text/plain; charset=UTF-8';
export const HTML_TYPE = 'text/html; charset=UTF-8';

export function noop(): void {}

export function headerString(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function contentTypeFor(rule: Behaviour, body: string, status: number): string {
  return rule.contentType ?? (body.startsWith('<') ? HTML_TYPE : status === 200 ? JSON_TYPE : TEXT_TYPE);
}

export function extraHeaders(rule: Behaviour | undefined): Record<string, string> | undefined {
  if (rule === undefined || (rule.retryAfter === undefined && rule.headers === undefined)) return undefined;
  const h: Record<string, string> = { ...rule.headers };
  if (rule.retryAfter !== undefined) h['retry-after'] = String(rule.retryAfter);
  return h;
}

/** Set when the request's HTTP/2 connection was sent GOAWAY: it gets no answer (see `unanswerable`). */
export function goneAway(req: Req): { reason?: string } | undefined {
  return (req as http2.Http2ServerRequest).httpVersionMajor === 2 ? unanswerable((req as http2.Http2ServerRequest).stream) : undefined;
}

/** GOAWAY (HTTP/2) or a destroyed socket (HTTP/1.1); `reset` resets just the stream on HTTP/2. */
export function dropConnection(req: Req, rule: Behaviour): void {
  const stream = (req as http2.Http2ServerRequest).stream as http2.ServerHttp2Stream | undefined;
  if (stream !== undefined && stream.session !== undefined && (req as http2.Http2ServerRequest).httpVersionMajor === 2) {
    if (rule.reset !== undefined) {
      if (!stream.destroyed) stream.close(rule.reset);
    } else {
      const g = typeof rule.goaway === 'object' ? rule.goaway : {};
      goaway(stream.session, g.code ?? http2.constants.NGHTTP2_NO_ERROR, g.reason ?? rule.reason ?? 'Shutdown');
    }
  } else {
    req.socket.destroy();
  }
}

export function send(req: Req, res: Res, status: number, contentType: string | undefined, body: string, extra?: Record<string, string>): void {
  if (res.headersSent || res.writableEnded || goneAway(req) !== undefined) return;
  const h: Record<string, string | number> = contentType !== undefined ? { 'content-type': contentType } : {};
  if (extra) Object.assign(h, extra);
  res.writeHead(status, h);
  res.end(body);
  if ((req as http2.Http2ServerRequest).httpVersionMajor === 2) markAnswered((req as http2.Http2ServerRequest).stream);
}

export function later(ms: number | undefined, fn: () => void): void {
  if (ms) setTimeout(fn, ms).unref();
  else fn();
}

/** Message ids as Google makes them: legacy `0:<ms>%<tag><seq>`, and int64 multicast ids beyond 2^53. */
export class GoogleIds {
  private multicastId = 6_000_000_000_000_000_000n + BigInt(crypto.randomBytes(5).readUIntBE(0, 5));
  private messageSeq = 0;
  private readonly idTag = crypto.randomBytes(4).toString('hex');

  nextMessageId(): string {
    return `0:${Date.now()}%${this.idTag}${(++this.messageSeq).toString(16).padStart(8, '0')}`;
  }

  /** Raw JSON digits (a JSON number beyond 2^53). */
  nextMulticastId(): string {
    return (this.multicastId++).toString();
  }
}
