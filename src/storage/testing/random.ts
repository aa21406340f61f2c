/**
 * A small seeded pseudo-random generator (mulberry32): the same seed gives the same sequence, so
 * a randomized run (a workload, a torn crash, a sample of crash points) can print its seed and be
 * replayed exactly. Not for anything secret.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** `length` random bytes. */
  bytes(length: number): Buffer;
  pick<T>(items: readonly T[]): T;
}

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    bytes(length) {
      const out = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) out[i] = int(0, 255);
      return out;
    },
    pick: (items) => items[int(0, items.length - 1)]!,
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
