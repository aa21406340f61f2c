/**
 * A small seeded pseudo-random generator (mulberry32), so that every randomized test can print
 * the seed of a failing case and be replayed exactly: `EVENTBUS_TEST_SEED=1234 npx tap ...`.
 */

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

/**
 * The seeds a randomized test runs: `count` seeds from `base`, or just the one in
 * EVENTBUS_TEST_SEED when set (to replay a failure).
 */
export function testSeeds(base: number, count: number): number[] {
  const forced = process.env.EVENTBUS_TEST_SEED;
  if (forced !== undefined && forced !== '') return [Number(forced)];
  return Array.from({ length: count }, (_, i) => base + i);
}
