/**
 * A quantile from cumulative histogram buckets, as Prometheus's `histogram_quantile` computes it:
 * find the bucket the rank falls in and interpolate linearly inside it. Used for the admin page's
 * p99 over each second, from the difference of two readings of a histogram.
 */

/** One bucket: observations ≤ `le` (cumulative). The last one is `+Inf`. */
export interface Bucket {
  le: number;
  count: number;
}

/** The `q` quantile (0..1) of the observations counted by `buckets`, or null when there are none. */
export function bucketQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = buckets.length === 0 ? 0 : buckets[buckets.length - 1]!.count;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      // Above the highest finite bound: the highest finite bound is the best answer there is.
      if (le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket <= 0 ? le : lowerBound + (le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

/** `later − earlier`, bucket by bucket (two readings of the same histogram). */
export function bucketDelta(later: readonly Bucket[], earlier: readonly Bucket[] | null): Bucket[] {
  if (earlier === null || earlier.length !== later.length) return [...later];
  return later.map((bucket, i) => ({ le: bucket.le, count: Math.max(0, bucket.count - earlier[i]!.count) }));
}
