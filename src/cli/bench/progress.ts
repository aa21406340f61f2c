/**
 * How far the current measurement is: a load loop bumps `done`; the live display reads it a few
 * times a second (a plain counter, so the hot loop pays nothing for the display).
 */
export class Progress {
  done = 0;
  total = 0;
  unit = 'events';

  constructor(total = 0, unit = 'events') {
    this.total = total;
    this.unit = unit;
  }
}
