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
  cpuSeconds: number;
  startedAt: number;
  heartbeatAt: number;
  /** When its longest-running current job started (epoch ms), 0 when idle. */
  oldestJobStartedAt: number;
}

/** What a {@link QueueSampler} read of one queue at one moment. */
export interface QueueSnapshot {
  queue: string;
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
  /** Workers whose heartbeat has not expired. */
  workers: WorkerSnapshot[];
  processing: { completed: HistogramSnapshot; failed: HistogramSnapshot };
  wait: HistogramSnapshot;
}

/** One read of every configured queue. */
export interface Sample {
  sampledAt: number;
  /** How long the Redis read took, in seconds. */
  durationSeconds: number;
  queues: QueueSnapshot[];
}
