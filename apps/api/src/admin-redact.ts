import { EVENT_TYPES, jobEvents } from '@pushfleet/events';
import { tokenRef } from '@pushfleet/observability';

/**
 * What the admin dashboard shows of a job, by allow-list: only the fields an operator needs, each checked
 * for its expected form, so a job shape this code has never seen shows nothing it did not ask for.
 *
 * - per event: the event id, type, owner (as given, when it is a short string), the ids of the fax,
 *   recording, chat, message and chat sender when they are UUIDs, `page_count` and `time` when numbers,
 *   when it was accepted, and its retry state (`attempt`, `notBefore`, `failed`);
 * - tokens still owed: short references (`tokenRef`), never the token;
 * - never message text, user names, phone numbers or any other field, and nothing of an unknown shape.
 */
export function redactJobData(data: unknown): unknown {
  const events = jobEvents(data);
  if (!events) return { redacted: 'unknown job shape: not shown' };
  return { events: events.map(redactQueuedEvent) };
}

/** A job's name is its event type or `batch`; anything else (a hand-made job) is not shown. */
export function redactJobName(job: { name?: unknown }): string {
  const name = job.name;
  return typeof name === 'string' && (name === 'batch' || (EVENT_TYPES as readonly string[]).includes(name)) ? name : '[not shown]';
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const EVENT_ID_RE = /^[A-Za-z0-9_.-]{1,128}$/;
const ID_FIELDS = ['fax', 'recording', 'chat', 'uuid', 'user'] as const;
const NUMBER_FIELDS = ['page_count', 'time'] as const;
const FAILED_CAUSES = ['configuration', 'attempts_exhausted'];
const HIDDEN = '[not shown]';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function redactQueuedEvent(q: unknown): Record<string, unknown> {
  if (!isObject(q)) return { redacted: HIDDEN };
  const out: Record<string, unknown> = {
    id: typeof q.id === 'string' && EVENT_ID_RE.test(q.id) ? q.id : HIDDEN,
    event: redactEvent(q.event),
  };
  for (const k of ['enqueuedAt', 'attempt', 'notBefore'] as const) if (num(q[k]) !== undefined) out[k] = q[k];
  if (typeof q.failed === 'string') out.failed = FAILED_CAUSES.includes(q.failed) ? q.failed : HIDDEN;
  if (Array.isArray(q.tokens)) out.tokens = q.tokens.map((t) => (typeof t === 'string' ? tokenRef(t) : HIDDEN));
  return out;
}

function redactEvent(e: unknown): Record<string, unknown> {
  if (!isObject(e)) return { message: HIDDEN };
  const message = typeof e.message === 'string' && (EVENT_TYPES as readonly string[]).includes(e.message) ? e.message : HIDDEN;
  const out: Record<string, unknown> = { message };
  if (typeof e.owner === 'string') out.owner = e.owner.length <= 200 && !/[\p{Cc}\p{Cf}]/u.test(e.owner) ? e.owner : HIDDEN;
  for (const k of ID_FIELDS) if (typeof e[k] === 'string') out[k] = UUID_RE.test(e[k] as string) ? e[k] : HIDDEN;
  for (const k of NUMBER_FIELDS) if (num(e[k]) !== undefined) out[k] = e[k];
  if (typeof e.text === 'string') out.text = `[${Buffer.byteLength(e.text, 'utf8')} bytes not shown]`;
  return out;
}
