import type { PushEvent } from './schema';

/**
 * The spec's payloads, key for key and in the spec's key order. GCM gets every value as a string ("GCM
 * suggests to only use strings as values"); APNs gets the integers as numbers and `aps.content-available`.
 */

export const APNS_MAX_PAYLOAD_BYTES = 4096;
export const APNS_VOIP_MAX_PAYLOAD_BYTES = 5120;
/** Limit on the UTF-8 size of `JSON.stringify(data)` for GCM/FCM. */
export const GCM_MAX_DATA_BYTES = 4096;

export type GcmData = Record<string, string>;

export interface ApnsPayload {
  aps: { 'content-available': 1 };
  [key: string]: unknown;
}

/** The spec's "GCM content" of an event: all values strings. */
export function buildGcmData(event: PushEvent): GcmData {
  switch (event.message) {
    case 'fax_new':
      return { owner: event.owner, message: event.message, fax: event.fax, phone: event.phone, page_count: String(event.page_count) };
    case 'recording_new':
      return { owner: event.owner, message: event.message, recording: event.recording, phone: event.phone };
    case 'dialplan_callreverse_start':
    case 'dialplan_callreverse_stop':
      return { owner: event.owner, message: event.message, phone_from: event.phone_from, phone_to: event.phone_to };
    case 'chat_message':
      return {
        owner: event.owner, message: event.message, chat: event.chat, uuid: event.uuid, time: String(event.time),
        user: event.user, user_name: event.user_name, type: event.type, text: event.text,
      };
  }
}

/** The spec's "APNs content" of an event: a silent (content-available) push with the event's fields. */
export function buildApnsPayload(event: PushEvent): ApnsPayload {
  const aps = { 'content-available': 1 } as const;
  switch (event.message) {
    case 'fax_new':
      return { aps, owner: event.owner, message: event.message, fax: event.fax, phone: event.phone, page_count: event.page_count };
    case 'recording_new':
      return { aps, owner: event.owner, message: event.message, recording: event.recording, phone: event.phone };
    case 'dialplan_callreverse_start':
    case 'dialplan_callreverse_stop':
      return { aps, owner: event.owner, message: event.message, phone_from: event.phone_from, phone_to: event.phone_to };
    case 'chat_message':
      return {
        aps, owner: event.owner, message: event.message, chat: event.chat, uuid: event.uuid, time: event.time,
        user: event.user, user_name: event.user_name, type: event.type, text: event.text,
      };
  }
}

/** A payload that could not be brought under the limit (only possible for events built around the schema). */
export interface PayloadTooLarge {
  ok: false;
  reason: 'payload-too-large';
  /** Size of the smallest payload tried (with the text fields emptied where possible). */
  bytes: number;
  limit: number;
}

export type FittedApnsPayload = { ok: true; body: string; bytes: number; truncated: boolean } | PayloadTooLarge;
/** `json` is `JSON.stringify(data)`, already made to measure it: a sender embeds it as it is. */
export type FittedGcmData = { ok: true; data: GcmData; json: string; bytes: number; truncated: boolean } | PayloadTooLarge;

/**
 * The APNs request body for an event, at most 4096 bytes (5120 for VoIP pushes). A chat message that is too
 * big gets its `text` shortened, then its `user_name`, at a character boundary; `truncated` says so.
 */
export function fitApnsPayload(event: PushEvent, opts: { voip: boolean }): FittedApnsPayload {
  const r = fit(event, opts.voip ? APNS_VOIP_MAX_PAYLOAD_BYTES : APNS_MAX_PAYLOAD_BYTES, buildApnsPayload);
  return r.ok ? { ok: true, body: r.body, bytes: r.bytes, truncated: r.truncated } : r;
}

/** The GCM/FCM `data` for an event, its JSON at most 4096 bytes; shortened like {@link fitApnsPayload}. */
export function fitGcmData(event: PushEvent): FittedGcmData {
  const r = fit(event, GCM_MAX_DATA_BYTES, buildGcmData);
  return r.ok ? { ok: true, data: r.value, json: r.body, bytes: r.bytes, truncated: r.truncated } : r;
}

type Fitted<T> = { ok: true; value: T; body: string; bytes: number; truncated: boolean } | PayloadTooLarge;

/**
 * One JSON.stringify in the common case. When the payload is too big: a stringify of the payload with the
 * field emptied gives the fixed part, and the kept prefix of the field is found by one scan over
 * at most `limit` bytes of it (not over the whole 64 KiB text), then the result is stringified once.
 */
function fit<T>(event: PushEvent, limit: number, build: (e: PushEvent) => T): Fitted<T> {
  // A text longer than the limit in UTF-16 units cannot fit (each unit is at least one byte): skip
  // serializing up to 64 KiB just to learn that.
  if (event.message !== 'chat_message' || event.text.length <= limit) {
    const value = build(event);
    const body = JSON.stringify(value);
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes <= limit) return { ok: true, value, body, bytes, truncated: false };
    if (event.message !== 'chat_message') return { ok: false, reason: 'payload-too-large', bytes, limit };
  }

  let shortened: PushEvent;
  const withoutText = { ...event, text: '' };
  const fixed = jsonBytes(build(withoutText));
  if (fixed <= limit) {
    shortened = { ...event, text: cutToJsonBytes(event.text, limit - fixed) };
  } else {
    const withoutNames = { ...withoutText, user_name: '' };
    const fixedNoName = jsonBytes(build(withoutNames));
    if (fixedNoName > limit) return { ok: false, reason: 'payload-too-large', bytes: fixedNoName, limit };
    shortened = { ...withoutNames, user_name: cutToJsonBytes(event.user_name, limit - fixedNoName) };
  }
  const value2 = build(shortened);
  const body2 = JSON.stringify(value2);
  const bytes2 = Buffer.byteLength(body2, 'utf8');
  // Cannot happen (the arithmetic above is exact), but an oversize payload must never leave this function.
  if (bytes2 > limit) return { ok: false, reason: 'payload-too-large', bytes: bytes2, limit };
  return { ok: true, value: value2, body: body2, bytes: bytes2, truncated: true };
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The longest prefix of `s` whose JSON string content (escapes included, quotes excluded) takes at most
 * `budget` UTF-8 bytes, cut at a grapheme-cluster boundary: never inside a surrogate pair or a multi-byte
 * character, and not between a letter and its combining marks or inside an emoji ZWJ sequence.
 */
export function cutToJsonBytes(s: string, budget: number): string {
  const n = s.length;
  let used = 0;
  let i = 0;
  let width = 1;
  while (i < n) {
    const c = s.charCodeAt(i);
    let cost: number;
    width = 1;
    if (c < 0x80) {
      if (c >= 0x20) cost = c === 0x22 || c === 0x5c ? 2 : 1; // \" \\
      else cost = c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6; // \n or \u00XX
    } else if (c < 0x800) {
      cost = 2;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      cost = 4;
      width = 2;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      cost = 6; // a lone surrogate is written as \udXXX (the schema rejects them; payloads built by hand may not)
    } else {
      cost = 3;
    }
    if (used + cost > budget) break;
    used += cost;
    i += width;
  }
  if (i >= n) return s;
  // s[i] starts the first character that does not fit; back off to the start of its grapheme cluster.
  // A boundary depends only on what precedes it and the code point after it, so segmenting up to the
  // end of that code point is exact.
  const cluster = graphemes.segment(s.slice(0, i + width)).containing(i);
  return s.slice(0, cluster ? cluster.index : i);
}
