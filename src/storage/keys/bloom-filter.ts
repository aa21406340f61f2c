/**
 * A run's bloom filter: says for a key hash "maybe in this run" or "certainly not", so that a
 * lookup of a key a run does not hold (every new key, every cold key in all runs but one) costs
 * no read of the run. Built from the 64-bit key hashes already in the entries (format/key-hash.ts),
 * `BLOOM_BITS_PER_KEY` bits per distinct hash and `BLOOM_HASHES` probes by double hashing
 * (Kirsch–Mitzenmacher: probe i is lo + i·hi' mod m), about 1% false positives. Never a false
 * negative: every hash added answers "maybe".
 *
 * Bytes: the bit array, bit j at byte j >> 3, bit j & 7; its length is a multiple of 8 bytes
 * (format/key-run.ts stores it after the fences, with its length, probe count and CRC in the
 * trailer).
 */
import { assert } from '../../errors.js';

export const BLOOM_BITS_PER_KEY = 10;
export const BLOOM_HASHES = 7;
/** The largest filter a run gets (a run of more distinct keys gets a sparser one). */
export const BLOOM_MAX_BYTES = 64 * 1024 * 1024;

/** Bytes of the filter of a run of `distinctHashes` hashes (0 for none). */
export function bloomBytesFor(distinctHashes: number): number {
  if (distinctHashes <= 0) return 0;
  const bits = Math.max(64, distinctHashes * BLOOM_BITS_PER_KEY);
  return Math.min(BLOOM_MAX_BYTES, Math.ceil(bits / 64) * 8);
}

export class BloomFilter {
  private readonly bitCount: number;

  constructor(readonly bytes: Buffer, readonly hashes: number) {
    assert(bytes.length > 0 && bytes.length % 8 === 0 && hashes > 0 && hashes <= 32, 'bloom filter of a bad shape');
    this.bitCount = bytes.length * 8;
  }

  /** An empty filter sized for `distinctHashes` hashes. */
  static sized(distinctHashes: number): BloomFilter {
    return new BloomFilter(Buffer.alloc(bloomBytesFor(distinctHashes)), BLOOM_HASHES);
  }

  add(hi: number, lo: number): void {
    const step = (hi | 1) >>> 0;
    let h = lo >>> 0;
    for (let i = 0; i < this.hashes; i++) {
      const bit = h % this.bitCount;
      this.bytes[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + step) >>> 0;
    }
  }

  /** False only when hash (hi, lo) was never added. */
  mayHold(hi: number, lo: number): boolean {
    const step = (hi | 1) >>> 0;
    let h = lo >>> 0;
    for (let i = 0; i < this.hashes; i++) {
      const bit = h % this.bitCount;
      if ((this.bytes[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      h = (h + step) >>> 0;
    }
    return true;
  }
}
