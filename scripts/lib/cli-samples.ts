import { randomUUID } from 'node:crypto';
import type { EventType, PushEventInput } from '@pushfleet/events';

export const DEFAULT_SAMPLE_TEXT = 'pushfleet sample message';

/**
 * A valid event of any type for `owner`, with fresh ids and plausible values, as the telephony backend
 * would send it. `text` only applies to chat_message.
 */
export function sampleEvent(type: EventType, owner: string, opts: { text?: string; id?: string; now?: number } = {}): PushEventInput {
  const now = opts.now ?? Date.now();
  const id = opts.id === undefined ? {} : { id: opts.id };
  switch (type) {
    case 'fax_new':
      return { ...id, message: type, owner, fax: randomUUID(), phone: '+4930123456789', page_count: 2 };
    case 'recording_new':
      return { ...id, message: type, owner, recording: randomUUID(), phone: '+4930123456789' };
    case 'dialplan_callreverse_start':
    case 'dialplan_callreverse_stop':
      return { ...id, message: type, owner, phone_from: '+4930123456789', phone_to: '+4940987654321' };
    case 'chat_message':
      return {
        ...id,
        message: type,
        owner,
        chat: randomUUID(),
        uuid: randomUUID(),
        time: Math.floor(now / 1000),
        user: randomUUID(),
        user_name: 'pushfleet operator',
        type: 'text',
        text: opts.text ?? DEFAULT_SAMPLE_TEXT,
      };
  }
}
