import type { Job } from 'bullmq';

/** What a job reported when it ended. */
export interface JobOutcome {
  status: 'completed' | 'failed';
  processingSeconds: number;
  /** Enqueue → start; absent for retries, whose enqueue time is the first attempt's. */
  waitSeconds?: number;
}

/**
 * The outcome of a job that ran from `startedAt` to `endedAt` (epoch ms); its wait time (ready →
 * start) on the first attempt only, since a retry's enqueue time is the first attempt's.
 */
export function jobOutcome(
  job: Job,
  status: JobOutcome['status'],
  startedAt: number,
  endedAt: number,
): JobOutcome {
  const readyAt = job.timestamp + (job.opts.delay ?? 0);
  return {
    status,
    processingSeconds: (endedAt - startedAt) / 1000,
    ...(job.attemptsStarted <= 1 && {
      waitSeconds: ((job.processedOn ?? startedAt) - readyAt) / 1000,
    }),
  };
}
