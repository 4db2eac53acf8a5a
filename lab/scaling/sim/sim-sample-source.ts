/**
 * The sidecar's view of a simulated queue: a `SampleSource` that builds each `Sample` as the real
 * `QueueSampler` reads it from Redis (`src/queue/bullmq-sample.ts`, `queue-sampler.ts`): counts by
 * state from the lists, the oldest waiting job, BullMQ's id counter, the workers' records as they
 * last reported them (at most `maxWorkers` listed, the longest-running first; totals over all)
 * and the flushed histograms. Times are on the sidecar's clock; a sample is reused for `ttlMs`.
 */
import type {
  HistogramSnapshot,
  QueueSnapshot,
  Sample,
  WorkerSnapshot,
  WorkerTotals,
} from '../../../src/queue/queue-snapshot.js';
import type { SampleSource } from '../../../src/scaling/scaling-signals.js';
import type { SimCluster } from './sim-cluster.js';
import type { SimPod } from './sim-pod.js';

export interface SimSampleSourceOptions {
  queue: string;
  /** SAMPLE_TTL_MS, on the sidecar's clock. */
  ttlMs: number;
  /** WORKER_SERIES_LIMIT. */
  maxWorkers: number;
}

const copy = (h: HistogramSnapshot): HistogramSnapshot => ({
  count: h.count,
  sum: h.sum,
  buckets: new Map(h.buckets),
});

export class SimSampleSource implements SampleSource {
  private cached: Sample | undefined;

  constructor(
    private readonly cluster: SimCluster,
    private readonly options: SimSampleSourceOptions,
  ) {}

  async sample(options: { maxAgeMs?: number } = {}): Promise<Sample> {
    const now = this.cluster.clockMs(this.cluster.now);
    const maxAge = Math.min(this.options.ttlMs, options.maxAgeMs ?? Infinity);
    if (this.cached && now - this.cached.sampledAt < maxAge) return this.cached;
    this.cached = { sampledAt: now, durationSeconds: 0, queues: [this.snapshot(now)] };
    return this.cached;
  }

  private snapshot(sampledAt: number): QueueSnapshot {
    const cluster = this.cluster;
    const speed = cluster.settings.speed;
    const head = cluster.queue.peek();
    const reporting: SimPod[] = [...cluster.reports.reporting];
    // The by-start set: the longest-running processes first.
    reporting.sort((a, b) => a.containerAt - b.containerAt);
    const totals: WorkerTotals = {
      live: reporting.length,
      busyWorkers: 0,
      busy: 0,
      concurrency: 0,
      utilization: 0,
      completed: cluster.reports.completed,
      failed: 0,
    };
    let utilized = 0;
    for (const pod of reporting) {
      const r = pod.reported!;
      if (r.busy > 0) totals.busyWorkers++;
      totals.busy += r.busy;
      totals.concurrency += pod.concurrency;
      utilized += r.utilization * pod.concurrency;
    }
    totals.utilization = totals.concurrency > 0 ? utilized / totals.concurrency : 0;
    const workers: WorkerSnapshot[] = reporting.slice(0, this.options.maxWorkers).map((pod) => {
      const r = pod.reported!;
      return {
        id: pod.name,
        concurrency: pod.concurrency,
        busy: r.busy,
        busySeconds: r.busySeconds,
        utilization: r.utilization,
        completed: r.completed,
        failed: 0,
        cpuSeconds: cluster.cpuSeconds(pod),
        startedAt: cluster.clockMs(pod.containerAt),
        heartbeatAt: cluster.clockMs(r.heartbeatAt),
        oldestJobStartedAt: Number.isNaN(r.oldestJobStartedAt)
          ? 0
          : cluster.clockMs(r.oldestJobStartedAt),
      };
    });
    const waiting = cluster.queue.length;
    return {
      queue: this.options.queue,
      prefix: 'bull',
      kind: 'bullmq',
      telemetry: 'instrumented',
      sampledAt,
      counts: {
        wait: waiting,
        paused: 0,
        prioritized: 0,
        active: cluster.active,
        delayed: 0,
        'waiting-children': 0,
        completed: cluster.completedTotal,
        failed: 0,
      },
      delayedDue: 0,
      backlog: waiting,
      oldestJobAgeSeconds: head ? Math.max(0, (cluster.now - head.enqueuedAt) / speed) : 0,
      paused: false,
      enqueuedTotal: cluster.enqueuedTotal,
      workers,
      workerTotals: totals,
      processing: {
        completed: copy(cluster.reports.processing),
        failed: { count: 0, sum: 0, buckets: new Map() },
      },
      wait: copy(cluster.reports.wait),
    };
  }
}
