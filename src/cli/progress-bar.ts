/**
 * A progress bar for long work (a bulk write from stdin, verify, restore, bench), drawn with
 * cli-progress on stderr and only when stderr is a terminal: in a pipe, a log or CI nothing is
 * drawn, so stdout and stderr stay clean for programs. With no known total (stdin from a pipe)
 * it shows the count and rate instead of a bar.
 *
 * While drawn, the bar hides the cursor and turns line wrap off; they are turned back on at
 * every end: stop(), process.exit() (an 'exit' hook), and a SIGINT or SIGTERM that no command
 * handles (the bar is removed, then the signal does what it would have done).
 */
import cliProgress from 'cli-progress';

export interface ProgressBar {
  /** How far the work is (and, when it became known, the total). */
  update(done: number, total?: number): void;
  /** Removes the bar (call once, also on failure). */
  stop(): void;
}

/** No bar (where none is drawn). */
export const NO_PROGRESS: ProgressBar = { update() {}, stop() {} };

/** A bar labelled `label` counting `unit`s; `total` undefined when unknown. */
export function progressBar(label: string, unit: string, total: number | undefined, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (stream.isTTY !== true) return NO_PROGRESS;
  const format = total === undefined
    ? `${label} {value} ${unit} · {rate} ${unit}/s`
    : `${label} |{bar}| {percentage}% · {value}/{total} ${unit} · eta {eta_formatted}`;
  const bar = new cliProgress.SingleBar({
    format,
    stream,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 24,
    fps: 8,
    etaBuffer: 50,
    formatValue: (value, _options, type) => (type === 'value' || type === 'total' ? Math.round(value).toLocaleString('en-US') : String(value)),
  }, cliProgress.Presets.shades_classic);
  const started = performance.now();
  let drawn = true;
  const remove = () => {
    if (!drawn) return;
    drawn = false;
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    bar.stop();
  };
  // At process.exit() only synchronous writes happen (as a terminal's are): show the cursor, wrap lines again.
  const onExit = () => {
    if (!drawn) return;
    drawn = false;
    try {
      stream.write('\r\u001b[K\u001b[?25h\u001b[?7h');
    } catch {
      // the terminal is gone
    }
  };
  // Only when no command handles the signal (then it stops the bar itself): remove the bar and
  // let the signal end the process as it would have.
  const onSignal = (signal: NodeJS.Signals) => {
    if (process.listenerCount(signal) > 1) return;
    remove();
    process.kill(process.pid, signal);
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  bar.start(total ?? 0, 0, { rate: '0' });
  return {
    update(done, newTotal) {
      if (newTotal !== undefined) bar.setTotal(newTotal);
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds).toLocaleString('en-US') : '0' });
    },
    stop() {
      remove();
    },
  };
}
