/**
 * Group commit: submissions that arrive within one turn of the event loop (for the API: the requests whose
 * bodies were parsed in the same I/O poll) are written to Redis together, as one batch, by one `commit`
 * call. Nothing waits on a timer or on an earlier write: the batch is flushed from `setImmediate`, right
 * after the callbacks of the current poll phase, so an idle publish pays no extra latency, and batches
 * never queue behind each other (each flush starts its own write at once).
 *
 * Each submission's promise settles only when the commit of its batch settles: resolved once every item
 * of the batch is in Redis, rejected with the commit's error otherwise, so a Redis failure fails exactly
 * the submissions of that batch. A batch holds at most `maxItems` items; a submission that would overflow
 * it flushes the pending batch first (a submission larger than `maxItems` is a batch of its own).
 */
export class GroupCommit<T> {
  private items: T[] = [];
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly commit: (items: T[]) => Promise<void>,
    private readonly maxItems: number,
  ) {}

  /** Resolves when `items` (and the rest of their batch) are committed; rejects with the batch's error. */
  submit(items: readonly T[]): Promise<void> {
    if (this.items.length > 0 && this.items.length + items.length > this.maxItems) this.flush();
    for (const item of items) this.items.push(item);
    const done = new Promise<void>((resolve, reject) => { this.waiters.push({ resolve, reject }); });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  private flush(): void {
    this.scheduled = false; // a later setImmediate of an earlier flush finds an empty batch and returns
    if (this.waiters.length === 0) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    let written: Promise<void>;
    try {
      written = this.commit(items);
    } catch (err) {
      written = Promise.reject(err);
    }
    written.then(
      () => { for (const w of waiters) w.resolve(); },
      (err: unknown) => { for (const w of waiters) w.reject(err); },
    );
  }
}
