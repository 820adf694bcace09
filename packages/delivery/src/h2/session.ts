import type { Socket } from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http2';
import { encodeRequest, HpackDecoder, HpackError, Pseudo, requestBlockBound } from './hpack';
import { ACK, CANCEL, clientSettings, COMPRESSION_ERROR, CONNECTION_WINDOW, CONTINUATION, DATA, DEFAULT_WINDOW, END_HEADERS, END_STREAM, FIXED_LENGTH, FLOW_CONTROL_ERROR, frame, frameHeader, FRAME_SIZE_ERROR, goaway, GOAWAY,
  HEADERS, MAX_FRAME, MAX_STREAM_ID, NO_ERROR, PADDED, parseSettings, PING, PREFACE, PRIORITY, PROTOCOL_ERROR, PUSH_PROMISE, REFUSED_STREAM, RST_STREAM, SETTINGS, STREAM_WINDOW, u32, WINDOW_UPDATE } from './frames';

export interface H2Answer { status: number; headers: Record<string, string>; body: string }
/** Why a stream got no answer: `refused` when the server cannot have processed it (safe to send again). */
export type H2StreamFailure = 'refused' | 'goaway' | 'stream-reset' | 'body-too-large';
export type H2Done = (failure: H2StreamFailure | undefined, message: string, answer?: H2Answer) => void;

interface Stream {
  id: number; done: H2Done; maxBody: number;
  /** The flush that puts its HEADERS on the wire: until then the server cannot have seen it. */
  flush: number;
  /** Our send window, and the body still to send. */
  sendWindow: number; body: Buffer | undefined;
  /** The answer so far; `unacked`: DATA bytes not yet returned to the server with a WINDOW_UPDATE. */
  status: number; headers: Record<string, string> | undefined; chunks: Buffer[] | undefined; bytes: number; unacked: number;
}

/** A stream handle: `cancel()` resets it (RST_STREAM CANCEL) without calling its callback. */
export interface H2Stream { cancel(): void }
/**
 * One HTTP/2 client connection (RFC 9113) for provider APIs, used instead of node:http2, whose client cost
 * 2.7x the CPU per request (docs/benchmarks.md, "Session 4"): no stream objects or per-request listeners,
 * one socket write per event-loop turn. It keeps what a provider relies on: the server's stream limit
 * (read by the pool), flow control both ways, GOAWAY's last stream id, REFUSED_STREAM, PING,
 * CONTINUATION, padding, and HPACK with the server's dynamic table.
 */
