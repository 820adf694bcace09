import type { OutgoingHttpHeaders } from 'node:http2';

/**
 * HPACK (RFC 7541) for the provider HTTP/2 client (session.ts). Requests are encoded without the
 * dynamic table (literals, `authorization` never indexed), so the encoder keeps no state; answers are
 * decoded in full (static and dynamic table, Huffman), as servers use both.
 */

export class HpackError extends Error {}

/** RFC 7541 Appendix A. Index 1 is `STATIC[0]`. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/**
 * Code length of each symbol (0-255, then EOS) of the HPACK Huffman code, RFC 7541 Appendix B. The code
 * is canonical (codes of one length are consecutive, in symbol order), so the lengths define it.
 */
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;

/** Per code length: the first code, and the symbols of that length in code order (canonical decoding). */
const huffman = (() => {
  const first = new Array<number>(31).fill(0);
  const symbols: number[][] = Array.from({ length: 31 }, () => []);
  HUFFMAN_LENGTHS.forEach((len, sym) => symbols[len].push(sym));
  let code = 0;
  for (let len = 1; len <= 30; len++) {
    first[len] = code;
    code = (code + symbols[len].length) * 2;
  }
  return { first, symbols };
})();

/** For the next 8 bits of input: the symbol and code length when a code of at most 8 bits starts there (0: none). */
const FAST = (() => {
  const t = new Int32Array(256);
  huffman.symbols.forEach((syms, len) => {
    if (len > 8) return;
    syms.forEach((sym, k) => {
      const code = huffman.first[len] + k;
      for (let rest = 0; rest < 1 << (8 - len); rest++) t[(code << (8 - len)) | rest] = (sym << 8) | len;
    });
  });
  return t;
})();

/** Exported for tests: Huffman-decodes `src[start, end)` to a latin1 string. */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  const out = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let n = 0;
  const total = (end - start) * 8;
  let bit = 0;
  while (total - bit >= 5) {
    const at = start + (bit >> 3);
    const shift = bit & 7;
    // The next 8 bits, padded with ones past the end (what EOS padding looks like).
    const two = (src[at] << 8) | (at + 1 < end ? src[at + 1] : 0xff);
    const fast = FAST[(two >> (8 - shift)) & 0xff];
    if (fast !== 0 && (fast & 0xff) <= total - bit) {
      out[n++] = fast >> 8;
      bit += fast & 0xff;
      continue;
    }
    const slow = decodeSlow(src, start, total, bit);
    if (slow === undefined) break; // only padding is left
    out[n++] = slow.sym;
    bit = slow.next;
  }
  checkPadding(src, start, total, bit);
  return out.toString('latin1', 0, n);
}

/** One symbol bit by bit from `bit` (codes over 8 bits), or undefined when the input ends first. */
function decodeSlow(src: Buffer, start: number, total: number, bit: number): { sym: number; next: number } | undefined {
  const { first, symbols } = huffman;
  let code = 0;
  for (let len = 1; len <= 30; len++, bit++) {
    if (bit >= total) return undefined;
    code = code * 2 + ((src[start + (bit >> 3)] >> (7 - (bit & 7))) & 1);
    const k = code - first[len];
    if (len >= 5 && k >= 0 && k < symbols[len].length) {
      if (symbols[len][k] === EOS) throw new HpackError('EOS in a Huffman string');
      return { sym: symbols[len][k], next: bit + 1 };
    }
  }
  throw new HpackError('invalid Huffman code');
}

/** What is left after the last symbol: fewer than 8 bits, all ones (a prefix of EOS). */
function checkPadding(src: Buffer, start: number, total: number, bit: number): void {
  if (total - bit > 7) throw new HpackError('invalid Huffman padding');
  for (; bit < total; bit++) if (((src[start + (bit >> 3)] >> (7 - (bit & 7))) & 1) === 0) throw new HpackError('invalid Huffman padding');
}

/** A reader over one header block. */
class Reader {
  constructor(readonly buf: Buffer, public pos: number, readonly end: number) {}

  int(prefixBits: number): number {
    if (this.pos >= this.end) throw new HpackError('truncated integer');
    const max = (1 << prefixBits) - 1;
    let value = this.buf[this.pos++] & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end || shift > 28) throw new HpackError('bad integer');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
  }

  string(): string {
    if (this.pos >= this.end) throw new HpackError('truncated string');
    const huff = (this.buf[this.pos] & 0x80) !== 0;
    const len = this.int(7);
    const start = this.pos;
    if (start + len > this.end) throw new HpackError('truncated string');
    this.pos += len;
    return huff ? huffmanDecode(this.buf, start, start + len) : this.buf.toString('latin1', start, start + len);
  }
}

/** Decodes header blocks of one connection (the dynamic table lives as long as the connection). */
export class HpackDecoder {
  /** Newest first. */
  private readonly dynamic: [string, string][] = [];
  private size = 0;
  private maxSize: number;

