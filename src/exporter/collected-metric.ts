import type { Registry, RegistryContentType } from 'prom-client';

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
 * What prom-client's `Registry` does with a registered metric: it reads `name` and `type` (and
 * renames a counter in OpenMetrics mode, dropping `_total`), calls `get()` for the values and
 * `reset()` on `resetMetrics()`. Its typings admit only its own four classes, and describe the
 * `type` that `get()` returns as an enum that prom-client does not export, whereas at run time it
 * is the string `'counter'`, `'gauge'`, …; so the registry's run-time contract is declared here.
 */
interface CollectedMetric {
  name: string;
  help: string;
  type: CollectedType;
  aggregator: 'sum';
  get(): Promise<{
    name: string;
    help: string;
    type: CollectedType;
    aggregator: 'sum';
    values: CollectedValue[];
  }>;
  reset(): void;
}

declare module 'prom-client' {
  // The type parameter must repeat the class's own to merge with it; this overload does not use it.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface Registry<BoundRegistryContentType extends RegistryContentType = PrometheusContentType> {
    registerMetric(metric: CollectedMetric): void;
  }
}

/**
 * A metric whose values are read at scrape time from numbers kept elsewhere: counters and
 * histograms that the workers accumulate in Redis (prom-client's own Counter and Histogram only
 * count what happens in this process), and the gauges. prom-client's `Gauge` with a `collect()`
 * that sets the values read would serve for those, and was tried: its per-series `set` made
 * rendering `/metrics` ~13 % slower with no workers and a whole scrape 4-9 % slower at 100+
 * workers in bench:exporter, beyond the 5 % such a change may cost; so they stay here too.
 */
export function registerCollectedMetric<L extends string>(
  registry: Registry<RegistryContentType>,
  options: CollectedMetricOptions<L>,
): void {
  const metric: CollectedMetric = {
    // The registry renames counters in OpenMetrics mode (drops `_total`), so `get` reads it back.
    name: options.name,
    help: options.help,
    type: options.type,
    aggregator: 'sum',
    async get() {
      return {
        name: metric.name,
        help: metric.help,
        type: metric.type,
        aggregator: metric.aggregator,
        values: options.collect(),
      };
    },
    reset() {},
  };
  registry.registerMetric(metric);
}
