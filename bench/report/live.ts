/**
 * What the harness shows while it runs, on stderr: on a terminal, a progress bar (cli-progress)
 * naming the workload, the system and the repetition with how far it is, and above it each
 * figure's row as soon as it is measured (the table builds up live); elsewhere (a log, CI) one
 * plain line per step. Nothing at all with --no-progress... except failures.
 */
import cliProgress from 'cli-progress';
import type { Progress } from '../../src/cli/bench/progress.js';

export interface Step {
  /** `[3/14] write-16x32-100` */
  workload: string;
  system: string;
  /** e.g. `rep 2/3`, `warm-up`, `prefill`. */
  phase: string;
}

export type DisplayMode = 'live' | 'lines' | 'off';

export class LiveDisplay {
  private readonly multibar: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly mode: DisplayMode) {
    if (mode === 'live') {
      this.multibar = new cliProgress.MultiBar({
        format: '{workload} · {system} · {phase} |{bar}| {percentage}% {value}/{total} {unit}',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        fps: 8,
        barsize: 24,
      }, cliProgress.Presets.shades_classic);
    }
  }

  /** A measurement starts; `progress` is read a few times a second until `end()`. */
  begin(step: Step, progress: Progress): void {
    this.end();
    if (this.mode === 'lines') process.stderr.write(`${step.workload} · ${step.system} · ${step.phase}\n`);
    if (this.multibar === null) return;
    const bar = this.multibar.create(Math.max(1, progress.total), 0, { ...step, unit: progress.unit });
    this.bar = bar;
    this.timer = setInterval(() => {
      bar.setTotal(Math.max(1, progress.total));
      bar.update(Math.round(progress.done), { unit: progress.unit });
    }, 125);
  }

  end(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.bar !== null) this.multibar!.remove(this.bar);
    this.bar = null;
  }

  /** A line that stays (a finished figure's row, a warning). */
  line(text: string, always = false): void {
    if (this.multibar !== null) this.multibar.log(`${text}\n`);
    else if (this.mode === 'lines' || always) process.stderr.write(`${text}\n`);
  }

  close(): void {
    this.end();
    // MultiBar.log buffers lines until the next redraw: draw once more so that the lines logged
    // after the last bar was removed (the last workload's figures) are printed before it stops.
    this.multibar?.update();
    this.multibar?.stop();
  }
}
