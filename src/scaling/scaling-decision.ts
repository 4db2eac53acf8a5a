import { workerTotals, type QueueSnapshot } from '../queue/queue-snapshot.js';
import type { QueueRates } from './queue-rates.js';

/**
 * What a scaling metric measures:
 * - `backlog`: jobs no worker has started (+ the running ones with `includeActive`). With an
 *   AverageValue target T, replicas = ceil(value / T).
 * - `latency`: age in seconds of the oldest job in the backlog; use it with `metricType: Value`.
 * - `workers`: the workers needed (Little's law plus draining the backlog); target 1 per replica.
 */
export type ScalingMode = 'backlog' | 'latency' | 'workers';

export const SCALING_MODES: readonly ScalingMode[] = ['backlog', 'latency', 'workers'];

/** The target per replica a mode uses when none is given. */
export const DEFAULT_TARGET: Record<ScalingMode, number> = { backlog: 10, latency: 10, workers: 1 };

export interface DesiredWorkersOptions {
  /** Time the current backlog should take to drain, in seconds. */
  drainSeconds: number;
  /** Jobs one worker runs at once; default: the live workers' mean, else 1. */
  concurrency?: number;
}

export interface ScalingOptions extends DesiredWorkersOptions {
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

function concurrencyOf(snapshot: QueueSnapshot, given?: number): number {
  if (given !== undefined && given > 0) return given;
  return meanConcurrency(snapshot);
}

/**
 * How long the longest-running current job has run, in seconds (0 when none runs): until a first
 * job finishes, a lower bound of the processing time.
 */
export function longestRunningSeconds(snapshot: QueueSnapshot): number {
  let oldest = Infinity;
  for (const worker of snapshot.workers) {
    if (worker.oldestJobStartedAt > 0) oldest = Math.min(oldest, worker.oldestJobStartedAt);
  }
  return Number.isFinite(oldest) ? Math.max(0, (snapshot.sampledAt - oldest) / 1000) : 0;
}

/**
 * Workers needed to keep up: slots = arrival rate × mean processing time (the steady load, by
 * Little's law) + backlog × mean processing time / drainSeconds (draining what is queued), divided
 * by the per-worker concurrency and rounded up. Never below the workers busy right now, and at
 * least 1 while there is any work. Before any job of the queue ever finished (a new queue), the
 * processing time is taken as how long the longest current job has run so far: a lower bound that
 * grows while the first jobs run, so a first burst of long jobs scales out before one of them
 * finishes (with nothing running yet it asks for the busy workers, or 1 when work is waiting).
 */
export function desiredWorkers(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  options: DesiredWorkersOptions,
): number {
  const work = snapshot.backlog + snapshot.counts.active;
  const floor = Math.max(busyWorkers(snapshot), work > 0 ? 1 : 0);
  const measured = rates.meanProcessingSeconds;
  const service =
    measured !== undefined && Number.isFinite(measured)
      ? measured
      : longestRunningSeconds(snapshot);
  if (!(service > 0)) return floor;
  const steady = (rates.arrivalPerSecond ?? 0) * service;
  const drain = (snapshot.backlog * service) / options.drainSeconds;
  const slots = steady + drain;
  // Round away float noise before ceil: 2.0000000001 slots need 2 workers, not 3.
  const workers = Math.ceil(
    Number((slots / concurrencyOf(snapshot, options.concurrency)).toFixed(9)),
  );
  return Math.max(floor, workers);
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
