/**
 * Ctrl-C (SIGINT) and SIGTERM for commands that run until told to stop (`read --follow`,
 * `consume --follow`): the first signal stops the command cleanly (what was printed stays
 * printed, acknowledgements in flight finish) and it exits 0; a second one exits at once.
 */
export interface StopSignal {
  readonly stopped: Promise<void>;
  isStopped(): boolean;
  /** Stops without a signal (e.g. a limit was reached). */
  stop(): void;
  /** Removes the signal handlers. */
  dispose(): void;
}

export function stopOnSignals(): StopSignal {
  let stopped = false;
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  const stop = () => {
    if (stopped) return;
    stopped = true;
    resolve();
  };
  const onSignal = () => {
    if (stopped) process.exit(130);
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    stopped: promise,
    isStopped: () => stopped,
    stop,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
