import tls from 'node:tls';

/**
 * A deliberately minimal HTTP/2 client for the benchmark: it writes HEADERS + DATA frames itself (HPACK
 * with a few dynamic-table entries, as real clients use) and only reads enough of the answer to tell
 * 200 from the rest. It costs a fraction of node:http2's client CPU, so on a small machine the wall-clock
 * figure shows the server's ceiling instead of the client's. Not for anything but benchmarking.
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
  return b;
}

/** HPACK integer with an N-bit prefix. */
function hpackInt(value: number, prefixBits: number, firstByteFlags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByteFlags | value];
  const out = [firstByteFlags | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7, 0)), bytes]);
}

/** Literal with incremental indexing; `nameIndex` 0 = new name. */
function literalIndexed(nameIndex: number, name: string, value: string): Buffer {
  const parts: Buffer[] = [Buffer.from(hpackInt(nameIndex, 6, 0x40))];
  if (nameIndex === 0) parts.push(hpackString(name));
  parts.push(hpackString(value));
  return Buffer.concat(parts);
}

/** Literal without indexing with a static-table name. */
function literalPlain(nameIndex: number, value: string): Buffer {
  return Buffer.concat([Buffer.from(hpackInt(nameIndex, 4, 0x00)), hpackString(value)]);
}

export interface FrameClientResult { ok: number; failed: number; ms: number }

/**
 * Sends `requests` POSTs with `concurrency` streams in flight on one TLS connection; `paths[i % n]` and the
 * constant headers are sent for each. Resolves when every stream has ended.
 */
export function blastFrames(opts: {
  port: number; caPem: string; paths: string[]; constantHeaders: [string, string][]; authority: string; body: Buffer; requests: number; concurrency: number;
}): Promise<FrameClientResult> {
  const { paths, body, requests } = opts;
  const concurrency = Math.min(opts.concurrency, 1000);
  // Request 1 puts :authority and the constant headers in the server's dynamic table; later requests index them.
  const STATIC: Record<string, number> = { ':authority': 1, authorization: 23 };
  const firstBlockTail = Buffer.concat([literalIndexed(1, ':authority', opts.authority), ...opts.constantHeaders.map(([n, v]) => literalIndexed(STATIC[n] ?? 0, n, v))]);
  const entries = 1 + opts.constantHeaders.length;
  // Most recent insertion is 62; the first inserted (authority) is 62 + entries - 1.
  const laterBlockTail = Buffer.from(Array.from({ length: entries }, (_, i) => 0x80 | (62 + entries - 1 - i)));
  if (62 + entries - 1 >= 127) throw new Error('too many constant headers');
  const pathLiterals = paths.map((p) => literalPlain(4, p));
  const methodScheme = Buffer.from([0x83, 0x87]); // :method POST, :scheme https

  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: 'localhost', port: opts.port, ca: opts.caPem, ALPNProtocols: ['h2'], servername: 'localhost' });
    let sendWindow = 65_535;
    let nextStream = 1;
    let started = 0;
    let inFlight = 0;
    let ok = 0;
    let failed = 0;
    let t0 = 0n;
    let buf: Buffer = Buffer.alloc(0);
    const out: Buffer[] = [];
    let flushQueued = false;
    const statusOk = new Map<number, boolean>();

    const flush = () => {
      flushQueued = false;
      if (out.length) sock.write(out.length === 1 ? out[0] : Buffer.concat(out));
      out.length = 0;
    };
    const queue = (b: Buffer) => {
      out.push(b);
      if (!flushQueued) {
        flushQueued = true;
        setImmediate(flush);
      }
    };
    const launch = () => {
      while (inFlight < concurrency && started < requests && sendWindow >= body.length) {
        const id = nextStream;
        nextStream += 2;
        const block = Buffer.concat([methodScheme, pathLiterals[started % pathLiterals.length], started === 0 ? firstBlockTail : laterBlockTail]);
        queue(frameHeader(block.length, HEADERS, END_HEADERS, id));
        queue(block);
        queue(frameHeader(body.length, DATA, END_STREAM, id));
        queue(body);
        sendWindow -= body.length;
        started++;
        inFlight++;
      }
    };
    const done = (id: number) => {
      if (statusOk.get(id)) ok++;
      else failed++;
      statusOk.delete(id);
      inFlight--;
      if (ok + failed === requests) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        sock.end();
        resolve({ ok, failed, ms });
      } else {
        launch();
      }
    };

    sock.on('secureConnect', () => {
      if (sock.alpnProtocol !== 'h2') return reject(new Error(`ALPN gave ${String(sock.alpnProtocol)}`));
      const settings = Buffer.alloc(12);
      settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
      settings.writeUInt32BE(0, 2);
      settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
      settings.writeUInt32BE(1 << 20, 8);
      const wu = Buffer.alloc(4);
      wu.writeUInt32BE(16 << 20, 0);
      sock.write(Buffer.concat([PREFACE, frameHeader(12, SETTINGS, 0, 0), settings, frameHeader(4, WINDOW_UPDATE, 0, 0), wu]));
      t0 = process.hrtime.bigint();
      launch();
    });
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let off = 0;
      while (buf.length - off >= 9) {
        const len = buf.readUIntBE(off, 3);
        if (buf.length - off < 9 + len) break;
        const type = buf[off + 3];
        const flags = buf[off + 4];
        const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
        const p = off + 9;
        if (type === HEADERS) {
          // :status 200 is static-table entry 8 (0x88); the server never changes the table size, so it comes first.
          let q = p;
          if (flags & 0x8) q++; // PADDED
          if (flags & 0x20) q += 5; // PRIORITY
          statusOk.set(id, buf[q] === 0x88);
          if (flags & END_STREAM) done(id);
        } else if (type === DATA) {
          if (len > 0) {
            const inc = Buffer.alloc(4);
            inc.writeUInt32BE(len, 0);
            queue(Buffer.concat([frameHeader(4, WINDOW_UPDATE, 0, 0), inc]));
          }
          if (flags & END_STREAM) done(id);
        } else if (type === SETTINGS && !(flags & ACK)) {
          queue(frameHeader(0, SETTINGS, ACK, 0));
        } else if (type === PING && !(flags & ACK)) {
          queue(Buffer.concat([frameHeader(8, PING, ACK, 0), buf.subarray(p, p + 8)]));
        } else if (type === WINDOW_UPDATE && id === 0) {
          sendWindow += buf.readUInt32BE(p) & 0x7fffffff;
          launch();
        } else if (type === RST_STREAM) {
          statusOk.set(id, false);
          done(id);
        } else if (type === GOAWAY) {
          reject(new Error(`GOAWAY code ${buf.readUInt32BE(p + 4)}: ${buf.subarray(p + 8, p + len).toString()}`));
        }
        off += 9 + len;
      }
      buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
    });
    sock.on('error', reject);
  });
}
