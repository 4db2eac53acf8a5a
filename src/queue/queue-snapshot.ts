/** Job counts of one queue, by BullMQ state. */
export interface JobCounts {
  wait: number;
  paused: number;
  prioritized: number;
  active: number;
  delayed: number;
  'waiting-children': number;
  completed: number;
  failed: number;
}

export const JOB_STATES = [
  'wait',
  'paused',
  'prioritized',
  'active',
  'delayed',
  'waiting-children',
  'completed',
  'failed',
] as const satisfies readonly (keyof JobCounts)[];

import type { QueueKind } from '../kinds/queue-kind.js';

/** A cumulative histogram as workers keep it in Redis. */
export interface HistogramSnapshot {
  count: number;
  /** Seconds. */
  sum: number;
  /** Observations per bucket upper bound (not cumulative); `Infinity` holds the rest. */
  buckets: Map<number, number>;
}

/** What a worker's last heartbeat said. */
export interface WorkerSnapshot {
  id: string;
  concurrency: number;
  /** Slots busy at the last heartbeat or job end. */
  busy: number;
  /** Cumulative busy slot-seconds since the worker started. */
  busySeconds: number;
  /** Busy slot-seconds / (concurrency × window) over the worker's last utilization window. */
  utilization: number;
  completed: number;
  failed: number;
  /** Undefined when the worker does not report it (RQ workers). */
  cpuSeconds?: number;
  startedAt: number;
  heartbeatAt: number;
  /** When its longest-running current job started (epoch ms), 0 when idle. */
  oldestJobStartedAt: number;
}

/**
 * Sums over every live worker of a queue. The sampler reads them from totals the workers keep in
 * Redis, so they cost the same to read whatever the number of workers, and they count every live
 * worker, also those beyond the sampler's `maxWorkers` that are not in {@link QueueSnapshot.workers}.
 */
export interface WorkerTotals {
  /** Workers with a live heartbeat. */
  live: number;
  /** Live workers with at least one busy slot. */
  busyWorkers: number;
  /** Busy slots of all live workers (at their last heartbeat or job end). */
  busy: number;
  /** Slots of all live workers: the sum of their concurrency. */
  concurrency: number;
  /** Busy slot-seconds / capacity slot-seconds of all live workers over the utilization window. */
  utilization: number;
  /**
   * Job attempts finished, cumulative since the totals were first written, over every worker that
   * ever reported, those that stopped or were killed included: they never decrease.
   */
  completed: number;
  failed: number;
}

/** The totals of a list of workers (for snapshots that carry no {@link WorkerTotals}). */
function sumWorkers(workers: readonly WorkerSnapshot[]): WorkerTotals {
  const totals: WorkerTotals = {
    live: workers.length,
    busyWorkers: 0,
    busy: 0,
    concurrency: 0,
    utilization: 0,
    completed: 0,
    failed: 0,
  };
  let utilizedSlots = 0;
  for (const w of workers) {
    if (w.busy > 0) totals.busyWorkers++;
    totals.busy += w.busy;
    totals.concurrency += w.concurrency;
    utilizedSlots += w.utilization * w.concurrency;
    totals.completed += w.completed;
    totals.failed += w.failed;
  }
  totals.utilization = totals.concurrency > 0 ? utilizedSlots / totals.concurrency : 0;
  return totals;
}

/**
 * The totals over every live worker of a snapshot: what the sampler read, else (a snapshot built
 * by hand) the sum of its `workers`. Read queue-level worker numbers through this, never from
 * `workers`, which holds at most the sampler's `maxWorkers` of them.
 */
export function workerTotals(
  snapshot: Pick<QueueSnapshot, 'workers' | 'workerTotals'>,
): WorkerTotals {
  return snapshot.workerTotals ?? sumWorkers(snapshot.workers);
}

/**
 * Where a queue's worker numbers come from:
 * - `instrumented`: qscale telemetry in the workers (qscale's own workers or `instrumentWorker`):
 *   processing and wait histograms per attempt, heartbeats, busy slots, utilization — exact;
 * - `derived`: read-only from what BullMQ or RQ records by itself, for workers without qscale code
 *   (see {@link DerivedTelemetry}).
 */
export type TelemetrySource = 'instrumented' | 'derived';

