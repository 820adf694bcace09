import http2, { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, SecureClientSessionOptions } from 'node:http2';
import { BoundedBody, MAX_PROVIDER_BODY_BYTES } from '../limits';
import { connectH2 } from './connect';
import { Fifo } from './fifo';

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * Why a request got no HTTP answer. `refused`: the server never processed the stream (REFUSED_STREAM, a
 * stream beyond a GOAWAY's last stream id, or one never sent): the pool sends it again at once itself and
 * reports it only when the resends run out.
 */
export type H2FailureKind = 'timeout' | 'goaway' | 'stream-reset' | 'connection' | 'body-too-large' | 'refused';

/** A request that never got an HTTP answer: the caller retries it, the pool replaces the session. */
export class H2TransportError extends Error {
  constructor(public readonly kind: H2FailureKind, message: string) {
    super(message);
    this.name = 'H2TransportError';
  }
}

export interface H2PoolOptions {
  /** https://host:port */
  origin: string;
  /** TLS options: ca, cert/key/passphrase for certificate auth. Certificate checking is never turned off. */
  tls?: SecureClientSessionOptions;
  /** HTTP/2 connections kept open to the origin. */
  sessions?: number;
  /** Streams in flight per connection; requests beyond it wait in our queue, not in nghttp2's. */
  maxInflightPerSession?: number;
  /** Per request, counted from the moment its stream opens (queue time is not counted). */
  requestTimeoutMs?: number;
  /** Consecutive timeouts on one connection after which it is considered dead and replaced. */
  deadAfterTimeouts?: number;
  onInflightChange?: (delta: number) => void;
  /** A response body over this aborts its stream (H2TransportError 'body-too-large'). @defaultValue MAX_PROVIDER_BODY_BYTES (64 KiB) */
  maxResponseBytes?: number;
  /** Called each time the pool sends a stream again that the server refused or never processed. */
  onResend?: () => void;
}

/** Immediate resends of one request the server never processed, before it is reported as `refused`. */
export const MAX_RESENDS = 10;

interface Slot {
  session: ClientHttp2Session | undefined;
  connecting: Promise<ClientHttp2Session> | undefined;
  inflight: number;
  consecutiveTimeouts: number;
  /**
   * Streams allowed now: 1 while there is no connection (the one request that opens it), then the server's
   * current SETTINGS_MAX_CONCURRENT_STREAMS capped by ours, following every SETTINGS frame it sends.
   */
  limit: number;
}

interface Waiter {
  resolve: (slot: Slot) => void;
}

/** The last stream id each connection's GOAWAY said the server processed: streams above it never were. */
const goawayLastStream = new WeakMap<ClientHttp2Session, number>();

/** Whether the server never processed this stream, so sending it again cannot deliver twice. */
function neverProcessed(session: ClientHttp2Session, req: ClientHttp2Stream): boolean {
  if (req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM || req.id === undefined) return true;
  const last = goawayLastStream.get(session);
  return last !== undefined && req.id > last;
}

/**
 * A small HTTP/2 client for providers (APNs, FCM v1): a few long-lived connections, many streams each,
 * an in-flight limit per connection that follows the server's SETTINGS with a FIFO queue in front, a
 * timeout per stream, and a connection that stops answering (black hole), sends GOAWAY or errors is
 * dropped and replaced on the next request. No stream opens before the server's first SETTINGS frame, and
 * a stream the server refused or never processed is sent again at once, ahead of the queue.
 */
export class H2Pool {
  private readonly slots: Slot[];
  private readonly waiters = new Fifo<Waiter>();
  /** Requests sent again after a refusal: served before the queue. */
  private readonly resends = new Fifo<Waiter>();
  private readonly maxInflight: number;
  private readonly timeoutMs: number;
  private readonly deadAfter: number;
  private next = 0;
  private closed = false;

  constructor(private readonly opts: H2PoolOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.sessions ?? 1) }, () => ({ session: undefined, connecting: undefined, inflight: 0, consecutiveTimeouts: 0, limit: 1 }));
    this.maxInflight = Math.max(1, opts.maxInflightPerSession ?? 500);
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.deadAfter = opts.deadAfterTimeouts ?? 3;
  }

  get inflight(): number {
    return this.slots.reduce((n, s) => n + s.inflight, 0);
  }

  /** Sends one request; a stream the server refused or never processed goes again at once (MAX_RESENDS). */
  async request(headers: OutgoingHttpHeaders, body: string | Buffer): Promise<H2Response> {
    for (let resend = 0; ; resend++) {
      try {
        return await this.requestOnce(headers, body, resend > 0);
      } catch (e) {
        if (!(e instanceof H2TransportError) || e.kind !== 'refused' || resend >= MAX_RESENDS || this.closed) throw e;
        this.opts.onResend?.();
      }
    }
  }

  private async requestOnce(headers: OutgoingHttpHeaders, body: string | Buffer, urgent: boolean): Promise<H2Response> {
    if (this.closed) throw new H2TransportError('connection', 'pool closed');
    const slot = await this.acquire(urgent);
    try {
      if (this.closed) throw new H2TransportError('connection', 'pool closed');
      const session = await this.sessionFor(slot);
      return await this.stream(slot, session, headers, body);
    } finally {
      this.release(slot);
    }
  }

  private acquire(urgent: boolean): Promise<Slot> {
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[(this.next + i) % this.slots.length];
      if (slot.inflight < slot.limit) {
        this.next = (this.next + i + 1) % this.slots.length;
        slot.inflight++;
        this.opts.onInflightChange?.(1);
        return Promise.resolve(slot);
      }
    }
    return new Promise((resolve) => (urgent ? this.resends : this.waiters).push({ resolve }));
  }

  private nextWaiter(): Waiter | undefined {
    return this.resends.shift() ?? this.waiters.shift();
  }

  private release(slot: Slot): void {
    if (slot.inflight <= slot.limit) {
      const w = this.nextWaiter();
      if (w) { w.resolve(slot); return; } // hand the slot over: inflight stays the same
    }
    slot.inflight--;
    this.opts.onInflightChange?.(-1);
  }

  /** The slot's limit rose (new SETTINGS): start queued requests at once. */
  private wake(slot: Slot): void {
    while (slot.inflight < slot.limit) {
      const w = this.nextWaiter();
      if (!w) return;
      slot.inflight++;
      this.opts.onInflightChange?.(1);
      w.resolve(slot);
    }
  }

  /** The slot's connection, opened when needed; it resolves once the server's first SETTINGS arrived. */
  private sessionFor(slot: Slot): Promise<ClientHttp2Session> {
    const s = slot.session;
    if (s && !s.closed && !s.destroyed) return Promise.resolve(s);
    slot.connecting ??= this.connect(slot);
    return slot.connecting;
  }

  private async connect(slot: Slot): Promise<ClientHttp2Session> {
    try {
      const session = await connectH2(this.opts.origin, this.opts.tls, this.timeoutMs);
      this.adopt(slot, session);
      return session;
    } catch (e) {
      slot.connecting = undefined;
      throw new H2TransportError('connection', (e as Error).message);
    }
  }

  /** A connection that is up: follow its SETTINGS, forget it when it goes away. */
  private adopt(slot: Slot, session: ClientHttp2Session): void {
    session.on('error', () => this.drop(slot, session));
    session.once('goaway', (_code: number, lastStreamId: number) => {
      goawayLastStream.set(session, lastStreamId);
      this.drop(slot, session);
    });
    session.once('close', () => this.drop(slot, session));
    session.setLocalWindowSize?.(8 * 1024 * 1024);
    const applyLimit = () => {
      if (slot.session !== session) return;
      const peer = session.remoteSettings.maxConcurrentStreams;
      slot.limit = Math.max(1, Math.min(this.maxInflight, peer ?? this.maxInflight));
      this.wake(slot);
    };
    slot.session = session;
    slot.connecting = undefined;
    slot.consecutiveTimeouts = 0;
    applyLimit();
    session.on('remoteSettings', applyLimit);
  }

  /** Forget a connection that went away; in-flight streams on it fail by themselves. The next one starts at 1. */
  private drop(slot: Slot, session: ClientHttp2Session): void {
    if (slot.session === session) {
      slot.session = undefined;
      slot.limit = 1;
    }
    if (!session.destroyed) session.close();
  }

  private stream(slot: Slot, session: ClientHttp2Session, headers: OutgoingHttpHeaders, body: string | Buffer): Promise<H2Response> {
    return new Promise((resolve, reject) => {
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request(headers);
      } catch (e) {
        this.drop(slot, session);
        // The session was closing: the stream was never sent.
        reject(new H2TransportError('refused', (e as Error).message));
        return;
      }
      let status = 0;
      let resHeaders: IncomingHttpHeaders = {};
      const answer = new BoundedBody(this.opts.maxResponseBytes ?? MAX_PROVIDER_BODY_BYTES);
      let settled = false;
      const failure = (): H2FailureKind => (neverProcessed(session, req) ? 'refused' : session.closed || session.destroyed ? 'goaway' : 'stream-reset');
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        req.close(http2.constants.NGHTTP2_CANCEL);
        // A connection whose streams keep timing out is black-holed: replace it.
        if (++slot.consecutiveTimeouts >= this.deadAfter) {
          this.drop(slot, session);
          session.destroy();
        }
        reject(new H2TransportError('timeout', `no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      req.on('response', (h) => { status = Number(h[':status']); resHeaders = h; });
      req.on('data', (chunk: Buffer) => {
        if (answer.add(chunk) || settled) return;
        settled = true;
        clearTimeout(timer);
        req.close(http2.constants.NGHTTP2_CANCEL);
        reject(new H2TransportError('body-too-large', `response body over ${answer.max} bytes`));
      });
      req.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!status) { reject(new H2TransportError(failure(), 'stream ended without a response')); return; }
        slot.consecutiveTimeouts = 0;
        resolve({ status, headers: resHeaders, body: answer.text() });
      });
      req.on('error', (e: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new H2TransportError(failure(), e.message));
      });
      req.on('close', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new H2TransportError(failure(), `stream closed (code ${req.rstCode})`));
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // Queued requests fail now instead of waiting for a slot that will never free up.
    for (let w = this.nextWaiter(); w; w = this.nextWaiter()) {
      const slot = this.slots[0];
      slot.inflight++;
      this.opts.onInflightChange?.(1);
      w.resolve(slot);
    }
    await Promise.all(this.slots.map((slot) => new Promise<void>((resolve) => {
      const s = slot.session;
      slot.session = undefined;
      if (!s || s.destroyed) return resolve();
      const t = setTimeout(() => { s.destroy(); resolve(); }, 2000);
      s.close(() => { clearTimeout(t); resolve(); });
    })));
  }
}
