import pino from 'pino';
import { ConfigError, loadConfig } from './config';
import { stopOnSignal } from '@pushfleet/observability';
import { startSandbox } from './sandbox';

// Wiring only: config -> sandbox -> wait for a signal -> close.
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ name: 'sandbox', level: config.logLevel, base: { service: 'sandbox' } });
  const sandbox = await startSandbox({ ...config.options, logger });
  if (config.options.acceptAnyApnsKey) logger.warn('SANDBOX_ACCEPT_ANY_KEY=1: provider tokens, server keys and grant assertions are not verified');

  stopOnSignal(async (signal) => {
    logger.info({ signal }, 'sandbox shutting down');
    await sandbox.close().catch((err: unknown) => {
      logger.error({ err }, 'sandbox close failed');
      throw err;
    });
  }, 5000);
}

main().catch((err) => {
  process.stderr.write(`sandbox failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
