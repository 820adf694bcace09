import {
  EVENT_TYPES,
  describeIssues,
  parsePushEventInput,
  pushEventInputSchema,
  pushEventSchema,
  PushEvent,
} from './index';

const OWNER = '9aed5e94-3803-11e3-8475-0024e8f90cc0';
const UUID = 'af729cc0-3251-11e2-81c1-0800200c9a66';

const valid: Record<(typeof EVENT_TYPES)[number], Record<string, unknown>> = {
  fax_new: { owner: OWNER, message: 'fax_new', fax: UUID, phone: '+492215587412', page_count: 2 },
  recording_new: { owner: OWNER, message: 'recording_new', recording: UUID, phone: '+492215587412' },
  dialplan_callreverse_start: { owner: OWNER, message: 'dialplan_callreverse_start', phone_from: '+4989123248278', phone_to: '+492216698000' },
  dialplan_callreverse_stop: { owner: OWNER, message: 'dialplan_callreverse_stop', phone_from: '+4989123248278', phone_to: '+492216698000' },
  chat_message: {
    owner: OWNER, message: 'chat_message', chat: '52a9fd3c-8aad-11e0-9138-0024e8f90cc0', uuid: 'c1aa1566-84d7-11e2-a7a8-0024e8f90cc0',
    time: 1362407297, user: '1de7257a-4f34-11e0-ab6e-0024e8f90cc1', user_name: 'John Doe', type: 'text', text: "what's for lunch today?",
  },
};

/** The issues of an invalid input, as `path: message` strings. */
function issues(input: unknown): string[] {
  const r = parsePushEventInput(input);
  if (r.ok) throw new Error(`expected ${JSON.stringify(input)} to be invalid`);
  return r.issues.map((i) => `${i.path}: ${i.message}`);
}

function parsed(input: unknown): PushEvent & { id?: string } {
  const r = parsePushEventInput(input);
  if (!r.ok) throw new Error(`expected valid, got ${JSON.stringify(r.issues)}`);
  return r.value;
}

describe('event types', () => {
  it('lists the five spec events', () => {
    expect(EVENT_TYPES).toEqual(['fax_new', 'recording_new', 'dialplan_callreverse_start', 'dialplan_callreverse_stop', 'chat_message']);
  });

  it.each(EVENT_TYPES)('accepts a valid %s and returns it unchanged', (type) => {
    expect(pushEventSchema.parse(valid[type])).toEqual(valid[type]);
    expect(parsed(valid[type])).toEqual(valid[type]);
  });

  it.each(EVENT_TYPES)('rejects an unknown key on %s (strict objects)', (type) => {
    expect(issues({ ...valid[type], extra: 1 })).toEqual(['extra: unknown field']);
    expect(issues({ ...valid[type], aps: { 'content-available': 1 } })).toEqual(['aps: unknown field']);
  });

  it.each(EVENT_TYPES)('reports every missing field of %s', (type) => {
    const required = Object.keys(valid[type]).filter((k) => k !== 'message');
    expect(issues({ message: type })).toEqual(required.map((k) => `${k}: is required`));
  });

  it('rejects an unknown, missing or non-string message type', () => {
    const expected = ['message: must be one of fax_new, recording_new, dialplan_callreverse_start, dialplan_callreverse_stop, chat_message'];
    expect(issues({ ...valid.fax_new, message: 'fax_old' })).toEqual(expected);
    expect(issues({ owner: OWNER })).toEqual(expected);
    expect(issues({ ...valid.fax_new, message: 1 })).toEqual(expected);
  });

  it('rejects what is not an object', () => {
    for (const x of [null, 5, 'fax_new', [valid.fax_new], true]) expect(issues(x)).toEqual([': must be a JSON object']);
  });

  it('does not mix the fields of two types', () => {
    expect(issues({ ...valid.recording_new, fax: UUID })).toEqual(['fax: unknown field']);
  });
});

