/**
 * A progress bar for long work (a bulk write from stdin, verify, restore, bench), drawn with
 * cli-progress on stderr and only when stderr is a terminal: in a pipe, a log or CI nothing is
 * drawn, so stdout and stderr stay clean for programs. With no known total (stdin from a pipe)
 * it shows the count and rate instead of a bar.
 */
import cliProgress from 'cli-progress';

export interface ProgressBar {
  /** How far the work is (and, when it became known, the total). */
  update(done: number, total?: number): void;
  /** Removes the bar (call once, also on failure). */
  stop(): void;
}

const NONE: ProgressBar = { update() {}, stop() {} };

/** A bar labelled `label` counting `unit`s; `total` undefined when unknown. */
export function progressBar(label: string, unit: string, total: number | undefined, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (stream.isTTY !== true) return NONE;
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
  bar.start(total ?? 0, 0, { rate: '0' });
  return {
    update(done, newTotal) {
      if (newTotal !== undefined) bar.setTotal(newTotal);
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds).toLocaleString('en-US') : '0' });
    },
    stop() {
      bar.stop();
    },
  };
}