export class H2Session {
  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says). */
  remoteMaxStreams = Infinity;
  /** No new streams (GOAWAY either way, closing, or gone). */
  closed = false;
  destroyed = false;
  /** The last stream id of the server's GOAWAY: streams above it were never processed. */
  goawayLastStream: number | undefined;
  onSettings?: () => void;
  onGoaway?: (code: number, lastStreamId: number) => void;
  onClose?: () => void;
  private readonly streams = new Map<number, Stream>();
  private readonly decoder = new HpackDecoder();
  private readonly pseudo: Pseudo;
  private nextId = 1;
  private out: Buffer[] = [];
  private flushing = false;
  private flushes = 0;
  private sendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = MAX_FRAME;
  private unacked = 0;
  private blocked: Stream[] = [];
  private pending: Buffer | undefined;
  private continuing: { id: number; flags: number; chunks: Buffer[] } | undefined;

  constructor(private readonly socket: Socket, authority: string, secure: boolean) {
    this.pseudo = { scheme: secure ? 'https' : 'http', authority };
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => undefined); // 'close' follows and fails what is open
    socket.on('close', () => this.gone('connection closed'));
    this.send(PREFACE);
    this.send(clientSettings());
    this.send(u32(WINDOW_UPDATE, 0, 0, CONNECTION_WINDOW - DEFAULT_WINDOW));
  }

  /** Opens a stream, or answers undefined when this connection takes no more (the caller uses another). */
  request(headers: OutgoingHttpHeaders, body: string | Buffer, maxBody: number, done: H2Done): H2Stream | undefined {
    if (this.closed || this.nextId > MAX_STREAM_ID) return undefined;
    const bodyLength = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    // The usual request is one buffer: HEADERS, then the whole body in one DATA frame if the windows allow.
    const inline = bodyLength > 0 && bodyLength <= Math.min(this.sendWindow, this.peerInitialWindow, this.peerMaxFrame);
    const f = Buffer.allocUnsafe(9 + requestBlockBound(headers, this.pseudo) + (inline ? 9 + bodyLength : 0));
    const blockLength = encodeRequest(headers, this.pseudo, f, 9) - 9;
    if (blockLength > this.peerMaxFrame) throw new TypeError(`request headers of ${blockLength} bytes: over one frame`);
    const id = this.nextId;
    this.nextId += 2;
    frameHeader(f, 0, blockLength, HEADERS, END_HEADERS | (bodyLength === 0 ? END_STREAM : 0), id);
    let end = 9 + blockLength;
    const s: Stream = { id, done, maxBody, flush: this.flushes, sendWindow: this.peerInitialWindow, body: undefined, status: 0, headers: undefined, chunks: undefined, bytes: 0, unacked: 0 };
    if (inline) {
      frameHeader(f, end, bodyLength, DATA, END_STREAM, id);
      if (typeof body === 'string') f.write(body, end + 9); else body.copy(f, end + 9);
      end += 9 + bodyLength;
      this.sendWindow -= bodyLength;
      s.sendWindow -= bodyLength;
    } else if (bodyLength > 0) s.body = typeof body === 'string' ? Buffer.from(body) : body;
    this.streams.set(id, s);
    this.send(f.subarray(0, end));
    if (s.body) this.writeBody(s);
    return { cancel: () => this.cancel(s) };
  }

  /** No new streams; the connection ends once the open ones are answered. `done` when it is gone. */
  close(done?: () => void): void {
    if (this.destroyed) { done?.(); return; }
    if (done) this.socket.once('close', () => done());
    if (!this.closed) { this.closed = true; this.send(goaway(NO_ERROR)); }
    if (this.streams.size === 0) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Sends as much of the stream's body as both windows allow; the rest waits for WINDOW_UPDATE. */
  private writeBody(s: Stream): void {
    while (s.body) {
      const n = Math.min(s.body.length, this.sendWindow, s.sendWindow, this.peerMaxFrame);
      if (n <= 0) { this.blocked.push(s); return; }
      const end = n === s.body.length;
      const f = frame(DATA, end ? END_STREAM : 0, s.id, n);
      s.body.copy(f, 9, 0, n);
      this.send(f);
      this.sendWindow -= n;
      s.sendWindow -= n;
      s.body = end ? undefined : s.body.subarray(n);
    }
  }

  private unblock(): void {
    const waiting = this.blocked;
    this.blocked = [];
    for (const s of waiting) if (this.streams.has(s.id) && s.body) this.writeBody(s);
  }

  private cancel(s: Stream): void {
    if (!this.streams.delete(s.id)) return;
    s.body = undefined;
    if (!this.destroyed) this.send(u32(RST_STREAM, 0, s.id, CANCEL));
    this.maybeEnd();
  }

  /** Frames of one event-loop turn go out in one write. */
  private send(f: Buffer): void {
    this.out.push(f);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      this.flushes++;
      const out = this.out;
      this.out = [];
      if (!this.destroyed && out.length > 0) this.socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    });
  }

  private read(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    while (buf.length - pos >= 9 && !this.destroyed) {
      const len = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
      if (len > MAX_FRAME) return this.fail(FRAME_SIZE_ERROR, `frame of ${len} bytes`);
      if (buf.length - pos < 9 + len) break;
      try {
        this.frame(buf[pos + 3], buf[pos + 4], buf.readUInt32BE(pos + 5) & MAX_STREAM_ID, buf, pos + 9, pos + 9 + len);
      } catch (e) {
        return this.fail(e instanceof HpackError ? COMPRESSION_ERROR : PROTOCOL_ERROR, (e as Error).message);
      }
      pos += 9 + len;
    }
    this.pending = pos < buf.length ? buf.subarray(pos) : undefined;
  }

  private frame(type: number, flags: number, id: number, b: Buffer, s: number, e: number): void {
    if (this.continuing && type !== CONTINUATION) throw new Error('frame inside a header block');
    const want = FIXED_LENGTH[type];
    if (want !== undefined && e - s !== want && !(type === SETTINGS && !(flags & ACK))) throw new Error(`frame type ${type} of ${e - s} bytes`);
    switch (type) {
      case DATA: return this.onData(flags, id, b, s, e);
      case HEADERS: {
        const pad = flags & PADDED ? b[s++] : 0;
        if (flags & PRIORITY) s += 5;
        if (e - pad < s) throw new Error('bad padding');
        return this.onHeaderBlock(id, flags, b.subarray(s, e - pad));
      }
      case CONTINUATION: {
        const c = this.continuing;
        if (!c || c.id !== id) throw new Error('unexpected CONTINUATION');
        this.continuing = undefined;
        return this.onHeaderBlock(id, c.flags | (flags & END_HEADERS), Buffer.concat([...c.chunks, b.subarray(s, e)]));
      }
      case RST_STREAM: return this.onReset(id, b.readUInt32BE(s));
      case SETTINGS: return flags & ACK ? undefined : this.onSettingsFrame(b, s, e);
      case PING: if (!(flags & ACK)) { const f = frame(PING, ACK, 0, 8); b.copy(f, 9, s, s + 8); this.send(f); } return;
      case GOAWAY: if (e - s < 8) throw new Error('short GOAWAY'); return this.onGoawayFrame(b.readUInt32BE(s) & MAX_STREAM_ID, b.readUInt32BE(s + 4));
      case WINDOW_UPDATE: return this.onWindowUpdate(id, b.readUInt32BE(s) & MAX_STREAM_ID);
      case PUSH_PROMISE: throw new Error('PUSH_PROMISE with push disabled');
      default: return; // PRIORITY and unknown frame types are ignored (RFC 9113 5.5)
    }
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    if (!(flags & END_HEADERS)) { this.continuing = { id, flags, chunks: [Buffer.from(block)] }; return; }
    const headers = this.decoder.decode(block); // always: the dynamic table must follow every block
    const s = this.streams.get(id);
    if (!s) return;
    if (s.status === 0) {
      const status = Number(headers[':status']);
      if (!(status >= 200)) { if (flags & END_STREAM) this.finish(s); return; } // 1xx: the answer follows
      s.status = status;
      s.headers = headers;
    }
    if (flags & END_STREAM) this.finish(s);
  }

  private onData(flags: number, id: number, b: Buffer, start: number, e: number): void {
    const payload = e - start;
    this.unacked += payload;
    if (this.unacked >= CONNECTION_WINDOW / 2) { this.send(u32(WINDOW_UPDATE, 0, 0, this.unacked)); this.unacked = 0; }
    const s = this.streams.get(id);
    if (!s) return;
    const pad = flags & PADDED ? b[start++] : 0;
    const n = e - pad - start;
    if (n < 0) throw new Error('bad padding');
    s.bytes += n;
    if (s.bytes > s.maxBody) {
      this.cancel(s);
      return s.done('body-too-large', `response body over ${s.maxBody} bytes`);
    }
    if (n > 0) (s.chunks ??= []).push(Buffer.from(b.subarray(start, start + n)));
    s.unacked += payload;
    if (flags & END_STREAM) return this.finish(s);
    if (s.unacked >= STREAM_WINDOW / 2) { this.send(u32(WINDOW_UPDATE, 0, id, s.unacked)); s.unacked = 0; }
  }

  private finish(s: Stream): void {
    this.streams.delete(s.id);
    this.maybeEnd();
    if (!s.status) return s.done('stream-reset', 'stream ended without a response');
    s.done(undefined, '', { status: s.status, headers: s.headers!, body: s.chunks ? Buffer.concat(s.chunks).toString('utf8') : '' });
  }

  private onReset(id: number, code: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    this.streams.delete(id);
    this.maybeEnd();
    s.done(code === REFUSED_STREAM ? 'refused' : 'stream-reset', `stream reset by the server (code ${code})`);
  }

  private onSettingsFrame(b: Buffer, s: number, e: number): void {
    const { maxStreams, initialWindow, maxFrame } = parseSettings(b, s, e);
    if (maxStreams !== undefined) this.remoteMaxStreams = maxStreams;
    if (maxFrame !== undefined) this.peerMaxFrame = maxFrame;
    if (initialWindow !== undefined) {
      for (const st of this.streams.values()) st.sendWindow += initialWindow - this.peerInitialWindow;
      this.peerInitialWindow = initialWindow;
    }
    this.send(frame(SETTINGS, ACK, 0, 0));
    this.unblock();
    this.onSettings?.();
  }

  private onWindowUpdate(id: number, increment: number): void {
    if (increment === 0) throw new Error('WINDOW_UPDATE of 0');
    if (id === 0) {
      this.sendWindow += increment;
      if (this.sendWindow > MAX_STREAM_ID) return this.fail(FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
    } else { const s = this.streams.get(id); if (s) s.sendWindow += increment; }
    this.unblock();
  }

  private onGoawayFrame(lastStreamId: number, code: number): void {
    this.closed = true;
    this.goawayLastStream = Math.min(lastStreamId, this.goawayLastStream ?? MAX_STREAM_ID);
    for (const s of [...this.streams.values()]) {
      if (s.id <= this.goawayLastStream) continue;
      this.streams.delete(s.id);
      s.done('refused', `stream ${s.id} beyond the server's GOAWAY (last stream ${lastStreamId})`);
    }
    this.onGoaway?.(code, lastStreamId);
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.closed && this.streams.size === 0 && !this.destroyed) this.socket.end();
  }

  /** A connection error: GOAWAY with the code, then the socket goes. */
  private fail(code: number, message: string): void {
    if (this.destroyed) return;
    this.socket.write(goaway(code));
    this.gone(`connection error: ${message}`);
    this.socket.destroy();
  }

  private gone(message: string): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closed = true;
    const open = [...this.streams.values()];
    this.streams.clear();
    // A stream whose HEADERS never reached the socket was never seen by the server.
    for (const s of open) s.done(s.flush >= this.flushes ? 'refused' : 'goaway', message);
    this.onClose?.();
  }
}

