import { driverOf } from '../kinds/registry.js';
import { collectDefaultMetrics, Registry, type RegistryContentType } from 'prom-client';
import { cumulativeBuckets } from '../queue/histogram-fields.js';
import { desiredWorkers } from '../scaling/scaling-decision.js';
import {
  JOB_STATES,
  type HistogramSnapshot,
  workerTotals,
  type QueueSnapshot,
  type RedisMemory,
  type WorkerSnapshot,
} from '../queue/queue-snapshot.js';
import {
  registerCollectedMetric,
  type CollectedType,
  type CollectedValue,
} from './collected-metric.js';
import type { ScrapeSource } from './scrape-source.js';
import type { SizingObjective } from '../scaling/worker-sizing.js';

export interface ExporterMetricsOptions {
  /** Histogram upper bounds in seconds. */
  buckets: readonly number[];
  /**
   * Per-worker series (`WORKER_METRICS=on`), for the workers the sample lists: the sampler's
   * `maxWorkers` (`WORKER_SERIES_LIMIT`) longest-running live workers of each queue.
   */
  perWorker: boolean;
  /** For `qscale_queue_desired_workers`. */
  sizing: SizingObjective;
}

/** The labels that name a queue: its name, key prefix and kind (BullMQ or RQ). */
function queueLabels(q: QueueSnapshot): { queue: string; prefix: string; kind: string } {
  return { queue: q.queue, ...whereLabels(q) };
}

/** The queue's key prefix and kind, written after the series' own labels. */
function whereLabels(q: QueueSnapshot): { prefix: string; kind: string } {
  return { prefix: q.prefix ?? 'bull', kind: q.kind ?? 'bullmq' };
}

const QUEUE_LABELS = ['queue', 'prefix', 'kind'] as const;

/** Appended to the help of the series that differ for queues whose workers lack telemetry. */
const DERIVED =
  ' For a queue whose workers run without qscale telemetry (qscale_queue_telemetry_info{source="derived"}) this is derived from what BullMQ or RQ records by itself, counted from when the sidecar started.';