  /** `limit`: our SETTINGS_HEADER_TABLE_SIZE, the largest table the server may ask for. @defaultValue 4096 */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  /** The block's fields as an object (names are lower-case on the wire; a repeated name is joined with ', '). */
  decode(buf: Buffer, start = 0, end = buf.length): Record<string, string> {
    const r = new Reader(buf, start, end);
    const headers: Record<string, string> = {};
    while (r.pos < end) {
      const b = buf[r.pos];
      let field: readonly [string, string];
      if (b & 0x80) field = this.entry(r.int(7));
      else if ((b & 0xe0) === 0x20) { this.resize(r.int(5)); continue; }
      else {
        const indexing = (b & 0xc0) === 0x40;
        const nameIndex = r.int(indexing ? 6 : 4);
        const name = nameIndex === 0 ? r.string() : this.entry(nameIndex)[0];
        field = [name, r.string()];
        if (indexing) this.add(field[0], field[1]);
      }
      const [name, value] = field;
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    return headers;
  }

  private entry(index: number): readonly [string, string] {
    if (index >= 1 && index <= STATIC.length) return STATIC[index - 1];
    const e = this.dynamic[index - STATIC.length - 1];
    if (!e) throw new HpackError(`header index ${index} out of range`);
    return e;
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.dynamic.unshift([name, value]);
    this.size += size;
    this.evict();
  }

  private resize(size: number): void {
    if (size > this.limit) throw new HpackError(`table size ${size} over our limit ${this.limit}`);
    this.maxSize = size;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.maxSize) {
      const [n, v] = this.dynamic.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

/** Static-table indexes by name, and by name + value for the fields that have one. */
const STATIC_NAME = new Map<string, number>();
const STATIC_FIELD = new Map<string, Map<string, number>>();
STATIC.forEach(([n, v], i) => {
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1);
  if (v) (STATIC_FIELD.get(n) ?? STATIC_FIELD.set(n, new Map()).get(n)!).set(v, i + 1);
});

function writeInt(out: Buffer, pos: number, value: number, prefixBits: number, flags: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) { out[pos++] = flags | value; return pos; }
  out[pos++] = flags | max;
  value -= max;
  while (value >= 128) { out[pos++] = (value % 128) + 128; value = Math.floor(value / 128); }
  out[pos++] = value;
  return pos;
}

/** Field values HTTP/2 refuses (RFC 9113 8.2.1: no NUL, CR or LF; other controls refused too). */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;

function writeField(out: Buffer, pos: number, name: string, value: string): number {
  const exact = STATIC_FIELD.get(name)?.get(value);
  if (exact !== undefined) return writeInt(out, pos, exact, 7, 0x80);
  if (BAD_VALUE.test(value)) throw new TypeError(`invalid value for header ${name}`);
  const nameIndex = STATIC_NAME.get(name) ?? 0;
  pos = writeInt(out, pos, nameIndex, 4, name === 'authorization' ? 0x10 : 0x00);
  if (nameIndex === 0) { pos = writeInt(out, pos, name.length, 7, 0); pos += out.write(name, pos, 'latin1'); }
  pos = writeInt(out, pos, value.length, 7, 0);
  return pos + out.write(value, pos, 'latin1');
}

/** The request's pseudo-header values that are the connection's, not the caller's. */
export interface Pseudo { scheme: string; authority: string }

/**
 * Encodes a request's header block straight from its headers object: pseudo-headers first, an exact
 * static match as an index, everything else as a literal without indexing (`authorization` never
 * indexed: RFC 7541 7.1.3), strings as raw latin1 (no Huffman: less CPU, a few more bytes). Writes at
 * `pos` in `out`, which must hold `requestBlockBound(...)` bytes; returns the end. Throws a TypeError
 * for a value HTTP/2 cannot carry.
 */
export function encodeRequest(headers: OutgoingHttpHeaders, pseudo: Pseudo, out: Buffer, pos: number): number {
  pos = writeField(out, pos, ':method', String(headers[':method'] ?? 'GET'));
  pos = writeField(out, pos, ':scheme', pseudo.scheme);
  pos = writeField(out, pos, ':authority', pseudo.authority);
  pos = writeField(out, pos, ':path', String(headers[':path'] ?? '/'));
  for (const name in headers) {
    const v = headers[name];
    if (name.charCodeAt(0) !== 58 /* ':' */ && v !== undefined) pos = writeField(out, pos, name, String(v));
  }
  return pos;
}

/** An upper bound of `encodeRequest`'s output. */
export function requestBlockBound(headers: OutgoingHttpHeaders, pseudo: Pseudo): number {
  let n = 64 + pseudo.scheme.length + pseudo.authority.length + String(headers[':method'] ?? '').length + String(headers[':path'] ?? '').length;
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined) n += name.length + String(v).length + 12;
  }
  return n;
}
