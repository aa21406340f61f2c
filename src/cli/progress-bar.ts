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
    : `${label} |{bar}| {percentage}% · {value}/{total} ${unit} · eta {remaining}`;
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
  // Our own eta, not cli-progress's {eta_formatted}: that one shows its placeholder as `LLs`
  // (the last two letters of NULL) when it has no estimate yet, as on a last frame.
  let currentTotal = total ?? 0;
  bar.start(currentTotal, 0, { rate: '0', remaining: etaText(Number.NaN) });
  return {
    update(done, newTotal) {
      if (newTotal !== undefined) {
        currentTotal = newTotal;
        bar.setTotal(newTotal);
      }
      const seconds = (performance.now() - started) / 1000;
      const perSecond = seconds > 0 ? done / seconds : 0;
      bar.update(done, { rate: Math.round(perSecond).toLocaleString('en-US'), remaining: etaText(done >= currentTotal ? 0 : perSecond > 0 ? (currentTotal - done) / perSecond : Number.NaN) });
    },
    stop() {
      remove();
    },
  };
}

/** Seconds left for a person: `7s`, `3m05s`, `1h12m`; `?` while there is no estimate. */
export function etaText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}
