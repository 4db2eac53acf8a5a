import { describe, expect, it } from 'vitest';
import { histogramQuantile, quantileUpperBound } from '../src/queue/histogram-fields.js';
import type { HistogramSnapshot } from '../src/queue/queue-snapshot.js';

/** A histogram of per-bucket counts (not cumulative), as the workers store it. */
function histogram(buckets: [number, number][]): HistogramSnapshot {
  const count = buckets.reduce((sum, [, n]) => sum + n, 0);
  return { count, sum: 0, buckets: new Map(buckets) };
}

describe('histogramQuantile (the status page\'s "p95 processing")', () => {
  it("should interpolate within the bucket as Prometheus's histogram_quantile does", () => {
    // The audit's case: jobs of 21 ms on average, a few slower ones in the 0.1-0.25 s bucket.
    // The bucket's upper edge, 250 ms, is what the page used to show.
    const jobs = histogram([
      [0.05, 90],
      [0.1, 0],
      [0.25, 6],
      [0.5, 0],
      [Infinity, 0],
    ]);
    expect(quantileUpperBound(jobs, 0.95)).toBe(0.25);
    // rank 0.95 × 96 = 91.2: 1.2 of the 6 observations into (0.1, 0.25].
    expect(histogramQuantile(jobs, 0.95)).toBeCloseTo(0.1 + 0.15 * (1.2 / 6), 12);
    expect(histogramQuantile(jobs, 0.5)).toBeCloseTo(0.05 * (48 / 90), 12);
  });

  it('should interpolate from 0 in the first bucket and skip empty buckets', () => {
    expect(histogramQuantile(histogram([[0.05, 20]]), 0.95)).toBeCloseTo(0.0475, 12);
    const gap = histogram([
      [0.1, 10],
      [0.25, 0],
      [1, 10],
    ]);
    expect(histogramQuantile(gap, 0.5)).toBeCloseTo(0.1, 12);
    expect(histogramQuantile(gap, 0.75)).toBeCloseTo(0.25 + 0.75 * 0.5, 12);
  });

  it('should answer the largest finite bound for the +Inf bucket, and nothing when empty', () => {
    const slow = histogram([
      [1, 1],
      [60, 1],
      [Infinity, 18],
    ]);
    expect(histogramQuantile(slow, 0.95)).toBe(60);
    expect(histogramQuantile(histogram([]), 0.95)).toBeUndefined();
  });
});
