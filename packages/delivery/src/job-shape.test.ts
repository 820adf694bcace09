import { parseJobData, PushEvent } from '@pushfleet/events';
import { producerJobEvents } from './job-shape';

// The fast check must never accept what the job schema refuses, nor hand out anything but what it outputs.
const U = '0b9e5c2a-4f1d-4c8e-9a7b-3d2e1f0a9b8c';
const EVENTS: PushEvent[] = [
  { message: 'fax_new', owner: U, fax: U, phone: '+4922155', page_count: 3 },
  { message: 'recording_new', owner: U, recording: U, phone: '' },
  { message: 'dialplan_callreverse_start', owner: U, phone_from: 'anonymous', phone_to: '+1' },
  { message: 'dialplan_callreverse_stop', owner: U, phone_from: '1', phone_to: '2' },
  { message: 'chat_message', owner: U, chat: U, uuid: U, time: 1_767_225_600, user: U, user_name: 'Zoë 👍', type: 'text', text: 'Danke! 😂' },
];
const job = (i: number) => ({ events: [{ id: `e-${i}x`, event: { ...EVENTS[i % EVENTS.length] }, enqueuedAt: 1_767_225_600_000, ...(i % 3 === 0 ? { tokens: ['ab'.repeat(32)], attempt: 2, notBefore: 5 } : {}), ...(i % 7 === 0 ? { failed: 'configuration' } : {}) }] });

const VALUES: unknown[] = [
  undefined, null, 0, -0, 1, -1, 1.5, 2 ** 53, NaN, Infinity, '', '2', 'x', '-', 'ab'.repeat(40), '\ud800', 'a\udc00b', '😂',
  'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(129), 'x'.repeat(257), 'ü'.repeat(22_000), 'ü'.repeat(33_000), 'x'.repeat(65_537),
  U, U.toUpperCase(), `${U}x`, '12', '-12', 'e.1', [], ['a'], [''], {}, { a: 1 }, true, 'configuration', 'attempts_exhausted', 'fax_new', 'chat_message',
  'message', 'constructor', '__proto__', 'toString',
];

function paths(o: unknown, prefix: string[] = []): string[][] {
  if (typeof o !== 'object' || o === null) return [prefix];
  return [prefix, ...Object.keys(o).flatMap((k) => paths((o as Record<string, unknown>)[k], [...prefix, k]))];
}

function mutate(data: Record<string, unknown>, path: string[], value: unknown, mode: 'set' | 'delete' | 'add'): unknown {
  const copy = JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = path[path.length - 1];
  if (path.length === 0) return value;
  if (mode === 'delete') delete o[last];
  else if (mode === 'add') (o as Record<string, unknown>)[String(value)] = 1;
  else o[last] = value;
  return copy;
}

/** Keys sorted, -0 and undefined kept visible; realm-neutral (the test's JSON.parse is not the module's). */
function canonical(v: unknown): string {
  if (Object.is(v, -0)) return '-0';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `[${Array.from({ length: v.length }, (_, i) => canonical(v[i])).join(",")}]`;
  if (typeof v === 'object' && v !== null) return `{${Object.keys(v).sort().map((k) => `${k}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function agrees(data: unknown): boolean {
  const fast = producerJobEvents(data);
  if (!fast) return false;
  const slow = parseJobData(data);
  if (!slow.ok) throw new Error(`fast path accepted what the schema refuses: ${canonical(data)} ${JSON.stringify(slow.issues)}`);
  if (slow.ok) expect(canonical(fast)).toEqual(canonical(slow.events));
  return true;
}

test('producer jobs take the fast path, and come out as the schema outputs them', () => {
  for (let i = 0; i < 20; i++) expect(agrees(job(i))).toBe(true);
  expect(agrees({ events: Array.from({ length: 20 }, (_, i) => job(i).events[0]) })).toBe(true);
  expect(producerJobEvents({ events: Array.from({ length: 21 }, (_, i) => job(i).events[0]) })).toBeUndefined();
});

test('every mutation the fast path accepts, the schema accepts with the same output', () => {
  let accepted = 0;
  let tried = 0;
  for (let i = 0; i < EVENTS.length * 3; i++) {
    const data = job(i);
    for (const path of paths(data)) {
      for (const value of VALUES) {
        for (const mode of ['set', 'delete', 'add'] as const) {
          tried++;
          if (agrees(mutate(data, path, value, mode))) accepted++;
        }
      }
    }
  }
  expect(tried).toBeGreaterThan(5000);
  expect(accepted).toBeGreaterThan(100); // the valid mutations (other phones, tokens, ids...) do pass
});

test('what the schema would normalise goes to the schema: counts as digit strings, -0; legacy one-event jobs', () => {
  const chat = job(4);
  (chat.events[0].event as Record<string, unknown>).time = '17';
  expect(producerJobEvents(chat)).toBeUndefined();
  expect(parseJobData(chat).ok).toBe(true);
  const fax = job(0);
  (fax.events[0].event as Record<string, unknown>).page_count = -0;
  expect(producerJobEvents(fax)).toBeUndefined();
  expect(producerJobEvents(job(1).events[0])).toBeUndefined();
  expect(producerJobEvents(Object.assign(Object.create({ inherited: 1 }), job(1)))).toBeUndefined();
});