describe('integers (page_count, time): APNs typing, GCM strings normalised', () => {
  it.each([
    [2, 2], ['2', 2], [0, 0], ['0', 0], ['02', 2], [-0, 0], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])('page_count %p becomes %p', (input, output) => {
    const ev = parsed({ ...valid.fax_new, page_count: input });
    expect(ev).toMatchObject({ page_count: output });
    expect(Object.is((ev as { page_count: number }).page_count, output)).toBe(true);
    expect(parsed({ ...valid.chat_message, time: input })).toMatchObject({ time: output });
  });

  it.each([
    '2.5', 2.5, '-1', -1, 'abc', '', ' 2', '2 ', '1e3', '0x10', '+2', Number.MAX_SAFE_INTEGER + 1, '9007199254740992',
    '99999999999999999999', NaN, Infinity, true, null, [2], { n: 2 },
  ])('rejects %p', (input) => {
    expect(issues({ ...valid.fax_new, page_count: input })).toEqual([expect.stringMatching(/^page_count: must be a non-negative integer/)]);
    expect(issues({ ...valid.chat_message, time: input })).toEqual([expect.stringMatching(/^time: must be a non-negative integer/)]);
  });

  it('has a number output type', () => {
    const ev = pushEventSchema.parse({ ...valid.fax_new, page_count: '7' });
    if (ev.message !== 'fax_new') throw new Error('type');
    const n: number = ev.page_count;
    expect(n).toBe(7);
  });
});

describe('UUIDs', () => {
  const fields = [['fax_new', 'fax'], ['fax_new', 'owner'], ['recording_new', 'recording'], ['chat_message', 'chat'],
    ['chat_message', 'uuid'], ['chat_message', 'user'], ['dialplan_callreverse_start', 'owner']] as const;

  it.each(fields)('%s.%s accepts v1 (spec), v4, any variant and upper case, kept as given', (type, field) => {
    for (const u of ['1de7257a-4f34-11e0-ab6e-0024e8f90cc1', '3f2504e0-4f89-41d3-9a0c-0305e82c3301', '00000000-0000-0000-0000-000000000000',
      'AF729CC0-3251-11E2-81C1-0800200C9A66', 'af729cc0-3251-11e2-01c1-0800200c9a66']) {
      expect(parsed({ ...valid[type], [field]: u })).toMatchObject({ [field]: u });
    }
  });

  it.each(fields)('%s.%s rejects what is not an 8-4-4-4-12 hex UUID', (type, field) => {
    for (const u of ['', 'not-a-uuid', 'af729cc032511e281c10800200c9a66', 'af729cc0-3251-11e2-81c1-0800200c9a6', 'af729cc0-3251-11e2-81c1-0800200c9a66 ',
      '{af729cc0-3251-11e2-81c1-0800200c9a66}', 'gf729cc0-3251-11e2-81c1-0800200c9a66', 'af729cc0_3251_11e2_81c1_0800200c9a66']) {
      expect(issues({ ...valid[type], [field]: u })).toEqual([`${field}: must be a UUID (8-4-4-4-12 hex digits)`]);
    }
    expect(issues({ ...valid[type], [field]: 42 })).toEqual([`${field}: must be a string`]);
  });
});

describe('phone numbers', () => {
  const fields = [['fax_new', 'phone'], ['recording_new', 'phone'], ['dialplan_callreverse_start', 'phone_from'],
    ['dialplan_callreverse_stop', 'phone_to']] as const;

  it.each(fields)('%s.%s is free text up to 64 characters, empty and "anonymous" included', (type, field) => {
    for (const p of ['', 'anonymous', '+49 (221) 558-7412', '**21#', 'x'.repeat(64), '☎'.repeat(64)]) {
      expect(parsed({ ...valid[type], [field]: p })).toMatchObject({ [field]: p });
    }
    expect(issues({ ...valid[type], [field]: 'x'.repeat(65) })).toEqual([`${field}: must be at most 64 characters`]);
    expect(issues({ ...valid[type], [field]: 4922155 })).toEqual([`${field}: must be a string`]);
    expect(issues({ ...valid[type], [field]: '+49\ud800' })).toEqual([`${field}: must be valid Unicode (no lone surrogates)`]);
  });
});

