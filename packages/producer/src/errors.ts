/** One problem with one event of a batch: `path` is dotted inside the event ("" for the event itself). */
export interface InvalidEvent {
  index: number;
  path: string;
  message: string;
}

/** At least one event of a batch is invalid; nothing of the batch was enqueued. HTTP: 400 invalid-request. */
export class InvalidEventsError extends Error {
  readonly status = 'invalid-request';
  constructor(readonly errors: InvalidEvent[]) {
    super(`invalid events: ${errors.slice(0, 3).map((e) => `#${e.index} ${e.path || '(event)'}: ${e.message}`).join('; ')}${errors.length > 3 ? ` (+${errors.length - 3} more)` : ''}`);
    this.name = 'InvalidEventsError';
  }
}

/**
 * Redis did not take the batch (down, unreachable, too slow, out of memory, closed producer). Some jobs
 * of the batch may have been enqueued: publishing again with the same ids is safe. HTTP: 503 unavailable.
 */
export class QueueUnavailableError extends Error {
  readonly status = 'unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueUnavailableError';
  }
}
