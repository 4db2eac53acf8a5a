import { workerTotals, type QueueSnapshot } from '../queue/queue-snapshot.js';
import { serversForWait, waitPercentile } from './erlang-c.js';
import type { QueueRates } from './queue-rates.js';

/** The wait objective is a percentile of the time jobs wait before they start: p95. */
export const WAIT_PERCENTILE = 0.95;

/** What the sizing aims at and what it may assume: the trigger's metadata, or the settings. */
export interface SizingObjective {
  /** The p95 time a job may wait before it starts, in seconds. */
  targetWaitSeconds: number;
  /**
   * The most time the current backlog may take to drain, in seconds.
   * @defaultValue targetWaitSeconds (a shorter value only makes the backlog drain faster)
   */
  drainSeconds?: number;
  /** Mean job time to assume until the queue has a measured one (its own jobs or its history). */
  expectedJobSeconds?: number;
  /** Jobs one worker runs at once. @defaultValue the live workers' mean, else the history's, else 1 */
  concurrency?: number;
}

/** Where the processing time came from, best first. */
export type ServiceTimeSource = 'measured' | 'history' | 'expected' | 'running' | 'unknown';

/** A sizing, with what it was computed from (shown on the status page and in logs). */
export interface WorkerSizing {
  /** The workers to run: never fewer than the busy ones, at least 1 while there is work. */
  workers: number;
  /** Worker slots the objective needs, before rounding to whole workers and the floor. */
  slots: number;
  /** Which need set `slots`, or the floor that set `workers`. */
  boundBy: 'objective' | 'backlog' | 'busy' | 'work' | 'idle';
  arrivalPerSecond: number;
  serviceSeconds?: number;
  serviceFrom: ServiceTimeSource;
  concurrency: number;
  /** Offered load: arrival rate × processing time, in busy slots. */
  load: number;
  /** The p95 wait M/M/c expects of steady arrivals at `workers` (Infinity when at or over capacity). */
  expectedP95WaitSeconds?: number;
  reason: string;
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

const positive = (value: number | undefined): value is number =>
  value !== undefined && Number.isFinite(value) && value > 0;

/**
 * The mean processing time to size with. Measured (jobs finished in the rate window, else every
 * job ever recorded) when there is one. Before a first job of the queue finished: the stored
 * history's, else the trigger's `expectedJobSeconds` — but never less than the longest-running
 * job has already run, which alone stands in when nothing else is known.
 */
export function serviceTime(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  objective: Pick<SizingObjective, 'expectedJobSeconds'>,
): { seconds?: number; from: ServiceTimeSource } {
  const measured = rates.meanProcessingSeconds;
  if (measured !== undefined && Number.isFinite(measured) && measured >= 0) {
    return { seconds: measured, from: 'measured' };
  }
  const running = longestRunningSeconds(snapshot);
  const history = rates.prior?.processingSeconds;
  const known = positive(history)
    ? { seconds: history, from: 'history' as const }
    : positive(objective.expectedJobSeconds)
      ? { seconds: objective.expectedJobSeconds, from: 'expected' as const }
      : undefined;
  if (known && known.seconds >= running) return known;
  if (running > 0) return { seconds: running, from: 'running' };
  return { from: 'unknown' };
}

/** Jobs one worker runs at once: given, else the live workers' mean, else the history's, else 1. */
export function workerConcurrency(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  given?: number,
): number {
  if (positive(given)) return given;
  const totals = workerTotals(snapshot);
  if (totals.live > 0 && totals.concurrency > 0) return totals.concurrency / totals.live;
  const history = rates.prior?.concurrency;
  return positive(history) ? history : 1;
}

/** ceil, with float noise rounded away first: 2.0000000001 is 2, not 3. */
const ceil = (value: number) => Math.ceil(Number(value.toFixed(9)));
/** `12.3456` → `12.35`. */
const num = (value: number) => String(Number(value.toFixed(2)));

/**
 * The fewest workers that keep the wait objective, from the measured arrival rate and processing
 * time, as an M/M/c queue whose servers are worker slots (workers × concurrency):
 *
 * - steady arrivals: the fewest slots c with P(wait > targetWaitSeconds) ≤ 5 % (Erlang C), which is
 *   always more than the offered load a = rate × processing time, so utilization stays below 100 %
 *   while work arrives;
 * - the backlog already waiting: a + backlog × processing time / drain time (the capacity beyond
 *   the arrivals that drains it within the objective, or `drainSeconds` when shorter);
 *
 * the larger of the two, divided by the concurrency and rounded up; never fewer than the workers
 * busy right now, and at least 1 while there is any work. With no processing time known at all
 * (nothing ever finished, no history, no `expectedJobSeconds`, nothing running) it asks for the
 * floor: 1 worker while work waits, whose first job then gives a lower bound.
 */
export function sizeWorkers(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  objective: SizingObjective,
): WorkerSizing {
  const busy = workerTotals(snapshot).busyWorkers;
  const work = snapshot.backlog + snapshot.counts.active;
  const concurrency = workerConcurrency(snapshot, rates, objective.concurrency);
  const arrivalPerSecond = Math.max(0, rates.arrivalPerSecond ?? 0);
  const service = serviceTime(snapshot, rates, objective);
  const drain = Math.min(objective.targetWaitSeconds, objective.drainSeconds ?? Infinity);
  let slots = 0;
  let load = 0;
  let boundBy: WorkerSizing['boundBy'] = 'idle';
  let formula = `processing time unknown (no job finished, none running)`;
  if (service.seconds !== undefined) {
    const S = service.seconds;
    load = arrivalPerSecond * S;
    const steady =
      load > 0 && S > 0 ? serversForWait(load, S, objective.targetWaitSeconds, WAIT_PERCENTILE) : 0;
    const backlog = snapshot.backlog > 0 ? load + (snapshot.backlog * S) / drain : 0;
    slots = Math.max(steady, backlog);
    boundBy = slots === 0 ? 'idle' : backlog > steady ? 'backlog' : 'objective';
    formula =
      `${num(arrivalPerSecond)} jobs/s × ${num(S)} s (${service.from}) = ${num(load)} busy slots; ` +
      `p95 wait ≤ ${num(objective.targetWaitSeconds)} s needs ${steady}` +
      (snapshot.backlog > 0
        ? `, backlog ${snapshot.backlog} drained in ${num(drain)} s needs ${num(backlog)}`
        : '');
  }
  let workers = ceil(slots / concurrency);
  if (busy > workers) {
    workers = busy;
    boundBy = 'busy';
  }
  if (work > 0 && workers < 1) {
    workers = 1;
    boundBy = 'work';
  }
  const floor =
    boundBy === 'busy'
      ? ` → ${busy} busy workers kept`
      : boundBy === 'work'
        ? ' → 1 worker while there is work'
        : '';
  const sizing: WorkerSizing = {
    workers,
    slots,
    boundBy,
    arrivalPerSecond,
    serviceFrom: service.from,
    concurrency,
    load,
    reason: `${formula}; ÷ ${num(concurrency)} slots per worker → ${workers} workers${floor}`,
  };
  if (service.seconds !== undefined) sizing.serviceSeconds = service.seconds;
  if (service.seconds !== undefined && service.seconds > 0 && load > 0) {
    sizing.expectedP95WaitSeconds = waitPercentile(
      Math.floor(workers * concurrency),
      load,
      service.seconds,
      WAIT_PERCENTILE,
    );
  }
  return sizing;
}
