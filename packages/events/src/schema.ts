import { z } from 'zod';

/**
 * The push events of the spec's "Push Event Reference", as the telephony backend sends them in.
 *
 * Input follows the APNs typing (page_count and time are integers); the GCM typing ("2") is accepted too
 * and normalised, so a backend can send either. Objects are strict: a key the spec does not know is an
 * error, not silently dropped, because a typo would otherwise vanish without a trace.
 */

export const EVENT_TYPES = [
  'fax_new',
  'recording_new',
  'dialplan_callreverse_start',
  'dialplan_callreverse_stop',
  'chat_message',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Largest chat `text` accepted, in UTF-8 bytes (64 KiB). Longer texts are shortened when the payload is fitted. */
export const MAX_TEXT_BYTES = 64 * 1024;
export const MAX_PHONE_LENGTH = 64;
export const MAX_USER_NAME_LENGTH = 256;
export const MAX_CHAT_TYPE_LENGTH = 32;

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const LONE_SURROGATE_RE = /\p{Cs}/u;
const DIGITS_RE = /^[0-9]+$/;
const INTEGER_RE = /^-?[0-9]+$/;

/**
 * A UUID in the 8-4-4-4-12 hex form of RFC 4122, any version and variant (the spec's examples are v1),
 * either case. Kept as given: owners and chats are looked up by the exact string the backend uses.
 */
export const uuidSchema = z.string().regex(UUID_RE, 'must be a UUID (8-4-4-4-12 hex digits)');

/** Text that can be encoded as UTF-8: a lone UTF-16 surrogate (possible through a JSON "\ud800" escape) cannot. */
function text(max: number, unit: 'characters' | 'bytes' = 'characters', min = 0) {
  let s = z.string();
  if (min > 0) s = s.min(min, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
  if (unit === 'characters') s = s.max(max, `must be at most ${max} characters`);
  return s
    .refine((v) => !LONE_SURROGATE_RE.test(v), 'must be valid Unicode (no lone surrogates)')
    .refine(
      // A UTF-16 code unit is at least one UTF-8 byte, and at most three, so most strings need no count.
      (v) => unit === 'characters' || v.length * 3 <= max || (v.length <= max && Buffer.byteLength(v, 'utf8') <= max),
      `must be at most ${max} bytes of UTF-8`,
    );
}

/** Free text phone number as the telephony backend knows it: may be empty or "anonymous". */
export const phoneSchema = text(MAX_PHONE_LENGTH);

/**
 * A non-negative integer in JavaScript's safe range, given as a JSON number (APNs typing) or as a decimal
 * string of digits (GCM typing, e.g. "2"); the output is always a number.
 */
export const countSchema = z
  .union([z.number(), z.string()], {
    error: (issue) => (issue.input === undefined ? 'is required' : 'must be a non-negative integer'),
  })
  .transform((v, ctx) => {
    const n = typeof v === 'number' ? v : DIGITS_RE.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) {
      ctx.issues.push({ code: 'custom', input: v, message: `must be a non-negative integer up to ${Number.MAX_SAFE_INTEGER}` });
      return z.NEVER;
    }
    return n + 0; // -0 becomes 0
  });

/**
 * The optional event id: it becomes the BullMQ job id, so it follows BullMQ's rules (no ':', not an
 * integer such as "12" or "-1") and stays short and log-safe.
 */
export const eventIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . -')
  .refine((v) => !INTEGER_RE.test(v), 'must not be an integer'); // BullMQ reserves integer ids for its own

const owner = uuidSchema;

export const faxNewSchema = z.strictObject({
  message: z.literal('fax_new'),
  owner,
  fax: uuidSchema,
  phone: phoneSchema,
  page_count: countSchema,
});

export const recordingNewSchema = z.strictObject({
  message: z.literal('recording_new'),
  owner,
  recording: uuidSchema,
  phone: phoneSchema,
});

export const callReverseStartSchema = z.strictObject({
  message: z.literal('dialplan_callreverse_start'),
  owner,
  phone_from: phoneSchema,
  phone_to: phoneSchema,
});

export const callReverseStopSchema = z.strictObject({
  message: z.literal('dialplan_callreverse_stop'),
  owner,
  phone_from: phoneSchema,
  phone_to: phoneSchema,
});

export const chatMessageSchema = z.strictObject({
  message: z.literal('chat_message'),
  owner,
  chat: uuidSchema,
  uuid: uuidSchema,
  time: countSchema,
  user: uuidSchema,
  user_name: text(MAX_USER_NAME_LENGTH),
  type: text(MAX_CHAT_TYPE_LENGTH, 'characters', 1),
  text: text(MAX_TEXT_BYTES, 'bytes'),
});

const discriminator = {
  error: (issue: { code?: string }) => (issue.code === 'invalid_union' ? `must be one of ${EVENT_TYPES.join(', ')}` : undefined),
};

/** One push event (without an id), as stored in a job and rendered into payloads. */
export const pushEventSchema = z.discriminatedUnion(
  'message',
  [faxNewSchema, recordingNewSchema, callReverseStartSchema, callReverseStopSchema, chatMessageSchema],
  discriminator,
);

const withId = { id: eventIdSchema.optional() };

/** What a producer accepts: a push event with an optional `id` (generated when absent). */
export const pushEventInputSchema = z.discriminatedUnion(
  'message',
  [
    faxNewSchema.extend(withId),
    recordingNewSchema.extend(withId),
    callReverseStartSchema.extend(withId),
    callReverseStopSchema.extend(withId),
    chatMessageSchema.extend(withId),
  ],
  discriminator,
);

/** A validated, normalised push event (integers as numbers). */
export type PushEvent = z.infer<typeof pushEventSchema>;
/** What a caller may send: counts as numbers or digit strings, plus an optional id. */
export type PushEventInput = z.input<typeof pushEventInputSchema>;
export type EventOf<T extends EventType> = Extract<PushEvent, { message: T }>;

/** One validation problem: `path` is the dotted path inside the event ("" for the event itself). */
export interface EventIssue {
  path: string;
  message: string;
}

/** Flattens zod issues to `{path, message}`; an unknown key is reported at its own path. */
export function describeIssues(error: z.ZodError): EventIssue[] {
  const out: EventIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: path ? `${path}.${key}` : key, message: 'unknown field' });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

const parseParams = {
  error: (issue: { code?: string; input?: unknown; expected?: string }) => {
    if (issue.code !== 'invalid_type') return undefined;
    if (issue.input === undefined) return 'is required';
    return issue.expected === 'object' ? 'must be a JSON object' : `must be a ${issue.expected ?? 'valid value'}`;
  },
};

export type ParsedEventInput = z.infer<typeof pushEventInputSchema>;

/** Validates one producer input; issues carry readable messages ("is required", "unknown field"). */
export function parsePushEventInput(input: unknown): { ok: true; value: ParsedEventInput } | { ok: false; issues: EventIssue[] } {
  const r = pushEventInputSchema.safeParse(input, parseParams);
  return r.success ? { ok: true, value: r.data } : { ok: false, issues: describeIssues(r.error) };
}
