import http2, { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders, SecureClientSessionOptions } from 'node:http2';
import { BoundedBody, MAX_PROVIDER_BODY_BYTES } from '../limits';

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request that never got an HTTP answer: the caller retries it, the pool replaces the session. */
export class H2TransportError extends Error {
  constructor(public readonly kind: 'timeout' | 'goaway' | 'stream-reset' | 'connection' | 'body-too-large', message: string) {
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
}

interface Slot {
  session: ClientHttp2Session | undefined;
  connecting: Promise<ClientHttp2Session> | undefined;
  inflight: number;
  consecutiveTimeouts: number;
  /** Our cap, lowered to the server's SETTINGS_MAX_CONCURRENT_STREAMS when that is smaller. */
  limit: number;
}

interface Waiter {
  resolve: (slot: Slot) => void;
}

/**
 * First in, first out, O(1) at both ends. A busy worker queues thousands of requests here, and
 * Array.prototype.shift on an array that long showed in the profile.
 */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * A small HTTP/2 client for providers (APNs, FCM v1): a few long-lived connections, many streams each,
 * an in-flight cap per connection with a FIFO queue in front, a timeout per stream, and a connection that
 * stops answering (black hole), sends GOAWAY or errors is dropped and replaced on the next request.
 */
export class H2Pool {
  private readonly slots: Slot[];
  private readonly waiters = new Fifo<Waiter>();
  private readonly maxInflight: number;
  private readonly timeoutMs: number;
  private readonly deadAfter: number;
  private next = 0;
  private closed = false;

  constructor(private readonly opts: H2PoolOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.sessions ?? 1) }, () => ({ session: undefined, connecting: undefined, inflight: 0, consecutiveTimeouts: 0, limit: 0 }));
    this.maxInflight = Math.max(1, opts.maxInflightPerSession ?? 500);
    for (const slot of this.slots) slot.limit = this.maxInflight;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.deadAfter = opts.deadAfterTimeouts ?? 3;
  }

  get inflight(): number {
    return this.slots.reduce((n, s) => n + s.inflight, 0);
  }

  async request(headers: OutgoingHttpHeaders, body: string | Buffer): Promise<H2Response> {
    if (this.closed) throw new H2TransportError('connection', 'pool closed');
    const slot = await this.acquire();
    try {
      if (this.closed) throw new H2TransportError('connection', 'pool closed');
      const session = await this.sessionFor(slot);
      return await this.stream(slot, session, headers, body);
    } finally {
      this.release(slot);
    }
  }

  private acquire(): Promise<Slot> {
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[(this.next + i) % this.slots.length];
      if (slot.inflight < slot.limit) {
        this.next = (this.next + i + 1) % this.slots.length;
        slot.inflight++;
        this.opts.onInflightChange?.(1);
        return Promise.resolve(slot);
      }
    }
    return new Promise((resolve) => this.waiters.push({ resolve }));
  }

  private release(slot: Slot): void {
    if (slot.inflight <= slot.limit) {
      const w = this.waiters.shift();
      if (w) { w.resolve(slot); return; } // hand the slot over: inflight stays the same
    }
    slot.inflight--;
    this.opts.onInflightChange?.(-1);
  }

  private sessionFor(slot: Slot): Promise<ClientHttp2Session> {
    const s = slot.session;
    if (s && !s.closed && !s.destroyed) return Promise.resolve(s);
    if (slot.connecting) return slot.connecting;
    slot.connecting = new Promise<ClientHttp2Session>((resolve, reject) => {
      const session = http2.connect(this.opts.origin, { ...this.opts.tls, settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 } });
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        slot.connecting = undefined;
        session.destroy();
        reject(new H2TransportError('connection', e.message));
      };
      // A peer that accepts TCP but never completes TLS/HTTP2 must not hold requests forever.
      const deadline = setTimeout(() => fail(new Error(`no HTTP/2 connection within ${this.timeoutMs} ms`)), this.timeoutMs);
      session.once('error', fail);
      session.once('close', () => fail(new Error('connection closed before it was established')));
      session.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        session.removeAllListeners('error');
        session.removeAllListeners('close');
        session.on('error', () => this.drop(slot, session));
        session.once('goaway', () => this.drop(slot, session));
        session.once('close', () => this.drop(slot, session));
        session.setLocalWindowSize?.(8 * 1024 * 1024);
        const applyLimit = () => {
          const peer = session.remoteSettings.maxConcurrentStreams;
          slot.limit = Math.max(1, Math.min(this.maxInflight, peer ?? this.maxInflight));
        };
        applyLimit();
        session.on('remoteSettings', applyLimit);
        slot.session = session;
        slot.connecting = undefined;
        slot.consecutiveTimeouts = 0;
        resolve(session);
      });
    });
    return slot.connecting;
  }

  /** Forget a connection that went away; in-flight streams on it fail by themselves. */
  private drop(slot: Slot, session: ClientHttp2Session): void {
    if (slot.session === session) slot.session = undefined;
    if (!session.destroyed) session.close();
  }

  private stream(slot: Slot, session: ClientHttp2Session, headers: OutgoingHttpHeaders, body: string | Buffer): Promise<H2Response> {
    return new Promise((resolve, reject) => {
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request(headers);
      } catch (e) {
        this.drop(slot, session);
        reject(new H2TransportError('connection', (e as Error).message));
        return;
      }
      let status = 0;
      let resHeaders: IncomingHttpHeaders = {};
      const answer = new BoundedBody(this.opts.maxResponseBytes ?? MAX_PROVIDER_BODY_BYTES);
      let settled = false;
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
        if (!status) { reject(new H2TransportError('stream-reset', 'stream ended without a response')); return; }
        slot.consecutiveTimeouts = 0;
        resolve({ status, headers: resHeaders, body: answer.text() });
      });
      req.on('error', (e: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const kind = session.closed || session.destroyed ? 'goaway' : 'stream-reset';
        reject(new H2TransportError(kind, e.message));
      });
      req.on('close', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new H2TransportError(session.closed || session.destroyed ? 'goaway' : 'stream-reset', `stream closed (code ${req.rstCode})`));
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // Queued requests fail now instead of waiting for a slot that will never free up.
    for (let w = this.waiters.shift(); w; w = this.waiters.shift()) {
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
