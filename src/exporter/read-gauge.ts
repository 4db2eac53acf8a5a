import { Gauge, type Registry, type RegistryContentType } from 'prom-client';

/** The labels of one series, type-checked against the gauge's label names. */
export type GaugeLabels<L extends string> = Partial<Record<L, string | number>>;

/** Sets one series of a gauge: its labels (undefined: the series without labels) and value. */
export type SetGauge<L extends string> = (
  labels: GaugeLabels<L> | undefined,
  value: number,
) => void;

export interface ReadGaugeOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /**
   * Reads the series at scrape time, calling `set` once for each; a series it no longer sets is
   * dropped. (A callback rather than a returned list: a scrape may set tens of thousands of
   * per-worker series, and `Gauge.set` is where they go.)
   */
  read: (set: SetGauge<L>) => void;
}

/**
 * Registers a prom-client `Gauge` whose values are read at scrape time: its `collect()` drops the
 * series of the previous scrape and sets those `read` sets, so a queue or worker that is gone
 * leaves no stale series behind.
 */
export function registerReadGauge<L extends string>(
  registry: Registry<RegistryContentType>,
  options: ReadGaugeOptions<L>,
): Gauge<L> {
  const { read } = options;
  const unlabelled = options.labelNames.length === 0;
  const gauge = new Gauge<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames,
    registers: [],
    collect() {
      this.reset();
      // reset() leaves a gauge without labels at 0; it is set again below when read has a value.
      if (unlabelled) this.remove();
      read((labels, value) => {
        if (labels) this.set(labels, value);
        else this.set(value);
      });
    },
  });
  registry.registerMetric(gauge);
  return gauge;
}
