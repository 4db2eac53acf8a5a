import type { MetricValue, Registry, RegistryContentType } from 'prom-client';

export type CollectedType = 'gauge' | 'counter' | 'histogram';

/** One sample line: a value with its labels, and for histograms the `_bucket`/`_sum`/`_count` name. */
export interface CollectedValue {
  value: number;
  labels?: Record<string, string | number>;
  metricName?: string;
}

export interface CollectedMetricOptions<L extends string> {
  name: string;
  help: string;
  type: CollectedType;
  /** The label names every value carries (type-checked against `collect`'s labels). */
  labelNames: readonly L[];
  /** Reads the values at scrape time. Returning [] drops the series. */
  collect: () => CollectedValue[];
}

/**
 * A metric whose values are read at scrape time from numbers kept elsewhere — counters and
 * histograms that the workers accumulate in Redis. prom-client's own Counter and Histogram can only
 * count what happens in this process, so these are registered as plain metric objects.
 */
export function registerCollectedMetric<L extends string>(
  registry: Registry<RegistryContentType>,
  options: CollectedMetricOptions<L>,
): void {
  const metric = {
    // The registry renames counters in OpenMetrics mode (drops `_total`), so `get` reads it back.
    name: options.name,
    help: options.help,
    type: options.type,
    aggregator: 'sum' as const,
    async get() {
      return {
        name: metric.name,
        help: metric.help,
        type: metric.type,
        aggregator: metric.aggregator,
        values: options.collect() as MetricValue<string>[],
      };
    },
    reset() {},
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}
