import { workerTotals, type QueueSnapshot } from '../queue/queue-snapshot.js';
import type { QueueRates } from './queue-rates.js';
import { sizeWorkers, type SizingObjective } from './worker-sizing.js';

export { longestRunningSeconds } from './worker-sizing.js';

/**
 * What a scaling metric measures:
 * - `backlog`: jobs no worker has started (+ the running ones with `includeActive`). With an
 *   AverageValue target T, replicas = ceil(value / T).
 * - `latency`: age in seconds of the oldest job in the backlog; use it with `metricType: Value`.
 * - `workers`: the fewest workers that keep the wait objective (Erlang C on the measured arrival
 *   rate and processing time, plus draining the backlog); target 1 per replica.
 */
export type ScalingMode = 'backlog' | 'latency' | 'workers';

export const SCALING_MODES: readonly ScalingMode[] = ['backlog', 'latency', 'workers'];

/** The target per replica a mode uses when none is given. */
export const DEFAULT_TARGET: Record<ScalingMode, number> = { backlog: 10, latency: 10, workers: 1 };

/** `workers` mode's options: the wait objective and what the sizing may assume. */
export type DesiredWorkersOptions = SizingObjective;

export interface ScalingOptions extends SizingObjective {
  mode: ScalingMode;
  /** `backlog` mode: count the jobs being processed too. */
  includeActive: boolean;
}

/** Workers with at least one busy slot. */
export function busyWorkers(snapshot: QueueSnapshot): number {
  return workerTotals(snapshot).busyWorkers;
}

/** The mean concurrency of the live workers (all of them, listed or not); 1 without any. */
export function meanConcurrency(snapshot: QueueSnapshot): number {
  const totals = workerTotals(snapshot);
  return totals.live > 0 && totals.concurrency > 0 ? totals.concurrency / totals.live : 1;
}

/** The workers that keep the wait objective: {@link sizeWorkers}' count. */
export function desiredWorkers(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  options: DesiredWorkersOptions,
): number {
  return sizeWorkers(snapshot, rates, options).workers;
}

/** The metric value of a mode (≥ 0, finite). */
export function scalingValue(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  options: ScalingOptions,
): number {
  switch (options.mode) {
    case 'backlog':
      return snapshot.backlog + (options.includeActive ? snapshot.counts.active : 0);
    case 'latency':
      return snapshot.oldestJobAgeSeconds;
    case 'workers':
      return desiredWorkers(snapshot, rates, options);
  }
}

/** Whether the scale target should run at all (KEDA's 0 ↔ 1 decision): any work above the threshold. */
export function isActive(snapshot: QueueSnapshot, activationValue: number): boolean {
  return snapshot.backlog + snapshot.counts.active > activationValue;
}

/** `qscale-<queue>-<mode>` reduced to what KEDA accepts in metric names: `[a-z0-9-]`. */
export function metricName(queue: string, mode: ScalingMode): string {
  return `qscale-${queue}-${mode}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/-$/, '');
}
