import { collectDefaultMetrics, Registry, type RegistryContentType } from 'prom-client';
import { cumulativeBuckets } from '../queue/histogram-fields.js';
import { JOB_STATES, type HistogramSnapshot, type QueueSnapshot } from '../queue/queue-snapshot.js';
import { registerCollectedMetric, type CollectedValue } from './collected-metric.js';
import type { ScrapeSource } from './scrape-source.js';

export interface ExporterMetricsOptions {
  /** Histogram upper bounds in seconds. */
  buckets: readonly number[];
  /** Per-worker series (`WORKER_METRICS=on`). */
  perWorker: boolean;
}

function histogramValues(
  name: string,
  histogram: HistogramSnapshot,
  labels: Record<string, string>,
  bounds: readonly number[],
): CollectedValue[] {
  const values: CollectedValue[] = cumulativeBuckets(histogram, bounds).map(({ le, count }) => ({
    metricName: `${name}_bucket`,
    labels: { ...labels, le: le === Infinity ? '+Inf' : le },
    value: count,
  }));
  values.push({ metricName: `${name}_sum`, labels, value: histogram.sum });
  values.push({ metricName: `${name}_count`, labels, value: histogram.count });
  return values;
}

/**
 * Registers every qscale metric in `registry`, reading `source` at scrape time. Label values come
 * from the configured queue names and from worker ids that workers validated at start-up (and the
 * sampler checks again).
 */
