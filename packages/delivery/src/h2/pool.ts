import type { OutgoingHttpHeaders } from 'node:http2';
import { MAX_PROVIDER_BODY_BYTES } from '../limits';
import { connectH2, H2TlsOptions } from './connect';
import { Fifo } from './fifo';
import { STREAM_WINDOW } from './frames';
import { H2Answer, H2Session, H2Stream } from './session';

export type H2Response = H2Answer;

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
  tls?: H2TlsOptions;
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
  session: H2Session | undefined;
  connecting: Promise<H2Session> | undefined;
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
  private readonly maxBody: number;
  private next = 0;
  private closed = false;

  constructor(private readonly opts: H2PoolOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.sessions ?? 1) }, () => ({ session: undefined, connecting: undefined, inflight: 0, consecutiveTimeouts: 0, limit: 1 }));
    this.maxInflight = Math.max(1, opts.maxInflightPerSession ?? 500);
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.deadAfter = opts.deadAfterTimeouts ?? 3;
    // Our stream window is never raised for one answer: a body must fit in it (the cap aborts first).
    this.maxBody = Math.min(opts.maxResponseBytes ?? MAX_PROVIDER_BODY_BYTES, STREAM_WINDOW);
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
  private sessionFor(slot: Slot): Promise<H2Session> {
    const s = slot.session;
    if (s && !s.closed) return Promise.resolve(s);
    slot.connecting ??= this.connect(slot);
    return slot.connecting;
  }

  private async connect(slot: Slot): Promise<H2Session> {
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
  private adopt(slot: Slot, session: H2Session): void {
    const applyLimit = () => {
      if (slot.session !== session) return;
      slot.limit = Math.max(1, Math.min(this.maxInflight, session.remoteMaxStreams));
      this.wake(slot);
    };
    session.onGoaway = () => this.drop(slot, session);
    session.onClose = () => this.drop(slot, session);
    session.onSettings = applyLimit;
    slot.session = session;
    slot.connecting = undefined;
    slot.consecutiveTimeouts = 0;
    applyLimit();
  }

  /** Forget a connection that went away; its open streams finish or fail by themselves. The next one starts at 1. */
  private drop(slot: Slot, session: H2Session): void {
    if (slot.session === session) {
      slot.session = undefined;
      slot.limit = 1;
    }
    session.close();
  }

  private stream(slot: Slot, session: H2Session, headers: OutgoingHttpHeaders, body: string | Buffer): Promise<H2Response> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let stream: H2Stream | undefined;
      try {
        stream = session.request(headers, body, this.maxBody, (failure, message, answer) => {
          clearTimeout(timer);
          if (!answer) return reject(new H2TransportError(failure ?? 'stream-reset', message));
          slot.consecutiveTimeouts = 0;
          resolve(answer);
        });
      } catch (e) {
        // A header value HTTP/2 cannot carry: this request, not the connection, is at fault.
        return reject(new H2TransportError('stream-reset', (e as Error).message));
      }
      if (!stream) {
        // The connection takes no new streams (closing, or out of stream ids): another one will.
        this.drop(slot, session);
        return reject(new H2TransportError('refused', 'connection takes no new streams'));
      }
      const open = stream;
      timer = setTimeout(() => {
        open.cancel();
        // A connection whose streams keep timing out is black-holed: replace it.
        if (++slot.consecutiveTimeouts >= this.deadAfter) {
          this.drop(slot, session);
          session.destroy();
        }
        reject(new H2TransportError('timeout', `no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
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