describe('chat_message text fields', () => {
  it('accepts a text of exactly 64 KiB of UTF-8 and rejects one byte more', () => {
    expect(parsed({ ...valid.chat_message, text: 'a'.repeat(65536) })).toMatchObject({ text: 'a'.repeat(65536) });
    expect(issues({ ...valid.chat_message, text: 'a'.repeat(65537) })).toEqual(['text: must be at most 65536 bytes of UTF-8']);
    // 16384 four-byte emoji = 65536 bytes (32768 UTF-16 units)
    expect(parsed({ ...valid.chat_message, text: '😀'.repeat(16384) }).message).toBe('chat_message');
    expect(issues({ ...valid.chat_message, text: '😀'.repeat(16384) + 'a' })).toEqual(['text: must be at most 65536 bytes of UTF-8']);
    // 21846 three-byte characters = 65538 bytes though only 21846 characters
    expect(issues({ ...valid.chat_message, text: '€'.repeat(21846) })).toEqual(['text: must be at most 65536 bytes of UTF-8']);
    expect(parsed({ ...valid.chat_message, text: '€'.repeat(21845) + 'a' }).message).toBe('chat_message');
  });

  it('accepts an empty text, newlines, quotes and control characters', () => {
    for (const t of ['', 'line 1\nline 2\t"quoted" \\ \u0001', '‮rtl', 'e\u0301']) {
      expect(parsed({ ...valid.chat_message, text: t })).toMatchObject({ text: t });
    }
  });

  it('rejects lone surrogates in text and user_name', () => {
    expect(issues({ ...valid.chat_message, text: 'a\udc00b' })).toEqual(['text: must be valid Unicode (no lone surrogates)']);
    expect(issues({ ...valid.chat_message, user_name: '\ud83d' })).toEqual(['user_name: must be valid Unicode (no lone surrogates)']);
  });

  it('limits user_name to 256 characters (may be empty)', () => {
    expect(parsed({ ...valid.chat_message, user_name: '' })).toMatchObject({ user_name: '' });
    expect(parsed({ ...valid.chat_message, user_name: 'Ö'.repeat(256) })).toMatchObject({ user_name: 'Ö'.repeat(256) });
    expect(issues({ ...valid.chat_message, user_name: 'x'.repeat(257) })).toEqual(['user_name: must be at most 256 characters']);
  });

  it('requires type to be 1..32 characters', () => {
    expect(parsed({ ...valid.chat_message, type: 'x'.repeat(32) })).toMatchObject({ type: 'x'.repeat(32) });
    expect(issues({ ...valid.chat_message, type: '' })).toEqual(['type: must not be empty']);
    expect(issues({ ...valid.chat_message, type: 'x'.repeat(33) })).toEqual(['type: must be at most 32 characters']);
  });

  it('reports several problems at once', () => {
    expect(issues({ ...valid.chat_message, time: '-1', text: 5, owner: 'x', foo: 1 })).toEqual([
      'owner: must be a UUID (8-4-4-4-12 hex digits)',
      expect.stringMatching(/^time: must be a non-negative integer/),
      'text: must be a string',
      'foo: unknown field',
    ]);
  });
});

describe('the optional event id (becomes the BullMQ job id)', () => {
  it.each(['evt-1', 'a', 'A.b_c-9', 'x'.repeat(128), '0123x', 'af729cc0-3251-11e2-81c1-0800200c9a66', '1.5', '-x', '1-2'])('accepts %p', (id) => {
    expect(parsed({ ...valid.fax_new, id })).toMatchObject({ id });
  });

  it.each([
    ['', 'must be 1-128 characters of A-Z a-z 0-9 _ . -'],
    ['x'.repeat(129), 'must be 1-128 characters of A-Z a-z 0-9 _ . -'],
    ['a:b', 'must be 1-128 characters of A-Z a-z 0-9 _ . -'],
    ['a b', 'must be 1-128 characters of A-Z a-z 0-9 _ . -'],
    ['ä', 'must be 1-128 characters of A-Z a-z 0-9 _ . -'],
    ['12345', 'must not be an integer'],
    ['0', 'must not be an integer'],
    ['007', 'must not be an integer'],
    ['-1', 'must not be an integer'],
  ])('rejects %p', (id, message) => {
    expect(issues({ ...valid.fax_new, id })).toEqual([`id: ${message}`]);
  });

  it('rejects a non-string id', () => {
    expect(issues({ ...valid.fax_new, id: 17 })).toEqual(['id: must be a string']);
  });

  it('is part of the producer input only, not of the event', () => {
    expect(pushEventInputSchema.parse({ ...valid.chat_message, id: 'e1' })).toEqual({ ...valid.chat_message, id: 'e1' });
    expect(pushEventSchema.safeParse({ ...valid.chat_message, id: 'e1' }).success).toBe(false);
  });
});

describe('describeIssues', () => {
  it('reports nested paths dotted and unknown keys one by one', () => {
    const r = pushEventSchema.safeParse({ ...valid.fax_new, a: 1, b: 2 });
    expect(r.success).toBe(false);
    if (!r.success) expect(describeIssues(r.error)).toEqual([{ path: 'a', message: 'unknown field' }, { path: 'b', message: 'unknown field' }]);
  });
});
