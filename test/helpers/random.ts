/**
 * Seeds for randomized tests: every one prints the seed of a failing case, and
 * `EVENTBUS_TEST_SEED=1234 npx tap ...` replays it. The generator itself is public
 * (src/storage/testing/random.ts).
 */
export { seededRandom, type Random } from '../../src/storage/testing/random.js';

/**
 * The seeds a randomized test runs: `count` seeds from `base`, or just the one in
 * EVENTBUS_TEST_SEED when set (to replay a failure).
 */
export function testSeeds(base: number, count: number): number[] {
  const forced = process.env.EVENTBUS_TEST_SEED;
  if (forced !== undefined && forced !== '') return [Number(forced)];
  return Array.from({ length: count }, (_, i) => base + i);
}
