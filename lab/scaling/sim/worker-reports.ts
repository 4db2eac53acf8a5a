/**
 * What the workers of a simulated run have told the sidecar, as the real `WorkerTelemetry` tells
 * it through Redis: each worker's record (busy slots, its longest-running job, cumulative counters)
 * as of its last heartbeat or flush of job ends, and the queue's processing and wait histograms,
 * which only grow when a worker flushes. Values are on the pods' clock (trace seconds ÷ speed).
 */
import { DEFAULT_BUCKETS } from '../../../src/config/config.js';
import { bucketFor } from '../../../src/queue/histogram-fields.js';
import type { HistogramSnapshot } from '../../../src/queue/queue-snapshot.js';
import type { SimJob } from './sim-job.js';
import type { SimPod } from './sim-pod.js';

export class WorkerReports {
  /** Processing times of the attempts that completed, as flushed. */
  readonly processing: HistogramSnapshot = { count: 0, sum: 0, buckets: new Map() };
  /** Waits of first attempts, as flushed. */
  readonly wait: HistogramSnapshot = { count: 0, sum: 0, buckets: new Map() };
  /** Attempts completed, over every worker that ever reported (the totals' `completed`). */
  completed = 0;
  /** The workers with a live record, in the order they first reported. */
  readonly reporting = new Set<SimPod>();

  constructor(private readonly settings: { speed: number; utilizationWindowSeconds: number }) {}

  /** Adds the pod's busy slot-seconds up to `now`. */
  accrue(pod: SimPod, now: number): void {
    pod.busySeconds += (pod.running.length * (now - pod.busyAccruedAt)) / this.settings.speed;
    pod.busyAccruedAt = now;
  }

  /** A job ended on the pod: its times wait in the worker until the next flush. */
  jobEnded(pod: SimPod, job: SimJob, _now: number): void {
    pod.pending.processing.push(job.runSeconds / this.settings.speed);
    if (job.attempts === 1) pod.pending.wait.push(job.firstWait / this.settings.speed);
  }

  /** A heartbeat: the worker's record now, its utilization over the window. */
  report(pod: SimPod, now: number): void {
    this.accrue(pod, now);
    const window = this.settings.utilizationWindowSeconds;
    pod.heartbeats.push({ at: now, busySeconds: pod.busySeconds });
    while (pod.heartbeats.length > 2 && pod.heartbeats[1]!.at <= now - window) {
      pod.heartbeats.shift();
    }
    const from = pod.heartbeats[0]!;
    const span = (now - from.at) / this.settings.speed;
    const utilization =
      span > 0
        ? Math.min(1, (pod.busySeconds - from.busySeconds) / (pod.concurrency * span))
        : pod.running.length > 0
          ? 1
          : 0;
    this.write(pod, now, utilization);
  }

  /** Job ends written in one go, with the worker's record (its utilization as last computed). */
  flush(pod: SimPod, now: number): void {
    this.writePending(pod);
    this.accrue(pod, now);
    this.write(pod, now, pod.reported?.utilization ?? 0);
  }

  /** The worker stops: its last job ends are written and its record leaves the live set. */
  leave(pod: SimPod, now: number): void {
    this.flush(pod, now);
    pod.reported = undefined;
    this.reporting.delete(pod);
  }

  private write(pod: SimPod, now: number, utilization: number): void {
    let oldest = NaN;
    for (const job of pod.running) if (!(job.startedAt >= oldest)) oldest = job.startedAt;
    this.completed += pod.completed - (pod.reported?.completed ?? 0);
    this.reporting.add(pod);
    pod.reported = {
      busy: pod.running.length,
      oldestJobStartedAt: oldest,
      busySeconds: pod.busySeconds,
      utilization,
      completed: pod.completed,
      heartbeatAt: now,
    };
  }

  private writePending(pod: SimPod): void {
    for (const seconds of pod.pending.processing) observe(this.processing, seconds);
    for (const seconds of pod.pending.wait) observe(this.wait, Math.max(0, seconds));
    pod.pending.processing.length = 0;
    pod.pending.wait.length = 0;
  }
}

function observe(histogram: HistogramSnapshot, seconds: number): void {
  histogram.count++;
  histogram.sum += seconds;
  const bound = bucketFor(seconds, DEFAULT_BUCKETS);
  histogram.buckets.set(bound, (histogram.buckets.get(bound) ?? 0) + 1);
}
