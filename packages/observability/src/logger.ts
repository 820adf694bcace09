import pino, { Logger } from 'pino';
import { createHash } from 'node:crypto';

export type { Logger };

/** A value `tokenRef` made: 6 characters, an ellipsis, `#` and 8 hex digits. */
const TOKEN_REF_RE = /^[^…]{0,6}…#[0-9a-f]{8}$/u;

/**
 * What replaces a redacted value: `[redacted]`, except that a `token` field holding a short reference
 * (`tokenRef`) is kept, so pruned and moved tokens can be followed in the logs without the token.
 */
function censor(value: unknown, path: string[]): unknown {
  return path[path.length - 1] === 'token' && typeof value === 'string' && TOKEN_REF_RE.test(value) ? value : '[redacted]';
}

/**
 * JSON logs on stdout, one line per event worth a human's attention. Secrets are never passed to the
 * logger; the redact list is a second line of defence for headers and config objects that slip through.
 */
export function createLogger(name: string, level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name,
      level,
      base: { service: name },
      redact: {
        paths: ['authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
          'token', '*.token', 'secret', '*.secret', 'key', '*.key', 'passphrase', '*.passphrase', 'text', '*.text'],
        censor,
      },
    },
    destination,
  );
}

/** A short, stable reference to a device token or registration id for logs: never the full value. */
export function tokenRef(token: string): string {
  return `${token.slice(0, 6)}…#${createHash('sha256').update(token).digest('hex').slice(0, 8)}`;
}
