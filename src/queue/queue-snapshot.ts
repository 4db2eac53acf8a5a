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

/** What a {@link QueueSampler} read of one queue at one moment. */
export interface QueueSnapshot {
  queue: string;
  /** Epoch ms at which Redis answered. */
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
}
