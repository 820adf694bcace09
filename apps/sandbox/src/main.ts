import pino from 'pino';
import { ConfigError, loadConfig } from './config';
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

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'sandbox shutting down');
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    sandbox.close().then(() => process.exit(0), (err) => {
      logger.error({ err }, 'sandbox close failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`sandbox failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
