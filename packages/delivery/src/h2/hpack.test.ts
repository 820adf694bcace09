import { encodeRequest, HpackDecoder, HpackError, huffmanDecode, requestBlockBound } from './hpack';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('Huffman decoding (RFC 7541 Appendix C.4 and C.6)', () => {
  test.each([
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['25a8 49e9 5ba9 7d7f', 'custom-key'],
    ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
  ])('%s is %s', (bytes, text) => {
    const b = hex(bytes);
    expect(huffmanDecode(b, 0, b.length)).toBe(text);
  });

  test('padding that is not a prefix of EOS, or longer than 7 bits, is refused', () => {
    // 'a' is 00011 (5 bits): padded with zeros instead of ones.
    expect(() => huffmanDecode(Buffer.from([0b00011000]), 0, 1)).toThrow(HpackError);
    // A whole byte of ones after a complete symbol: 8 bits of padding.
    expect(() => huffmanDecode(Buffer.from([0b00011111, 0xff]), 0, 2)).toThrow(HpackError);
  });
});

test('a sequence of responses with Huffman, the dynamic table and eviction (RFC 7541 C.6, table size 256)', () => {
  const d = new HpackDecoder(256);
  // The decoder was built with a 256-byte limit; the first block starts at that size.
  expect(d.decode(hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
    2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`))).toEqual({
    ':status': '302', 'cache-control': 'private', date: 'Mon, 21 Oct 2013 20:13:21 GMT', location: 'https://www.example.com',
  });
  expect(d.decode(hex('4883 640e ff c1 c0 bf'))).toEqual({
    ':status': '307', 'cache-control': 'private', date: 'Mon, 21 Oct 2013 20:13:21 GMT', location: 'https://www.example.com',
  });
  expect(d.decode(hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
    77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed
    4ee5 b106 3d50 07`))).toEqual({
    ':status': '200', 'cache-control': 'private', date: 'Mon, 21 Oct 2013 20:13:22 GMT', location: 'https://www.example.com',
    'content-encoding': 'gzip', 'set-cookie': 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
  });
});

test('an index past the tables, or a table size over our limit, is a compression error', () => {
  expect(() => new HpackDecoder().decode(Buffer.from([0x80 | 70]))).toThrow(HpackError);
  expect(() => new HpackDecoder(4096).decode(hex('3fe1 3f'))).toThrow(HpackError); // a table size update to 8192
  expect(() => new HpackDecoder(4096).decode(hex('3fe1 1f'))).not.toThrow(); // to 4096: allowed
  expect(() => new HpackDecoder().decode(Buffer.from([0x40]))).toThrow(HpackError); // truncated literal
});

test('requests encode as static indexes and literals, pseudo-headers first, authorization never indexed, and decode back', () => {
  const headers = { 'apns-topic': 'com.example.app', ':path': '/3/device/abc', authorization: 'bearer x.y.z', ':method': 'POST' };
  const pseudo = { scheme: 'https', authority: 'api.push.apple.com' };
  const out = Buffer.alloc(requestBlockBound(headers, pseudo));
  const len = encodeRequest(headers, pseudo, out, 0);
  expect(out[0]).toBe(0x83); // :method POST, static index 3
  expect(out[1]).toBe(0x87); // :scheme https, static index 7
  expect(out.subarray(0, len).includes(Buffer.from([0x1f, 0x08]))).toBe(true); // never indexed, name index 23
  const decoded = new HpackDecoder().decode(out, 0, len);
  expect(Object.keys(decoded)).toEqual([':method', ':scheme', ':authority', ':path', 'apns-topic', 'authorization']);
  expect(decoded).toEqual({ ...headers, ':scheme': 'https', ':authority': 'api.push.apple.com' });
});

test('a header value with CR, LF or NUL is refused', () => {
  for (const bad of ['a\r\nx: y', 'a\0', 'a\n']) {
    expect(() => encodeRequest({ ':method': 'POST', ':path': '/', 'apns-topic': bad }, { scheme: 'https', authority: 'h' }, Buffer.alloc(256), 0)).toThrow(TypeError);
  }
  expect(() => encodeRequest({ ':method': 'POST', ':path': '/3/device/a\r\n' }, { scheme: 'https', authority: 'h' }, Buffer.alloc(256), 0)).toThrow(TypeError);
});
