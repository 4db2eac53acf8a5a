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

/**
 * Where the processing time came from: this queue's jobs, its stored history, the trigger's
 * `expectedJobSeconds`, the objective (nothing known), or the longest-running job (it has already
 * run longer than the prior said).
 */
export type ServiceTimeSource = 'measured' | 'history' | 'expected' | 'assumed' | 'running';

/** A sizing, with what it was computed from (shown on the status page and in logs). */
export interface WorkerSizing {
  /**
   * The workers to run: never fewer than it takes to hold the jobs running now (busy slots ÷
   * concurrency), at least 1 while there is work.
   */
  workers: number;
  /** Worker slots the objective needs, before rounding to whole workers and the floor. */
  slots: number;
  /** Which need set `slots`, or the floor that set `workers` (`busy`: the running jobs'). */
  boundBy: 'objective' | 'backlog' | 'busy' | 'work' | 'idle';
  arrivalPerSecond: number;
  /** The mean processing time sized with (see {@link serviceTime}). */
  serviceSeconds: number;
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

/** What the sizing knows of a queue's job time before its current jobs say more: a prior. */
export interface ServiceTimePrior {
  seconds: number;
  from: ServiceTimeSource;
}

/**
 * What to assume of a job's time before the jobs in the processing span say more, best first: the
 * mean of every job this queue ever recorded; its stored history (a sidecar restarted since, or
 * derived telemetry, which counts from the sidecar's start); the trigger's `expectedJobSeconds`;
 * and, when nothing at all is known, the wait objective itself — a job as long as the wait you
 * accept, so a first burst on a new queue asks for a slot per waiting job (up to the maximum) at
 * once instead of one worker, and the first jobs to finish correct it within seconds.
 */
export function priorServiceTime(
  rates: QueueRates,
  objective: Pick<SizingObjective, 'expectedJobSeconds' | 'targetWaitSeconds'>,
): ServiceTimePrior {
  const allTime = rates.allTimeProcessingSeconds ?? rates.meanProcessingSeconds;
  if (allTime !== undefined && Number.isFinite(allTime) && allTime >= 0) {
    return { seconds: allTime, from: 'measured' };
  }
  if (positive(rates.prior?.processingSeconds)) {
    return { seconds: rates.prior.processingSeconds, from: 'history' };
  }
  if (positive(objective.expectedJobSeconds)) {
    return { seconds: objective.expectedJobSeconds, from: 'expected' };
  }
  return { seconds: objective.targetWaitSeconds, from: 'assumed' };
}

/** The prior weighs as this many finished jobs. */
export const PRIOR_WEIGHT = 3;

/**
 * The mean processing time to size with. From the jobs of the processing span (the rate window,
 * stretched back until it holds 20 finished jobs): their busy slot-seconds ÷ the jobs finished —
 * Little's law over a steady stream, and, while long jobs are still running, the estimate that
 * counts them (the mean of the finished ones alone is biased low then: the short jobs finish
 * first) — kept between the finished jobs' mean and the longest any job has run so far (so jobs of
 * one length are taken at their length at once); then blended with the prior
 * ({@link priorServiceTime}), which weighs as {@link PRIOR_WEIGHT} jobs. With no job in the span:
 * the prior — the all-time mean as it is, any other never less than the longest-running job has
 * already run.
 */
export function serviceTime(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  objective: Pick<SizingObjective, 'expectedJobSeconds' | 'targetWaitSeconds'>,
): { seconds: number; from: ServiceTimeSource } {
  const running = longestRunningSeconds(snapshot);
  const prior = priorServiceTime(rates, objective);
  const exposure = rates.exposure;
  if (exposure && exposure.finished > 0) {
    const mean = exposure.processingSeconds / exposure.finished;
    const counted = exposure.busySlotSeconds / exposure.finished;
    const observed = Math.max(mean, Math.min(counted, Math.max(mean, running)));
    const seconds =
      (observed * exposure.finished + PRIOR_WEIGHT * prior.seconds) /
      (exposure.finished + PRIOR_WEIGHT);
    return { seconds, from: 'measured' };
  }
  // Jobs of this queue have finished before (the window is idle now): their mean stands. Otherwise
  // a job that has run longer than the prior says shows the prior is short.
  if (prior.from === 'measured' || prior.seconds >= running) return prior;
  return { seconds: running, from: 'running' };
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
 * the larger of the two, divided by the concurrency and rounded up; never fewer than it takes to
 * hold the jobs running now (busy slots ÷ concurrency: running jobs keep their slots, while idle
 * workers can go), and at least 1 while there is any work. The processing time is
 * {@link serviceTime}'s: measured, else what is known before (history, `expectedJobSeconds`, the
 * objective), never below how long the running jobs have run.
 */
export function sizeWorkers(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  objective: SizingObjective,
): WorkerSizing {
  const busySlots = workerTotals(snapshot).busy;
  const work = snapshot.backlog + snapshot.counts.active;
  const concurrency = workerConcurrency(snapshot, rates, objective.concurrency);
  const arrivalPerSecond = Math.max(0, rates.arrivalPerSecond ?? 0);
  const service = serviceTime(snapshot, rates, objective);
  const S = service.seconds;
  const W = objective.targetWaitSeconds;
  const drain = Math.min(W, objective.drainSeconds ?? Infinity);
  const load = arrivalPerSecond * S;
  const steady = load > 0 && S > 0 ? serversForWait(load, S, W, WAIT_PERCENTILE) : 0;
  const backlog = snapshot.backlog > 0 ? load + (snapshot.backlog * S) / drain : 0;
  const slots = Math.max(steady, backlog);
  let boundBy: WorkerSizing['boundBy'] =
    slots === 0 ? 'idle' : backlog > steady ? 'backlog' : 'objective';
  let workers = ceil(slots / concurrency);
  // The running jobs keep their slots, packed onto as few workers as hold them: a scale-in takes
  // the idle workers first (pod-deletion-cost), and a stopping worker finishes its jobs.
  const holding = ceil(busySlots / concurrency);
  if (holding > workers) {
    workers = holding;
    boundBy = 'busy';
  }
  if (work > 0 && workers < 1) {
    workers = 1;
    boundBy = 'work';
  }
  const formula =
    `${num(arrivalPerSecond)} jobs/s × ${num(S)} s (${service.from}) = ${num(load)} busy slots; ` +
    `p95 wait ≤ ${num(W)} s needs ${steady}` +
    (snapshot.backlog > 0
      ? `, backlog ${snapshot.backlog} drained in ${num(drain)} s needs ${num(backlog)}`
      : '');
  const floor =
    boundBy === 'busy'
      ? ` → ${holding} workers hold the ${busySlots} running jobs`
      : boundBy === 'work'
        ? ' → 1 worker while there is work'
        : '';
  const sizing: WorkerSizing = {
    workers,
    slots,
    boundBy,
    arrivalPerSecond,
    serviceSeconds: S,
    serviceFrom: service.from,
    concurrency,
    load,
    reason: `${formula}; ÷ ${num(concurrency)} slots per worker → ${workers} workers${floor}`,
  };
  if (S > 0 && load > 0) {
    sizing.expectedP95WaitSeconds = waitPercentile(
      Math.floor(workers * concurrency),
      load,
      S,
      WAIT_PERCENTILE,
    );
  }
  return sizing;
}
