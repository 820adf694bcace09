/**
 * The one shutdown pattern of every pushfleet process: the first SIGTERM or SIGINT runs `stop` (stop
 * taking work, finish or hand back in-flight work, close Redis last); the process exits 0 when it
 * resolves, 1 when it rejects or has not finished after `forceAfterMs`. A second signal is ignored.
 */
export function stopOnSignal(stop: (signal: NodeJS.Signals) => Promise<void>, forceAfterMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), forceAfterMs).unref();
    stop(signal).then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
