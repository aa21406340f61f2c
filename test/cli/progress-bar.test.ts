/**
 * The progress bar's frames (progress-bar.ts) on a stream that says it is a terminal: the eta is
 * a time or `?`, never cli-progress's placeholder (`eta LLs`, the end of NULL, was seen on the
 * last frame of `eventbus verify`).
 */
import { Writable } from 'node:stream';
import t from 'tap';
import { etaText, progressBar } from '../../src/cli/progress-bar.js';

/** A terminal-like stream that keeps what is drawn. */
function fakeTerminal(): { stream: NodeJS.WriteStream; drawn(): string } {
  let drawn = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      drawn += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY: true, columns: 120, cursorTo: (_x: number, _y?: number, cb?: () => void) => { cb?.(); return true; }, clearLine: (_dir: number, cb?: () => void) => { cb?.(); return true; }, moveCursor: (_dx: number, _dy: number, cb?: () => void) => { cb?.(); return true; } });
  return { stream, drawn: () => drawn };
}

t.test('every frame has an eta a person can read, the last one too', async (t) => {
  // The last: many updates at the total (verify's last reads), where cli-progress's own eta is 0/0.
  for (const steps of [[100], [0, 50, 100], [10, 100], [50, ...Array<number>(60).fill(100)]]) {
    const terminal = fakeTerminal();
    const bar = progressBar('verifying', 'bytes', 100, terminal.stream);
    for (const [i, done] of steps.entries()) {
      bar.update(done);
      if (i < 3) await new Promise((resolve) => setTimeout(resolve, 150)); // a frame is drawn at most 8 times a second
    }
    bar.stop();
    const frames = terminal.drawn();
    t.match(frames, /verifying \|/, `${steps.length} steps: a bar was drawn`);
    t.notMatch(frames, /LL|NULL|INF|NaN/, `${steps.length} steps: no placeholder: ${JSON.stringify(frames.slice(-160))}`);
    t.match(frames, /eta (\?|\d+s)/, `${steps.length} steps: an eta`);
  }
});

t.test('etaText', async (t) => {
  t.equal(etaText(0), '0s');
  t.equal(etaText(7.2), '8s');
  t.equal(etaText(185), '3m05s');
  t.equal(etaText(4320), '1h12m');
  t.equal(etaText(Number.NaN), '?');
  t.equal(etaText(Number.POSITIVE_INFINITY), '?');
});
