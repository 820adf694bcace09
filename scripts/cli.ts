#!/usr/bin/env node
// `npm run cli -- <command>`: the operator CLI (queue stats, dead-letter list/replay/purge, sample events,
// a user's tokens). `npm run cli -- --help` lists the commands and exit codes; docs/operations.md has more.
import path from 'node:path';
import { runCli } from './lib/cli-commands';
import { ROOT } from './lib/processes';

// `... | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// Without REDIS_URL, the fleet `npm start` runs (it writes its Redis to .pushfleet/env).
const fleetEnvFile = path.join(ROOT, '.pushfleet', 'env');
runCli(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, fleetEnvFile }).then(
  (code) => {
    // Exit explicitly once output is flushed: a Redis client BullMQ keeps reconnecting must not hold the process.
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    process.stderr.write(`pushfleet cli: ${(e as Error)?.message ?? String(e)}\n`);
    process.exit(1);
  },
);
