import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  APNS_MAX_PAYLOAD_BYTES,
  APNS_VOIP_MAX_PAYLOAD_BYTES,
  EVENT_TYPES,
  GCM_MAX_DATA_BYTES,
  PushEvent,
  buildApnsPayload,
  buildGcmData,
  cutToJsonBytes,
  fitApnsPayload,
  fitGcmData,
  pushEventSchema,
} from './index';

/** The spec's example payloads, copied verbatim from "Push Event Reference" (4-space indented JSON). */
function specExample(type: string, system: 'gcm' | 'apns'): string {
  return fs.readFileSync(path.join(__dirname, '..', 'test', 'spec-examples', `${type}.${system}.json`), 'utf8').trimEnd();
}

const chat: PushEvent = pushEventSchema.parse(JSON.parse(specExample('chat_message', 'gcm')));
type Chat = Extract<PushEvent, { message: 'chat_message' }>;
const withText = (text: string, extra: Partial<Chat> = {}): PushEvent => ({ ...(chat as Chat), text, ...extra });
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const LONE_SURROGATE = /\p{Cs}/u;

describe('payloads are exactly the spec examples', () => {
  it.each(EVENT_TYPES)('%s: the GCM example as input gives both spec payloads, byte for byte', (type) => {
    const gcmText = specExample(type, 'gcm');
    const apnsText = specExample(type, 'apns');
    const event = pushEventSchema.parse(JSON.parse(gcmText));

    const data = buildGcmData(event);
    expect(data).toEqual(JSON.parse(gcmText));
    expect(JSON.stringify(data, null, 4)).toBe(gcmText);
    expect(JSON.stringify(data)).toBe(JSON.stringify(JSON.parse(gcmText)));
    expect(Object.values(data).every((v) => typeof v === 'string')).toBe(true);

    const apns = buildApnsPayload(event);
    expect(apns).toEqual(JSON.parse(apnsText));
    expect(JSON.stringify(apns, null, 4)).toBe(apnsText);
    expect(JSON.stringify(apns)).toBe(JSON.stringify(JSON.parse(apnsText)));
  });

  it.each(EVENT_TYPES)('%s: the APNs-typed input (without aps) gives the same payloads', (type) => {
    const { aps: _aps, ...fields } = JSON.parse(specExample(type, 'apns')) as Record<string, unknown>;
    const event = pushEventSchema.parse(fields);
    expect(JSON.stringify(buildGcmData(event), null, 4)).toBe(specExample(type, 'gcm'));
    expect(JSON.stringify(buildApnsPayload(event), null, 4)).toBe(specExample(type, 'apns'));
  });

  it('keeps the spec key order whatever the input order', () => {
    const event = pushEventSchema.parse({ text: 'x', type: 'text', user_name: 'J', user: chat.owner, time: '5', uuid: chat.owner, chat: chat.owner, owner: chat.owner, message: 'chat_message' });
    expect(Object.keys(buildGcmData(event))).toEqual(['owner', 'message', 'chat', 'uuid', 'time', 'user', 'user_name', 'type', 'text']);
    expect(Object.keys(buildApnsPayload(event))).toEqual(['aps', 'owner', 'message', 'chat', 'uuid', 'time', 'user', 'user_name', 'type', 'text']);
  });
});

