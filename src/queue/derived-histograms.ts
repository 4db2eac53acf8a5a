import { bucketFor } from './histogram-fields.js';
import type { HistogramSnapshot } from './queue-snapshot.js';

/** The cumulative processing and wait histograms derived for one queue. */
export interface DerivedHistograms {
  processing: { completed: HistogramSnapshot; failed: HistogramSnapshot };
  wait: HistogramSnapshot;
}

/** An empty cumulative histogram. */
export function emptyHistogram(): HistogramSnapshot {
  return { count: 0, sum: 0, buckets: new Map() };
}

/** Adds one observation (seconds) to a cumulative histogram with the given bucket bounds. */
export function observe(
  histogram: HistogramSnapshot,
  seconds: number,
  bounds: readonly number[],
): void {
  if (!Number.isFinite(seconds)) return;
  const value = Math.max(0, seconds);
  const bound = bucketFor(value, bounds);
  histogram.count += 1;
  histogram.sum += value;
  histogram.buckets.set(bound, (histogram.buckets.get(bound) ?? 0) + 1);
}

function copyHistogram(histogram: HistogramSnapshot): HistogramSnapshot {
  return { count: histogram.count, sum: histogram.sum, buckets: new Map(histogram.buckets) };
}

export function copyHistograms(h: DerivedHistograms): DerivedHistograms {
  return {
    processing: {
      completed: copyHistogram(h.processing.completed),
      failed: copyHistogram(h.processing.failed),
    },
    wait: copyHistogram(h.wait),
  };
}
