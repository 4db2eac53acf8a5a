import type { HistogramSnapshot } from './queue-snapshot.js';

/** The hash field that counts observations of one bucket (upper bound in seconds). */
export function bucketField(upperBound: number): string {
  return upperBound === Infinity ? 'le:+Inf' : `le:${upperBound}`;
}

/** The smallest bound that holds `seconds`, or Infinity. `bounds` is ascending. */
export function bucketFor(seconds: number, bounds: readonly number[]): number {
  for (const bound of bounds) if (seconds <= bound) return bound;
  return Infinity;
}

/** Parses an HGETALL reply (flat field/value list) of a histogram hash. */
export function parseHistogram(flat: readonly string[]): HistogramSnapshot {
  const histogram: HistogramSnapshot = { count: 0, sum: 0, buckets: new Map() };
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i]!;
    const value = Number(flat[i + 1]);
    if (!Number.isFinite(value)) continue;
    if (field === 'count') histogram.count = value;
    else if (field === 'sum') histogram.sum = value;
    else if (field.startsWith('le:')) {
      const bound = field === 'le:+Inf' ? Infinity : Number(field.slice(3));
      if (!Number.isNaN(bound)) histogram.buckets.set(bound, value);
    }
  }
  return histogram;
}

/**
 * Cumulative counts for the bounds the exporter reports: each bound counts every stored bucket at
 * or below it. Workers and exporter should share HISTOGRAM_BUCKETS; if they differ, a stored bucket
 * is counted under the first reported bound at or above it.
 */
export function cumulativeBuckets(
  histogram: HistogramSnapshot,
  bounds: readonly number[],
): { le: number; count: number }[] {
  const stored = [...histogram.buckets.entries()].sort((a, b) => a[0] - b[0]);
  const out: { le: number; count: number }[] = [];
  let i = 0;
  let running = 0;
  for (const le of [...bounds, Infinity]) {
    while (i < stored.length && stored[i]![0] <= le) running += stored[i++]![1];
    out.push({ le, count: running });
  }
  return out;
}

/**
 * The upper bound of the bucket that holds the q-quantile (like Prometheus's histogram_quantile,
 * without interpolation): a safe over-estimate. Undefined when the histogram is empty; the largest
 * finite bound when the quantile falls in the +Inf bucket.
 */
export function quantileUpperBound(histogram: HistogramSnapshot, q: number): number | undefined {
  if (histogram.count <= 0) return undefined;
  const stored = [...histogram.buckets.entries()].sort((a, b) => a[0] - b[0]);
  const rank = q * histogram.count;
  let running = 0;
  let largestFinite: number | undefined;
  for (const [bound, count] of stored) {
    if (bound !== Infinity) largestFinite = bound;
    running += count;
    if (running >= rank) return bound === Infinity ? largestFinite : bound;
  }
  return largestFinite;
}

/**
 * The q-quantile estimated as Prometheus's `histogram_quantile` does: found in the bucket that
 * holds its rank, then interpolated linearly within that bucket (from the bound below, or 0 for
 * the first bucket), assuming the bucket's observations spread evenly. Undefined when the
 * histogram is empty; the largest finite bound when the quantile falls in the +Inf bucket.
 */
export function histogramQuantile(histogram: HistogramSnapshot, q: number): number | undefined {
  if (histogram.count <= 0) return undefined;
  const stored = [...histogram.buckets.entries()].sort((a, b) => a[0] - b[0]);
  const rank = q * histogram.count;
  let below = 0;
  let lower = 0;
  let largestFinite: number | undefined;
  for (const [bound, count] of stored) {
    if (below + count >= rank && count > 0) {
      if (bound === Infinity) return largestFinite;
      return lower + (bound - lower) * ((rank - below) / count);
    }
    below += count;
    if (bound !== Infinity) {
      lower = bound;
      largestFinite = bound;
    }
  }
  return largestFinite;
}

/** Merges histograms with the same bounds (e.g. completed and failed attempts). */
export function mergeHistograms(...histograms: HistogramSnapshot[]): HistogramSnapshot {
  const merged: HistogramSnapshot = { count: 0, sum: 0, buckets: new Map() };
  for (const histogram of histograms) {
    merged.count += histogram.count;
    merged.sum += histogram.sum;
    for (const [bound, count] of histogram.buckets) {
      merged.buckets.set(bound, (merged.buckets.get(bound) ?? 0) + count);
    }
  }
  return merged;
}