/** Appended to the help of every per-worker series: what happens beyond the cap. */
const BEYOND_THE_CAP =
  ' Only the WORKER_SERIES_LIMIT longest-running live workers of a queue have this series; the others count in the queue-level qscale_workers, qscale_queue_utilization_ratio and qscale_jobs_processed_total only.';

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
  registerCollectedMetric(registry, {
    name: 'qscale_queue_jobs',
    help: "Jobs in the queue by BullMQ state (RQ: wait = the queue's list, active = started registry, delayed = scheduled, waiting-children = deferred, completed = finished, failed = failed registry).",
    type: 'gauge',
    labelNames: ['queue', 'state', 'prefix', 'kind'] as const,
    collect: () =>
      queues().flatMap((q) =>
        JOB_STATES.map((state) => ({
          labels: { queue: q.queue, state, ...whereLabels(q) },
          value: q.counts[state],
        })),
      ),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_queue_telemetry_info',
    help: 'Where a queue\'s worker numbers come from: source="instrumented" (qscale telemetry in the workers: exact, per attempt) or source="derived" (read from BullMQ\'s events stream and worker list, or RQ\'s registries and worker hashes; final outcomes only, since the sidecar started); workers_known="false" when live workers cannot be counted (CLIENT LIST refused).',
    type: 'gauge',
    labelNames: ['queue', 'prefix', 'kind', 'source', 'workers_known'] as const,
    collect: () =>
      queues().map((q) => ({
        labels: {
          ...queueLabels(q),
          source: q.telemetry ?? 'instrumented',
          workers_known: String(q.derived?.workersKnown ?? true),
        },
        value: 1,
      })),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_job_processing_seconds',
    help: 'Job processing time, start to finish, per attempt, by outcome.' + DERIVED,
    type: 'histogram',
    labelNames: ['queue', 'status', 'prefix', 'kind', 'le'] as const,
    collect: () =>
      queues().flatMap((q) => [
        ...histogramValues(
          'qscale_job_processing_seconds',
          q.processing.completed,
          { queue: q.queue, status: 'completed', ...whereLabels(q) },
          options.buckets,
        ),
        ...histogramValues(
          'qscale_job_processing_seconds',
          q.processing.failed,
          { queue: q.queue, status: 'failed', ...whereLabels(q) },
          options.buckets,
        ),
      ]),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_job_wait_seconds',
    help: 'Time from enqueue (or the end of a delay) to the first start of a job.' + DERIVED,
    type: 'histogram',
    labelNames: [...QUEUE_LABELS, 'le'] as const,
    collect: () =>
      queues().flatMap((q) =>
        histogramValues('qscale_job_wait_seconds', q.wait, queueLabels(q), options.buckets),
      ),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_jobs_processed_total',
    help:
      'Job attempts finished, by outcome (a retried job counts once per attempt; derived: final outcomes only).' +
      DERIVED,
    type: 'counter',
    labelNames: ['queue', 'status', 'prefix', 'kind'] as const,
    collect: () =>
      queues().flatMap((q) => [
        {
          labels: { queue: q.queue, status: 'completed', ...whereLabels(q) },
          value: q.processing.completed.count,
        },
        {
          labels: { queue: q.queue, status: 'failed', ...whereLabels(q) },
          value: q.processing.failed.count,
        },
      ]),
  });
  const queueSeries: [string, string, CollectedType, (q: QueueSnapshot) => number | undefined][] = [
    [
      'qscale_queue_length',
      'Backlog: jobs waiting for a worker (wait + paused + prioritized + delayed jobs already due).',
      'gauge',
      (q) => q.backlog,
    ],
    [
      'qscale_queue_oldest_job_age_seconds',
      'Age of the oldest job in the backlog (0 when the backlog is empty).',
      'gauge',
      (q) => q.oldestJobAgeSeconds,
    ],
    ['qscale_queue_paused', '1 when the queue is paused.', 'gauge', (q) => (q.paused ? 1 : 0)],
    [
      'qscale_jobs_enqueued_total',
      "Jobs added to the queue by any producer (BullMQ's id counter; RQ keeps none: counted by the sidecar from the queue's changes since it started).",
      'counter',
      (q) => q.enqueuedTotal,
    ],
    [
      'qscale_workers',
      'Workers with a live heartbeat (all of them, also those beyond WORKER_SERIES_LIMIT that have no per-worker series). Derived: BullMQ workers connected to the queue (CLIENT LIST), or RQ workers registered for it whose hash has not expired; absent when they cannot be counted.',
      'gauge',
      (q) => (q.derived && !q.derived.workersKnown ? undefined : workerTotals(q).live),
    ],
    [
      'qscale_queue_desired_workers',
      "Workers that keep the p95 wait under TARGET_WAIT_SECONDS: Erlang C on the arrival rate and mean processing time, plus draining the backlog within it, per worker's concurrency, never below the busy workers (the KEDA scaler's workers mode). Derived for workers without telemetry: BullMQ's concurrency is estimated from the most active jobs per worker seen while jobs waited.",
      'gauge',
      // Sized by the mean concurrency of every live worker (meanConcurrency), listed or not.
      (q) => desiredWorkers(q, source.rates(q), options.sizing),
    ],
    [
      'qscale_queue_utilization_ratio',
      'Busy slot-seconds / capacity slot-seconds of all live workers over the utilization window (all of them, also those beyond WORKER_SERIES_LIMIT). Derived: BullMQ active jobs / (workers × estimated concurrency) at the sample; RQ busy seconds from total_working_time over the window.',
      'gauge',
      (q) => (q.derived && !q.derived.workersKnown ? undefined : workerTotals(q).utilization),
    ],
  ];
  for (const [name, help, type, value] of queueSeries) {
    registerCollectedMetric(registry, {
      name,
      help,
      type,
      labelNames: QUEUE_LABELS,
      collect: () =>
        queues().flatMap((q) => {
          const v = value(q);
          return v === undefined ? [] : [{ labels: queueLabels(q), value: v }];
        }),
    });
  }

  const workerSeries: [string, string, CollectedType, (w: WorkerSnapshot) => number | undefined][] =
    [
      ['qscale_worker_concurrency', 'Jobs a worker runs at once.', 'gauge', (w) => w.concurrency],
      [
        'qscale_worker_busy_slots',
        'Slots of a worker busy with a job (at its last heartbeat or job end).',
        'gauge',
        (w) => w.busy,
      ],
      [
        'qscale_worker_utilization_ratio',
        'Busy slot-seconds / (concurrency × window) of a worker over the utilization window.',
        'gauge',
        (w) => w.utilization,
      ],
      [
        'qscale_worker_busy_seconds_total',
        'Busy slot-seconds of a worker since it started.',
        'counter',
        (w) => w.busySeconds,
      ],
      [
        'qscale_worker_cpu_seconds_total',
        'CPU time (user + system) of a worker process since it started (not reported by RQ workers).',
        'counter',
        (w) => w.cpuSeconds,
      ],
    ];
  for (const [name, help, type, value] of workerSeries) {
    registerCollectedMetric(registry, {
      name,
      help: help + BEYOND_THE_CAP,
      type,
      labelNames: ['queue', 'worker', 'prefix', 'kind'] as const,
      collect: () =>
        options.perWorker
          ? queues().flatMap((q) =>
              q.workers.flatMap((w) => {
                const v = value(w);
                return v === undefined
                  ? []
                  : [{ labels: { queue: q.queue, worker: w.id, ...whereLabels(q) }, value: v }];
              }),
            )
          : [],
    });
  }

  registerCollectedMetric(registry, {
    name: 'qscale_worker_jobs_total',
    help: 'Job attempts a worker finished, by outcome.' + BEYOND_THE_CAP,
    type: 'counter',
    labelNames: ['queue', 'worker', 'status', 'prefix', 'kind'] as const,
    collect: () =>
      options.perWorker
        ? queues().flatMap((q) =>
            q.workers.flatMap((w) => [
              {
                labels: { queue: q.queue, worker: w.id, status: 'completed', ...whereLabels(q) },
                value: w.completed,
              },
              {
                labels: { queue: q.queue, worker: w.id, status: 'failed', ...whereLabels(q) },
                value: w.failed,
              },
            ]),
          )
        : [],
  });
  registerCollectedMetric(registry, {
    name: 'qscale_derived_events_missed_total',
    help: "Events trimmed from the events stream of a BullMQ queue whose workers lack qscale telemetry before the sidecar read them (about 4 per finished job): the derived counters undercount by the jobs among them. Counted on Redis >= 7 (XINFO entries-added). Read more often, or raise BullMQ's streams.events.maxLen.",
    type: 'counter',
    labelNames: QUEUE_LABELS,
    collect: () =>
      queues().flatMap((q) =>
        q.derived && driverOf(q.kind).countsMissedEvents
          ? [{ labels: queueLabels(q), value: q.derived.eventsMissed }]
          : [],
      ),
  });
  registerCollectedMetric(registry, {
    name: 'qscale_blob_storage_bytes',
    help: "Bytes of the uploaded files (blobs) qscale's upload API keeps for the queue, as counted in Redis when each upload was confirmed and when each file was deleted (files uploaded before qscale kept this count are not in it). BullMQ queues only; 0 for a queue qscale does not upload to.",
    type: 'gauge',
    labelNames: QUEUE_LABELS,
    collect: () =>
      queues().flatMap((q) =>
        q.blobBytes === undefined ? [] : [{ labels: queueLabels(q), value: q.blobBytes }],
      ),
  });
  const memorySeries: [string, string, (m: RedisMemory) => number][] = [
    [
      'qscale_redis_memory_used_bytes',
      "Redis's used_memory (INFO memory): bytes its allocator holds. On a Redis Cluster one series per master (label node=host:port), else one without labels.",
      (m) => m.usedBytes,
    ],
    [
      'qscale_redis_maxmemory_bytes',
      "Redis's maxmemory setting (INFO memory); 0: no limit. On a Redis Cluster one series per master (label node=host:port), else one without labels.",
      (m) => m.maxBytes,
    ],
  ];
  for (const [name, help, value] of memorySeries) {
    registerCollectedMetric(registry, {
      name,
      help,
      type: 'gauge',
      labelNames: ['node'] as const,
      collect: () =>
        (source.sample?.memory ?? []).map((m) => ({
          ...(m.node !== '' && { labels: { node: m.node } }),
          value: value(m),
        })),
    });
  }
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
