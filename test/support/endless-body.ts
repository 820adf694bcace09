import type { Writable } from 'node:stream';

/**
 * A provider gone wrong: after its headers it streams a JSON-looking body that never ends, as fast as the
 * client reads it, until the client gives up. Resolves with the bytes written once the stream is closed.
 */
export function writeEndlessBody(out: Writable): Promise<number> {
  const chunk = Buffer.alloc(16 * 1024, 'x');
  let written = 0;
  const pump = () => {
    while (!out.destroyed && !out.writableEnded) {
      written += chunk.length;
      if (!out.write(chunk)) { out.once('drain', pump); return; }
    }
  };
  out.write('{"results":["');
  pump();
  return new Promise((resolve) => out.once('close', () => resolve(written)));
}
