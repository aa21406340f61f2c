/**
 * The 64-bit hash of a key (its UTF-8 bytes) that the key index sorts and finds entries by: two
 * MurmurHash3 (x86, 32-bit) hashes of the bytes with different seeds, `hi` and `lo`. Pure
 * integer arithmetic, no BigInt, so hashing costs well under a microsecond for short keys.
 *
 * Two keys may share a hash (among a million keys, a shared one somewhere with a chance of about
 * 3 in 10^8): the index never trusts a hash alone, it checks the key stored in the record an
 * entry points at (keys/key-index.ts).
 */

/** A 64-bit hash as two unsigned 32-bit halves. */
export interface KeyHash {
  hi: number;
  lo: number;
}

const SEED_HI = 0x9747b28c;
const SEED_LO = 0x3c6ef372;

/** The hash of `key`'s bytes. */
export function hashKey(key: Buffer): KeyHash {
  return { hi: murmur3(key, SEED_HI), lo: murmur3(key, SEED_LO) };
}

/** Orders hashes (hi, then lo): negative, zero or positive. */
export function compareHash(aHi: number, aLo: number, bHi: number, bLo: number): number {
  if (aHi !== bHi) return aHi < bHi ? -1 : 1;
  if (aLo !== bLo) return aLo < bLo ? -1 : 1;
  return 0;
}

/** MurmurHash3 x86 32-bit of `data` with `seed`; an unsigned 32-bit integer. */
function murmur3(data: Buffer, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const length = data.length;
  const blocks = length & ~3;
  let h = seed | 0;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = data[blocks]!;
    if (tail > 1) k ^= data[blocks + 1]! << 8;
    if (tail > 2) k ^= data[blocks + 2]! << 16;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
