/** HTTP/2 frame types, flags, error codes and builders (RFC 9113 section 6), for session.ts. */

export const DATA = 0x0, HEADERS = 0x1, RST_STREAM = 0x3, SETTINGS = 0x4, PUSH_PROMISE = 0x5, PING = 0x6, GOAWAY = 0x7, WINDOW_UPDATE = 0x8, CONTINUATION = 0x9;
export const END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY = 0x20;
export const NO_ERROR = 0x0, PROTOCOL_ERROR = 0x1, FLOW_CONTROL_ERROR = 0x3, FRAME_SIZE_ERROR = 0x6, REFUSED_STREAM = 0x7, CANCEL = 0x8, COMPRESSION_ERROR = 0x9;
export const MAX_STREAM_ID = 0x7fffffff;
/** Payload lengths fixed by RFC 9113 (GOAWAY: at least 8, checked where it is read; SETTINGS ACK: 0). */
export const FIXED_LENGTH: Record<number, number> = { [RST_STREAM]: 4, [SETTINGS]: 0, [PING]: 8, [WINDOW_UPDATE]: 4 };
/** Our receive windows: answers never wait on us. The connection's is raised at once by a WINDOW_UPDATE. */
export const STREAM_WINDOW = 4 * 1024 * 1024;
export const CONNECTION_WINDOW = 8 * 1024 * 1024;
export const DEFAULT_WINDOW = 65_535;
export const MAX_FRAME = 16_384;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, id: number, payloadLength: number): Buffer {
  const b = Buffer.allocUnsafe(9 + payloadLength);
  frameHeader(b, 0, payloadLength, type, flags, id);
  return b;
}
export const u32 = (type: number, flags: number, id: number, value: number) => { const b = frame(type, flags, id, 4); b.writeUInt32BE(value, 9); return b; };

/** GOAWAY with last stream id 0 (we accept no server streams) and an error code. */
export function goaway(code: number): Buffer {
  const f = frame(GOAWAY, 0, 0, 8);
  f.writeUInt32BE(0, 9);
  f.writeUInt32BE(code, 13);
  return f;
}

/** Our SETTINGS: no server push, and the stream window we advertise. */
export function clientSettings(): Buffer {
  const f = frame(SETTINGS, 0, 0, 12);
  f.writeUInt16BE(0x2, 9); f.writeUInt32BE(0, 11); // ENABLE_PUSH 0
  f.writeUInt16BE(0x4, 15); f.writeUInt32BE(STREAM_WINDOW, 17); // INITIAL_WINDOW_SIZE
  return f;
}

/** Writes a frame header at `at` in `f`. */
export function frameHeader(f: Buffer, at: number, length: number, type: number, flags: number, id: number): void {
  f[at] = length >>> 16; f[at + 1] = (length >>> 8) & 0xff; f[at + 2] = length & 0xff;
  f[at + 3] = type; f[at + 4] = flags; f.writeUInt32BE(id, at + 5);
}

/** The values of a SETTINGS frame the client acts on; a value out of range is a connection error. */
export function parseSettings(b: Buffer, s: number, e: number): { maxStreams?: number; initialWindow?: number; maxFrame?: number } {
  if ((e - s) % 6 !== 0) throw new Error('SETTINGS length');
  const out: { maxStreams?: number; initialWindow?: number; maxFrame?: number } = {};
  for (let p = s; p < e; p += 6) {
    const key = b.readUInt16BE(p);
    const value = b.readUInt32BE(p + 2);
    if (key === 0x3) out.maxStreams = value;
    else if (key === 0x4) {
      if (value > MAX_STREAM_ID) throw new Error('INITIAL_WINDOW_SIZE over 2^31-1');
      out.initialWindow = value;
    } else if (key === 0x5) {
      if (value < MAX_FRAME || value > 0xffffff) throw new Error('MAX_FRAME_SIZE out of range');
      out.maxFrame = value;
    }
  }
  return out;
}