/** How a queue's derived numbers were obtained, for the metric help, the page and `doctor`. */
export interface DerivedTelemetry {
  /**
   * - BullMQ: jobs processed and their processing/wait time from the `completed`/`failed` events
   *   of the queue's events stream (final outcomes: a retried attempt is not counted) and the
   *   finished jobs' `processedOn`/`finishedOn`/`timestamp`; live workers from BullMQ's worker
   *   registry (CLIENT LIST); busy slots from the active list; concurrency estimated.
   * - RQ: jobs processed and their times from the finished/failed registries and the jobs'
   *   `enqueued_at`/`started_at`/`ended_at`; live workers, busy state and utilization from each
   *   worker's hash (`state`, `current_job`, `total_working_time`).
   */
  from: string;
  /** False when live workers could not be counted (CLIENT LIST refused): worker numbers unknown. */
  workersKnown: boolean;
  /** BullMQ: names of the connected workers (from CLIENT LIST), at most 100. */
  workerNames: string[];
  /**
   * Jobs one worker runs at once as far as it can be told: RQ workers run 1; for BullMQ the most
   * active jobs per connected worker seen while jobs waited, over the last 10 minutes (a lower
   * bound of the real concurrency until the workers have been saturated once).
   */
  concurrencyEstimated: boolean;
  /**
   * BullMQ: events trimmed from the events stream before the sidecar read them, since it started
   * (BullMQ keeps about 10 000 events; about 4 per finished job): the derived counters undercount.
   * Read the queue more often (or raise BullMQ's `streams.events.maxLen`). Redis ≥ 7 only. RQ: 0.
   */
  eventsMissed: number;
}

/** What a {@link QueueSampler} read of one queue at one moment. */
export interface QueueSnapshot {
  queue: string;
  /** The queue's key prefix (`rq` for RQ queues). @defaultValue 'bull' when absent */
  prefix?: string;
  /** @defaultValue 'bullmq' when absent */
  kind?: QueueKind;
  /** @defaultValue 'instrumented' when absent */
  telemetry?: TelemetrySource;
  /** Set when `telemetry` is `derived`. */
  derived?: DerivedTelemetry;
  /** Epoch ms at which the sample was taken. */
  sampledAt: number;
  counts: JobCounts;
  /** Delayed jobs whose time has come (they are waiting for a worker to promote them). */
  delayedDue: number;
  /** wait + paused + prioritized + delayed jobs already due: work no worker has started. */
  backlog: number;
  /** Age of the oldest job in the backlog, 0 when it is empty. */
  oldestJobAgeSeconds: number;
  /** Whether the queue is paused (BullMQ's `meta.paused`). */
  paused: boolean;
  /** Jobs ever added (BullMQ's id counter, which every add increments). */
  enqueuedTotal: number;
  /**
   * Workers whose heartbeat has not expired, the longest-running first, at most the sampler's
   * `maxWorkers` of them: their per-worker records. Queue-level numbers come from
   * {@link workerTotals}, which counts all of them.
   */
  workers: WorkerSnapshot[];
  /**
   * Sums over every live worker, listed or not. Always set by the QueueSampler; when absent (a
   * snapshot built by hand), {@link workerTotals} sums `workers`.
   */
  workerTotals?: WorkerTotals;
  processing: { completed: HistogramSnapshot; failed: HistogramSnapshot };
  wait: HistogramSnapshot;
  /**
   * BullMQ queues: bytes of the blobs qscale's upload API stored for the queue's files (0 when it
   * stored none); files confirmed before qscale kept this total are not counted. Absent for RQ.
   */
  blobBytes?: number;
}

/** What `INFO memory` of one Redis node said. */
export interface RedisMemory {
  /** The master's `host:port` on a Redis Cluster; '' on a single Redis (or Sentinel's master). */
  node: string;
  /** `used_memory`: bytes the allocator holds for data and overhead. */
  usedBytes: number;
  /** `maxmemory`; 0: no limit. */
  maxBytes: number;
}

/** One read of every configured queue. */
export interface Sample {
  sampledAt: number;
  /** How long the Redis read took, in seconds. */
  durationSeconds: number;
  queues: QueueSnapshot[];
  /**
   * Memory of the Redis node, or of every master of a Cluster, when the sampler was asked to read it
   * (`readMemory`) and INFO answered.
   */
  memory?: RedisMemory[];
}