export function registerExporterMetrics(
  registry: Registry<RegistryContentType>,
  source: ScrapeSource,
  options: ExporterMetricsOptions,
): void {
  const queues = (): QueueSnapshot[] => source.sample?.queues ?? [];
  const perQueue = (value: (q: QueueSnapshot) => number) => () =>
    queues().map((q) => ({ labels: { queue: q.queue }, value: value(q) }));
  const perWorker = (value: (w: QueueSnapshot['workers'][number]) => number) => () =>
    options.perWorker
      ? queues().flatMap((q) =>
          q.workers.map((w) => ({ labels: { queue: q.queue, worker: w.id }, value: value(w) })),
        )
      : [];

  registerCollectedMetric(registry, {
    name: 'qscale_queue_jobs',
    help: 'Jobs in the queue by BullMQ state.',
    type: 'gauge',
    labelNames: ['queue', 'state'] as const,
    collect: () =>
      queues().flatMap((q) =>
        JOB_STATES.map((state) => ({ labels: { queue: q.queue, state }, value: q.counts[state] })),
      ),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_queue_length',
    help: 'Backlog: jobs waiting for a worker (wait + paused + prioritized + delayed jobs already due).',
    type: 'gauge',
    labelNames: ['queue'] as const,
    collect: perQueue((q) => q.backlog),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_queue_oldest_job_age_seconds',
    help: 'Age of the oldest job in the backlog (0 when the backlog is empty).',
    type: 'gauge',
    labelNames: ['queue'] as const,
    collect: perQueue((q) => q.oldestJobAgeSeconds),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_queue_paused',
    help: '1 when the queue is paused.',
    type: 'gauge',
    labelNames: ['queue'] as const,
    collect: perQueue((q) => (q.paused ? 1 : 0)),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_job_processing_seconds',
    help: 'Job processing time, start to finish, per attempt, by outcome.',
    type: 'histogram',
    labelNames: ['queue', 'status', 'le'] as const,
    collect: () =>
      queues().flatMap((q) => [
        ...histogramValues(
          'qscale_job_processing_seconds',
          q.processing.completed,
          { queue: q.queue, status: 'completed' },
          options.buckets,
        ),
        ...histogramValues(
          'qscale_job_processing_seconds',
          q.processing.failed,
          { queue: q.queue, status: 'failed' },
          options.buckets,
        ),
      ]),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_job_wait_seconds',
    help: 'Time from enqueue (or the end of a delay) to the first start of a job.',
    type: 'histogram',
    labelNames: ['queue', 'le'] as const,
    collect: () =>
      queues().flatMap((q) =>
        histogramValues('qscale_job_wait_seconds', q.wait, { queue: q.queue }, options.buckets),
      ),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_jobs_processed_total',
    help: 'Job attempts finished, by outcome (a retried job counts once per attempt).',
    type: 'counter',
    labelNames: ['queue', 'status'] as const,
    collect: () =>
      queues().flatMap((q) => [
        { labels: { queue: q.queue, status: 'completed' }, value: q.processing.completed.count },
        { labels: { queue: q.queue, status: 'failed' }, value: q.processing.failed.count },
      ]),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_jobs_enqueued_total',
    help: "Jobs added to the queue by any producer (BullMQ's id counter).",
    type: 'counter',
    labelNames: ['queue'] as const,
    collect: perQueue((q) => q.enqueuedTotal),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_workers',
    help: 'Workers with a live heartbeat.',
    type: 'gauge',
    labelNames: ['queue'] as const,
    collect: perQueue((q) => q.workers.length),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_queue_utilization_ratio',
    help: 'Busy slot-seconds / capacity slot-seconds of all live workers over the utilization window.',
    type: 'gauge',
    labelNames: ['queue'] as const,
    collect: perQueue((q) => {
      const capacity = q.workers.reduce((sum, w) => sum + w.concurrency, 0);
      if (capacity === 0) return 0;
      return q.workers.reduce((sum, w) => sum + w.utilization * w.concurrency, 0) / capacity;
    }),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_worker_concurrency',
    help: 'Jobs a worker runs at once.',
    type: 'gauge',
    labelNames: ['queue', 'worker'] as const,
    collect: perWorker((w) => w.concurrency),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_worker_busy_slots',
    help: 'Slots of a worker busy with a job (at its last heartbeat or job end).',
    type: 'gauge',
    labelNames: ['queue', 'worker'] as const,
    collect: perWorker((w) => w.busy),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_worker_utilization_ratio',
    help: 'Busy slot-seconds / (concurrency × window) of a worker over the utilization window.',
    type: 'gauge',
    labelNames: ['queue', 'worker'] as const,
    collect: perWorker((w) => w.utilization),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_worker_busy_seconds_total',
    help: 'Busy slot-seconds of a worker since it started.',
    type: 'counter',
    labelNames: ['queue', 'worker'] as const,
    collect: perWorker((w) => w.busySeconds),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_worker_cpu_seconds_total',
    help: 'CPU time (user + system) of a worker process since it started.',
    type: 'counter',
    labelNames: ['queue', 'worker'] as const,
    collect: perWorker((w) => w.cpuSeconds),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_worker_jobs_total',
    help: 'Job attempts a worker finished, by outcome.',
    type: 'counter',
    labelNames: ['queue', 'worker', 'status'] as const,
    collect: () =>
      options.perWorker
        ? queues().flatMap((q) =>
            q.workers.flatMap((w) => [
              { labels: { queue: q.queue, worker: w.id, status: 'completed' }, value: w.completed },
              { labels: { queue: q.queue, worker: w.id, status: 'failed' }, value: w.failed },
            ]),
          )
        : [],
  });
  registerCollectedMetric(registry, {
    name: 'qscale_redis_up',
    help: '1 when the last scrape read Redis within REDIS_TIMEOUT_MS, else 0.',
    type: 'gauge',
    labelNames: [] as const,
    collect: () => [{ value: source.sample ? 1 : 0 }],
  });
  registerCollectedMetric(registry, {
    name: 'qscale_scrape_duration_seconds',
    help: 'How long the Redis read of the latest sample took.',
    type: 'gauge',
    labelNames: [] as const,
    collect: () => (source.sample ? [{ value: source.sample.durationSeconds }] : []),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_scrape_errors_total',
    help: 'Scrapes that could not read Redis in time.',
    type: 'counter',
    labelNames: [] as const,
    collect: () => [{ value: source.errorsTotal }],
  });
}

/** A registry with every qscale metric and Node's process metrics, in one exposition format. */
export function createExporterRegistry<T extends RegistryContentType>(
  source: ScrapeSource,
  options: ExporterMetricsOptions,
  contentType: T,
): Registry<T> {
  const registry = new Registry<T>();
  registry.setContentType(contentType);
  registerExporterMetrics(registry, source, options);
  collectDefaultMetrics({ register: registry });
  // Gauges that prom-client names `_total`, which `promtool check metrics` rejects; the same
  // numbers are in nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name);
  }
  return registry;
}
