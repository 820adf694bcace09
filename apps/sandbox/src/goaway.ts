import http2 from 'node:http2';

/**
 * GOAWAY as the providers send it: the frame names the last stream the server really processed (the
 * highest stream id it answered on that connection); streams above it get no answer and are recorded as
 * unanswered (status 0), so a client may safely send them again. Streams at or below it that are still
 * open are answered if they finish before the connection drops.
 */

interface GoneAway { reason: string; lastStreamId: number }

const goneAway = new WeakMap<http2.Http2Session, GoneAway>();
const lastAnswered = new WeakMap<http2.Http2Session, number>();
// A destroyed stream forgets its session; remember it so a GOAWAY can still be told.
const sessionOfStream = new WeakMap<http2.Http2Stream, http2.Http2Session>();

/** Call for every incoming HTTP/2 stream, so `unanswerable` works after the stream is gone. */
export function trackStream(stream: http2.Http2Stream): void {
  if (stream.session) sessionOfStream.set(stream, stream.session);
}

function sessionOf(stream: http2.Http2Stream): http2.Http2Session | undefined {
  return stream.session ?? sessionOfStream.get(stream);
}

/** Call when a stream is answered: its id counts as processed for a later GOAWAY. */
export function markAnswered(stream: http2.Http2Stream): void {
  const session = sessionOf(stream);
  const id = stream.id;
  if (session === undefined || id === undefined) return;
  if (id > (lastAnswered.get(session) ?? 0)) lastAnswered.set(session, id);
}

/** Set (with the GOAWAY's reason) when the stream is above the last stream id of a GOAWAY sent on its connection. */
export function unanswerable(stream: http2.Http2Stream | undefined): { reason?: string } | undefined {
  const session = stream === undefined ? undefined : sessionOf(stream);
  const g = session === undefined ? undefined : goneAway.get(session);
  if (g === undefined || stream === undefined) return undefined;
  return (stream.id ?? Infinity) > g.lastStreamId ? { reason: g.reason } : undefined;
}

/**
 * Sends GOAWAY with `{"reason":...}` as debug data (as APNs does) and the last stream answered, then drops
 * the connection shortly after.
 */
export function goaway(session: http2.Http2Session, code: number, reason: string): void {
  if (session.closed || session.destroyed || goneAway.has(session)) return;
  const lastStreamId = lastAnswered.get(session) ?? 0;
  goneAway.set(session, { reason, lastStreamId });
  session.goaway(code, lastStreamId, Buffer.from(JSON.stringify({ reason })));
  const t = setTimeout(() => { if (!session.destroyed) session.destroy(); }, 50);
  t.unref();
}

/** The last stream id the GOAWAY sent on this connection named (undefined: none sent). */
export function goawayLastStreamId(session: http2.Http2Session): number | undefined {
  return goneAway.get(session)?.lastStreamId;
}

export const NO_ERROR = http2.constants.NGHTTP2_NO_ERROR;
