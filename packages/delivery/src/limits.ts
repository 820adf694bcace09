/**
 * Largest provider response body a worker buffers: APNs and FCM HTTP v1 answers and the OAuth token
 * endpoint's are under 2 KiB. A body over it aborts that request, whose tokens are retried with reason
 * `body-too-large` (a provider, or something in between, that streams without end must not grow the heap).
 */
export const MAX_PROVIDER_BODY_BYTES = 64 * 1024;

/**
 * Largest GCM legacy answer buffered: one result per registration id, up to 1000 ids a request, about
 * 260 bytes each when Google names a canonical id.
 */
export const MAX_GCM_LEGACY_BODY_BYTES = 1024 * 1024;

/** A response body collected up to `max` bytes; `add` answers false once the body is over it (then stop). */
export class BoundedBody {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(readonly max: number) {}

  add(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.bytes > this.max) return false;
    this.chunks.push(chunk);
    return true;
  }

  text(): string {
    return this.chunks.length === 0 ? '' : Buffer.concat(this.chunks).toString('utf8');
  }
}
