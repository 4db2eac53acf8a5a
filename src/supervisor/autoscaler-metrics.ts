import type { Registry, RegistryContentType } from 'prom-client';
import { registerCollectedMetric } from '../exporter/collected-metric.js';

/** What the autoscaler's metrics read at scrape time. */
export interface AutoscalerCounts {
  workers: number;
  desired: number;
  decisions: { up: number; down: number };
  restarts: number;
}

/** The local autoscaler's gauges and counters for `queue`, read from `read()` at scrape time. */
export function registerAutoscalerMetrics(
  registry: Registry<RegistryContentType>,
  queue: string,
  read: () => AutoscalerCounts,
): void {
  registerCollectedMetric(registry, {
    name: 'qscale_autoscaler_workers',
    help: 'Worker processes the local autoscaler runs (those finishing jobs after a scale-down included).',
    type: 'gauge',
    labelNames: ['queue'] as const,
    collect: () => [{ value: read().workers, labels: { queue } }],
  });
  registerCollectedMetric(registry, {
    name: 'qscale_autoscaler_desired_workers',
    help: 'Worker processes the local autoscaler wants, after stabilization.',
    type: 'gauge',
    labelNames: ['queue'] as const,
    collect: () => [{ value: read().desired, labels: { queue } }],
  });
  registerCollectedMetric(registry, {
    name: 'qscale_autoscaler_decisions_total',
    help: 'Rounds in which the local autoscaler started (up) or stopped (down) workers.',
    type: 'counter',
    labelNames: ['queue', 'direction'] as const,
    collect: () => [
      { value: read().decisions.up, labels: { queue, direction: 'up' } },
      { value: read().decisions.down, labels: { queue, direction: 'down' } },
    ],
  });
  registerCollectedMetric(registry, {
    name: 'qscale_autoscaler_restarts_total',
    help: 'Worker processes that exited without being asked and were started again.',
    type: 'counter',
    labelNames: ['queue'] as const,
    collect: () => [{ value: read().restarts, labels: { queue } }],
  });
}
