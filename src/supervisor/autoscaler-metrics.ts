import type { Registry, RegistryContentType } from 'prom-client';
import { registerCollectedMetric } from '../exporter/collected-metric.js';
import { registerReadGauge } from '../exporter/read-gauge.js';

/** What the autoscaler's metrics read at scrape time. */
export interface AutoscalerCounts {
  workers: number;
  desired: number;
  decisions: { up: number; down: number };
  restarts: number;
}

/**
 * The local autoscaler's gauges and counters for `queue`, read from `read()` at scrape time. The
 * gauges are prom-client Gauges. The counters report totals the autoscaler keeps for its status as
 * well, read into each exposition format's registry, so they are on the collected path: a
 * prom-client Counter only reports its own `inc` calls.
 */
export function registerAutoscalerMetrics(
  registry: Registry<RegistryContentType>,
  queue: string,
  read: () => AutoscalerCounts,
): void {
  registerReadGauge(registry, {
    name: 'qscale_autoscaler_workers',
    help: 'Worker processes the local autoscaler runs (those finishing jobs after a scale-down included).',
    labelNames: ['queue'] as const,
    read: (set) => set({ queue }, read().workers),
  });
  registerReadGauge(registry, {
    name: 'qscale_autoscaler_desired_workers',
    help: 'Worker processes the local autoscaler wants, after stabilization.',
    labelNames: ['queue'] as const,
    read: (set) => set({ queue }, read().desired),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_autoscaler_decisions_total',
    help: 'Rounds in which the local autoscaler started (up) or stopped (down) workers.',
    type: 'counter',
    labelNames: ['queue', 'direction'] as const,
    read: () => [
      { value: read().decisions.up, labels: { queue, direction: 'up' } },
      { value: read().decisions.down, labels: { queue, direction: 'down' } },
    ],
  });
  registerCollectedMetric(registry, {
    name: 'qscale_autoscaler_restarts_total',
    help: 'Worker processes that exited without being asked and were started again.',
    type: 'counter',
    labelNames: ['queue'] as const,
    read: () => [{ value: read().restarts, labels: { queue } }],
  });
}
