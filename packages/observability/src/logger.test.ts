import { Writable } from 'node:stream';
import { createLogger, tokenRef } from './logger';

const TOKEN = 'a6461732069737d42065496e00000000000000000000000000000000000f39ad';

function capture() {
  const lines: string[] = [];
  const logger = createLogger('test', 'info', new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }));
  return { logger, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('a token field keeps a short reference but never a full token; secrets and text stay redacted', () => {
  const { logger, lines } = capture();
  logger.info({ token: tokenRef(TOKEN) }, 'pruned token');
  logger.info({ token: TOKEN, text: 'chat text', secret: 's3cr3t', nested: { token: `${TOKEN.slice(0, 6)}…#zzzzzzzz` } }, 'oops');
  const [ref, leak] = lines();
  expect(ref.token).toBe(tokenRef(TOKEN));
  expect(leak).toMatchObject({ token: '[redacted]', text: '[redacted]', secret: '[redacted]', nested: { token: '[redacted]' } });
  expect(JSON.stringify(lines())).not.toContain(TOKEN);
});
