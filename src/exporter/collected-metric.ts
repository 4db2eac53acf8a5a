import type { Registry, RegistryContentType } from 'prom-client';

/**
 * The types on the collected path. Gauges are not among them: a gauge is a prom-client `Gauge`
 * whose `collect()` sets the values read at scrape time (see `registerReadGauge`).
 */
export type CollectedType = 'counter' | 'histogram';

/** One sample line: a value with its labels, and for histograms the `_bucket`/`_sum`/`_count` name. */
export interface CollectedValue<L extends string = string> {
  value: number;
  labels?: Partial<Record<L, string | number>>;
  metricName?: string;
}

export interface CollectedMetricOptions<L extends string> {
  name: string;
  help: string;
  type: CollectedType;
  /** The label names every value carries (histograms: `le` included). */
  labelNames: readonly L[];
  /** Reads the values at scrape time. Returning [] drops the series. */
  read: () => CollectedValue<L>[];
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
 * A counter or histogram whose values are read at scrape time from numbers kept elsewhere — what
 * the workers accumulate in Redis. Unlike a gauge, whose value prom-client's `Gauge` can be set
 * to, prom-client's `Counter` and `Histogram` only count what happens in this process (`inc`,
 * `observe`): there is no way to hand them a total or a bucket count read from Redis. So these are
 * registered as plain metric objects that the registry formats like its own.
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
        values: options.read(),
      };
    },
    reset() {},
  };
  registry.registerMetric(metric);
}
