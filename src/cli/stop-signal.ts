/**
 * Ctrl-C (SIGINT) and SIGTERM for the client commands (`read`, `consume`, `write`, `bench`; the
 * one-shot commands through withClient in connection-options.ts): the first signal stops the command cleanly (what was printed stays printed,
 * acknowledgements and writes in flight finish) and a second one exits at once (130). Waiting
 * that nothing would come of (a connection being opened, a request the command will not use the
 * answer of) is abandoned at once. Once the command has ended after a signal, run.ts ends the
 * process ({@link signalReceived}), so a connection still being opened or a server that never
 * answers cannot keep it alive.
 */
export interface StopSignal {
  readonly stopped: Promise<void>;
  isStopped(): boolean;
  /** Stops without a signal (e.g. a limit was reached). */
  stop(): void;
  /** Removes the signal handlers. */
  dispose(): void;
}

let received = false;

/** Whether Ctrl-C or SIGTERM stopped a command in this process. */
export function signalReceived(): boolean {
  return received;
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
    if (received) process.exit(130);
    received = true;
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

/**
 * Resolves with `work`'s value, or with null as soon as `signal` stops first; what `work` later
 * resolves with is handed to `discard` (a connection to close), its failure ignored.
 */
export async function unlessStopped<T>(work: Promise<T>, signal: Pick<StopSignal, 'stopped' | 'isStopped'>, discard: (value: T) => void = () => {}): Promise<T | null> {
  const STOPPED = Symbol('stopped');
  const first = await Promise.race([work, signal.stopped.then(() => STOPPED)]);
  if (first !== STOPPED) return first as T;
  work.then(discard, () => {});
  return null;
}
