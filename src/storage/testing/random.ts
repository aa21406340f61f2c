/**
 * A small seeded pseudo-random generator (mulberry32): the same seed gives the same sequence, so
 * a randomized run (a workload, a torn crash, a sample of crash points) can print its seed and be
 * replayed exactly. Not for anything secret.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';
import { checkWholeNumber, invalidArgument, MAX_WHOLE_NUMBER, wholeNumberRange } from '../api-arguments.js';

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (both inclusive; whole numbers, min ≤ max). */
  int(min: number, max: number): number;
  /** True with probability `p` (a number from 0 to 1). */
  chance(p: number): boolean;
  /** `length` random bytes (a whole number, 0 or more). */
  bytes(length: number): Buffer;
  /** One of `items` (a non-empty array). */
  pick<T>(items: readonly T[]): T;
}

/** The largest seed: the generator's state is 32 bits, so a larger seed would repeat a smaller one's sequence. */
export const MAX_SEED = 2 ** 32 - 1;

/**
 * The generator of `seed`, a whole number from 0 to {@link MAX_SEED} (the crash checker's seeds
 * too). Anything else is INVALID_FIELD: a fractional or negative seed was silently folded into
 * another one's sequence, and NaN or a string into seed 0's. Each method refuses arguments it
 * cannot honour (an empty `pick`, `int` with min above max, a probability outside 0..1) the same way.
 */
export function seededRandom(seed: number): Random {
  checkWholeNumber(seed, 'seed', 0, MAX_SEED);
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
  const uniformInt = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int(min, max) {
      if (!Number.isSafeInteger(min)) throw invalidArgument('min', wholeNumberRange(-MAX_WHOLE_NUMBER), min);
      if (!(Number.isSafeInteger(max) && max >= min)) throw invalidArgument('max', `${wholeNumberRange(min)} (at least min)`, max);
      return uniformInt(min, max);
    },
    chance(p) {
      if (!(typeof p === 'number' && p >= 0 && p <= 1)) throw invalidArgument('p', 'a probability, a number from 0 to 1', p);
      return next() < p;
    },
    bytes(length) {
      checkWholeNumber(length, 'length', 0);
      const out = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) out[i] = uniformInt(0, 255);
      return out;
    },
    pick(items) {
      if (!Array.isArray(items) || items.length === 0) throw invalidArgument('items', 'a non-empty array', items);
      return items[uniformInt(0, items.length - 1)]!;
    },
  };
}

/** What a randomized tool takes as its random source: a {@link Random} or a function uniform in [0, 1) (`Math.random`). */
export type RandomSource = Random | (() => number);

/**
 * The function behind a random source (`seededRandom(7)` or `seededRandom(7).next`, or
 * `Math.random`); INVALID_FIELD naming `field` for anything else, at once rather than at the
 * first use (a crash).
 */
export function randomFunction(source: RandomSource, field: string): () => number {
  if (typeof source === 'function') return source;
  if (typeof source === 'object' && source !== null && typeof source.next === 'function') return source.next;
  throw new EventBusError(ErrorCodes.INVALID_FIELD, `${field} must be a Random (seededRandom(seed)) or a function returning numbers in [0, 1)`, {
    context: { field, expected: 'a Random or a () => number' },
  });
}
