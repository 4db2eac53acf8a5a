/** What one simulated run measured: the real lab's figures (`RunResult`) and a few more. */
import type { RunResult } from '../report.js';
import type { SimCluster } from './sim-cluster.js';
import type { SimJob } from './sim-job.js';

export interface SimResult extends RunResult {
  /** The job-time distribution, as a label. */
  jobTimes: string;
  /** Wall-clock time the simulation took, ms. */
  wallMs: number;
  /** Jobs no worker had started when the window ended (waiting, or still uploading). */
  neverStarted: number;
}

/** The p-th value of ascending `sorted` as the real lab takes it. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/**
 * The figures of a run that ended at `end` (trace seconds). Every job is counted from the
 * cluster's own places (finished, in the queue, on a pod, still uploading): a job in none of them
 * is lost.
 */
export function measure(
  cluster: SimCluster,
  jobs: readonly SimJob[],
  end: number,
): Omit<SimResult, 'trace' | 'policy' | 'jobTimes' | 'wallMs' | 'timeline'> {
  const waits: number[] = [];
  const runs: number[] = [];
  let firstStart = Infinity;
  let firstEnqueued = Infinity;
  let lastFinish = 0;
  let uploading = 0;
  for (const job of jobs) {
    if (Number.isNaN(job.enqueuedAt)) {
      uploading++;
      continue;
    }
    firstEnqueued = Math.min(firstEnqueued, job.enqueuedAt);
    if (Number.isNaN(job.startedAt)) continue;
    waits.push(job.startedAt - job.enqueuedAt);
    firstStart = Math.min(firstStart, job.startedAt);
    if (!Number.isNaN(job.finishedAt)) {
      runs.push(job.runSeconds);
      lastFinish = Math.max(lastFinish, job.finishedAt);
    }
  }
  waits.sort((a, b) => a - b);
  runs.sort((a, b) => a - b);
  let running = 0;
  for (const pod of cluster.pods) running += pod.running.length;
  const waiting = cluster.queue.length;
  const unfinished = waiting + running + uploading;
  const completed = cluster.completedTotal;
  return {
    files: jobs.length,
    uploaded: jobs.length - uploading,
    completed,
    failed: 0,
    unfinished,
    lost: jobs.length - completed - unfinished,
    firstStartSeconds: Number.isFinite(firstStart) ? firstStart - firstEnqueued : null,
    waitP50: percentile(waits, 0.5),
    waitP95: percentile(waits, 0.95),
    waitMax: waits[waits.length - 1] ?? null,
    drainSeconds: unfinished === 0 && completed > 0 ? lastFinish : null,
    workerSeconds: cluster.podSeconds(end),
    replicaChanges: cluster.changes,
    busyTerminated: cluster.busyTerminated,
    busyTerminatedWhileIdleKept: cluster.busyTerminatedWhileIdleKept,
    runP50: percentile(runs, 0.5),
    killed: cluster.pods.filter((p) => p.killed).length,
    interrupted: cluster.interrupted,
    replicasAtEnd: cluster.replicas,
    neverStarted: waiting + uploading,
  };
}
