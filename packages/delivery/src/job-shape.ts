import type { QueuedEvent } from '@pushfleet/events';
import { EVENTS_PER_JOB, MAX_CHAT_TYPE_LENGTH, MAX_PHONE_LENGTH, MAX_TEXT_BYTES, MAX_USER_NAME_LENGTH } from '@pushfleet/events';

/**
 * A fast check of the job data the producer writes, for the worker's hot path: the events when the data
 * is certainly accepted by the zod job schema (packages/events/src/job-schema.ts) AND would come out of it
 * unchanged, else undefined, and the caller runs the schema (which also words the problems). It accepts a
 * subset of what the schema accepts, never more: plain JSON objects with exactly the schema's keys, counts
 * as non-negative safe integers (a "2" or a -0, which the schema normalises, goes to the schema), the
 * schema's patterns and limits. A schema change that loosens a rule only sends more jobs to the schema;
 * one that tightens a rule must tighten this too (job-shape.test.ts compares the two on mutated jobs).
 * About 15 % of the worker's own CPU per delivery went to zod before (bench/worker-cpu.ts).
 */
export function producerJobEvents(data: unknown): QueuedEvent[] | undefined {
  if (!isPlain(data) || !onlyKeys(data, TOP_KEYS, 1)) return undefined;
  const events = data.events;
  if (!Array.isArray(events) || events.length < 1 || events.length > EVENTS_PER_JOB) return undefined;
  for (const q of events) if (!queuedEventOk(q)) return undefined;
  return events as QueuedEvent[];
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const LONE_SURROGATE_RE = /\p{Cs}/u;
const EVENT_ID_RE = /^[A-Za-z0-9_.-]{1,128}$/;
const INTEGER_RE = /^-?[0-9]+$/;

type Check = (v: unknown) => boolean;

const uuid: Check = (v) => typeof v === 'string' && UUID_RE.test(v);
const text = (max: number, min = 0): Check => (v) => typeof v === 'string' && v.length >= min && v.length <= max && !LONE_SURROGATE_RE.test(v);
const textBytes = (max: number): Check => (v) => typeof v === 'string' && (v.length * 3 <= max || (v.length <= max && Buffer.byteLength(v, 'utf8') <= max)) && !LONE_SURROGATE_RE.test(v);
const count: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && !Object.is(v, -0);
const safeInt = (min: number): Check => (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const phone = text(MAX_PHONE_LENGTH);

/** Every key of each event type (the event schemas have no optional keys). */
const EVENT_FIELDS: Record<string, Record<string, Check>> = {
  fax_new: { message: () => true, owner: uuid, fax: uuid, phone, page_count: count },
  recording_new: { message: () => true, owner: uuid, recording: uuid, phone },
  dialplan_callreverse_start: { message: () => true, owner: uuid, phone_from: phone, phone_to: phone },
  dialplan_callreverse_stop: { message: () => true, owner: uuid, phone_from: phone, phone_to: phone },
  chat_message: {
    message: () => true, owner: uuid, chat: uuid, uuid, time: count, user: uuid,
    user_name: text(MAX_USER_NAME_LENGTH), type: text(MAX_CHAT_TYPE_LENGTH, 1), text: textBytes(MAX_TEXT_BYTES),
  },
};
const EVENT_KEYS = Object.fromEntries(Object.entries(EVENT_FIELDS).map(([k, f]) => [k, new Set(Object.keys(f))]));

const QUEUED_FIELDS: Record<string, Check> = {
  id: (v) => typeof v === 'string' && EVENT_ID_RE.test(v) && !INTEGER_RE.test(v),
  event: (v) => eventOk(v),
  enqueuedAt: safeInt(0),
  tokens: (v) => Array.isArray(v) && v.length <= 10_000 && tokensOk(v),
  attempt: safeInt(1),
  notBefore: safeInt(0),
  failed: (v) => v === 'configuration' || v === 'attempts_exhausted',
};
/** Every index, holes too (`every` would skip a hole). */
function tokensOk(v: unknown[]): boolean {
  for (let i = 0; i < v.length; i++) {
    const t = v[i];
    if (typeof t !== 'string' || t.length < 1 || t.length > 4096) return false;
  }
  return true;
}
const QUEUED_KEYS = new Set(Object.keys(QUEUED_FIELDS));
const TOP_KEYS = new Set(['events']);

/** An object as JSON.parse makes them (in this realm or another: jest's), not an array or a class instance. */
function isPlain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v) as object | null;
  return p === Object.prototype || (p !== null && Object.getPrototypeOf(p) === null && Object.keys(p).length === 0);
}

/** Own keys all among `allowed` (none undefined), and at least `required` of them. */
function onlyKeys(o: Record<string, unknown>, allowed: Set<string>, required: number): boolean {
  const keys = Object.keys(o);
  if (keys.length < required) return false;
  for (const k of keys) if (!allowed.has(k) || o[k] === undefined) return false;
  return true;
}

function queuedEventOk(q: unknown): boolean {
  if (!isPlain(q) || !onlyKeys(q, QUEUED_KEYS, 3) || q.id === undefined || q.event === undefined || q.enqueuedAt === undefined) return false;
  for (const k of Object.keys(q)) if (!QUEUED_FIELDS[k](q[k])) return false;
  return true;
}

function eventOk(e: unknown): boolean {
  if (!isPlain(e) || typeof e.message !== 'string' || !Object.hasOwn(EVENT_FIELDS, e.message)) return false;
  const fields = EVENT_FIELDS[e.message];
  const keys = EVENT_KEYS[e.message];
  if (!onlyKeys(e, keys, keys.size) || Object.keys(e).length !== keys.size) return false;
  for (const k of Object.keys(e)) if (!fields[k](e[k])) return false;
  return true;
}