describe('fitting payloads into the provider limits', () => {
  it('exports the limits', () => {
    expect([APNS_MAX_PAYLOAD_BYTES, APNS_VOIP_MAX_PAYLOAD_BYTES, GCM_MAX_DATA_BYTES]).toEqual([4096, 5120, 4096]);
  });

  it.each(EVENT_TYPES)('leaves a small %s alone', (type) => {
    const event = pushEventSchema.parse(JSON.parse(specExample(type, 'gcm')));
    const apns = fitApnsPayload(event, { voip: false });
    const body = JSON.stringify(buildApnsPayload(event));
    expect(apns).toEqual({ ok: true, body, bytes: bytes(body), truncated: false });
    const gcm = fitGcmData(event);
    expect(gcm).toEqual({ ok: true, data: buildGcmData(event), json: JSON.stringify(buildGcmData(event)), bytes: bytes(JSON.stringify(buildGcmData(event))), truncated: false });
  });

  /** Fits `event` for each system and checks the invariants; returns the kept texts. */
  function fitAll(event: PushEvent) {
    const results = [
      { limit: 4096, r: fitApnsPayload(event, { voip: false }) },
      { limit: 5120, r: fitApnsPayload(event, { voip: true }) },
      { limit: 4096, r: fitGcmData(event) },
    ];
    return results.map(({ limit, r }) => {
      if (!r.ok) throw new Error(`did not fit: ${JSON.stringify(r)}`);
      const body = 'body' in r ? r.body : JSON.stringify(r.data);
      expect(r.bytes).toBe(bytes(body));
      expect(r.bytes).toBeLessThanOrEqual(limit);
      expect(LONE_SURROGATE.test(body)).toBe(false);
      expect(Buffer.from(body, 'utf8').toString('utf8')).toBe(body); // round-trips: valid UTF-8
      const parsed = JSON.parse(body) as { text: string; user_name: string };
      return { limit, bytes: r.bytes, truncated: r.truncated, text: parsed.text, userName: parsed.user_name };
    });
  }

  it('cuts 64 KiB of ASCII to exactly the limit', () => {
    const text = 'a'.repeat(65536);
    for (const r of fitAll(withText(text))) {
      expect(r).toMatchObject({ bytes: r.limit, truncated: true });
      expect(text.startsWith(r.text)).toBe(true);
    }
  });

  it.each([
    ['emoji (4 bytes, surrogate pairs)', '😀', 4],
    ['CJK (3 bytes)', '漢', 3],
    ['Latin-1 (2 bytes)', 'ß', 2],
    ['e + combining acute (1 + 2 bytes, one grapheme)', 'e\u0301', 3],
    ['family ZWJ sequence (18 bytes, one grapheme)', '👨‍👩‍👧', 18],
    ['flag (two regional indicators)', '🇩🇪', 8],
    ['quote (escaped, 2 bytes)', '"', 2],
    ['control character (\\u0001, 6 bytes)', '\u0001', 6],
  ])('cuts %s between whole graphemes, as close to the limit as they allow', (_name, unit, unitBytes) => {
    const text = ('x' + unit).repeat(Math.ceil(20000 / unit.length));
    for (const r of fitAll(withText(text))) {
      expect(r.truncated).toBe(true);
      expect(text.startsWith(r.text)).toBe(true);
      // whole "x<unit>" pairs, or a pair minus its unit: never part of a unit
      const rest = r.text.length % (1 + unit.length);
      expect(rest === 0 || rest === 1).toBe(true);
      expect(r.bytes).toBeGreaterThan(r.limit - (1 + unitBytes));
    }
  });

  it('never separates a letter from its combining marks', () => {
    const text = 'e\u0301\u0302'.repeat(5000); // 5 bytes per grapheme
    for (const r of fitAll(withText(text))) {
      expect(r.text.length % 3).toBe(0);
      expect(r.bytes).toBeGreaterThan(r.limit - 5);
    }
  });

  it('shortens user_name once the text is empty', () => {
    const event = withText('t'.repeat(100), { user_name: 'N'.repeat(8000) }); // larger than the schema allows
    for (const r of fitAll(event)) {
      expect(r).toMatchObject({ bytes: r.limit, truncated: true, text: '' });
      expect(r.userName).toBe('N'.repeat(r.userName.length));
      expect(r.userName.length).toBeGreaterThan(0);
    }
  });

  it('returns an error, never an oversize payload, when nothing can be shortened enough', () => {
    const hugeType = withText('hi', { type: 't'.repeat(5000) });
    expect(fitApnsPayload(hugeType, { voip: false })).toEqual({ ok: false, reason: 'payload-too-large', bytes: expect.any(Number), limit: 4096 });
    expect(fitGcmData(hugeType)).toMatchObject({ ok: false, reason: 'payload-too-large', limit: 4096 });
    const fax = pushEventSchema.parse(JSON.parse(specExample('fax_new', 'gcm')));
    const hugePhone = { ...fax, phone: '9'.repeat(6000) } as PushEvent;
    expect(fitApnsPayload(hugePhone, { voip: true })).toMatchObject({ ok: false, reason: 'payload-too-large', limit: 5120 });
  });

  it('property: any text lands at or under the limit, as a prefix cut at a grapheme boundary, and is maximal', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const unit = fc.constantFrom('a', 'é', 'e\u0301', '€', '漢', '😀', '👨‍👩‍👧', '🇩🇪', '\n', '"', '\\', '\u0001', '\u007f', '\u2028', ' ');
    fc.assert(
      fc.property(fc.string({ unit, minLength: 0, maxLength: 3000 }), fc.string({ unit, maxLength: 100 }), (text, userName) => {
        const event = withText(text, { user_name: userName });
        for (const r of fitAll(event)) {
          expect(text.startsWith(r.text)).toBe(true);
          expect(r.userName).toBe(userName);
          if (!r.truncated) {
            expect(r.text).toBe(text);
            continue;
          }
          // the kept text ends on a grapheme boundary of the full text...
          const boundaries = new Set([...segmenter.segment(text)].map((s) => s.index));
          expect(boundaries.has(r.text.length)).toBe(true);
          // ...and the next grapheme would not have fitted
          const next = segmenter.segment(text).containing(r.text.length)!.segment;
          expect(r.bytes + bytes(JSON.stringify(next)) - 2).toBeGreaterThan(r.limit);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is cheap on a 64 KiB text (one scan of at most the limit, not of the whole text)', () => {
    const big = withText('漢'.repeat(21845));
    const small = withText('what is for lunch today?');
    const time = (event: PushEvent) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 2000; i++) fitApnsPayload(event, { voip: false });
      return Number(process.hrtime.bigint() - t0) / 1e6 / 2000;
    };
    time(big); // warm up
    const perBigMs = time(big);
    const perSmallMs = time(small);
    // Generous bounds for a shared CI box; measured here ≈ 0.02–0.04 ms (64 KiB text) and ≈ 0.002–0.003 ms (short).
    expect(perBigMs).toBeLessThan(1);
    expect(perSmallMs).toBeLessThan(0.2);
  });
});

describe('cutToJsonBytes', () => {
  it('returns the whole string when it fits and an empty one for a zero budget', () => {
    expect(cutToJsonBytes('héllo', 6)).toBe('héllo');
    expect(cutToJsonBytes('héllo', 5)).toBe('héll');
    expect(cutToJsonBytes('héllo', 2)).toBe('h');
    expect(cutToJsonBytes('héllo', 0)).toBe('');
    expect(cutToJsonBytes('', 0)).toBe('');
  });

  it('counts JSON escapes', () => {
    expect(cutToJsonBytes('a"b', 2)).toBe('a');
    expect(cutToJsonBytes('a"b', 3)).toBe('a"');
    expect(cutToJsonBytes('\u0001x', 5)).toBe('');
    expect(cutToJsonBytes('\u0001x', 6)).toBe('\u0001');
    expect(cutToJsonBytes('\n\t', 4)).toBe('\n\t');
  });

  it('never splits a surrogate pair', () => {
    expect(cutToJsonBytes('😀😀', 7)).toBe('😀');
    expect(cutToJsonBytes('😀😀', 3)).toBe('');
  });
});
