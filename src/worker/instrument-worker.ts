import { hostname } from 'node:os';
import type { Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { DEFAULT_BUCKETS } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { toWorkerIdCharacters, WORKER_ID_PATTERN } from '../config/worker-id.js';
import { QueueKeys } from '../queue/queue-keys.js';
import type { RedisClient } from '../redis/redis-connection.js';
import { jobOutcome } from './job-outcome.js';
import { WorkerTelemetry } from './worker-telemetry.js';

/** Options of {@link instrumentWorker}; every one has a default. */
export interface InstrumentWorkerOptions {
  /**
   * The worker's name in the metrics (`worker` label): 1–128 letters, digits, `_ . : -`.
   * @defaultValue the worker's `name` option if it is such a name, else `<hostname>-<pid>`
   */
  workerId?: string;
  /** @defaultValue 5 (the exporter's HEARTBEAT_SECONDS must match) */
  heartbeatSeconds?: number;
  /** Window of the utilization ratio. @defaultValue 60 */
  utilizationWindowSeconds?: number;
  /** Histogram upper bounds in seconds; give the exporter the same HISTOGRAM_BUCKETS. */
  buckets?: readonly number[];
  /** Where telemetry problems are logged (a pino logger). @defaultValue warnings on stdout */
  logger?: Logger;
}

/** What {@link instrumentWorker} returns. */
export interface WorkerInstrumentation {
  /** Resolves once the first heartbeat is written (rejects if it could not be). */
  readonly ready: Promise<void>;
  /**
   * Leaves the live set now (the worker's series vanish) and closes the telemetry connection.
   * Called by itself when the worker emits `closed`; idempotent.
   */
  close(): Promise<void>;
}

/** How long closing may wait for Redis to take the worker out of the live set. */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * Adds qscale's worker telemetry to an existing BullMQ worker, without touching its processor:
 * heartbeats with concurrency and busy slots, utilization, processing and wait time histograms and
 * job counters — what `qscale exporter` reads for `qscale_workers`, `qscale_worker_utilization`,
 * `qscale_job_processing_seconds` and `qscale_jobs_processed_total`, and what the KEDA scaler's
 * `workers` mode sizes on. When the worker closes, it leaves the live set at once.
 *
 * ```ts
 * import { instrumentWorker } from 'qscale';
 * const worker = new Worker('emails', processor, { connection });
 * instrumentWorker(worker);
 * ```
 *
 * It follows the worker's `active`, `completed` and `failed` events, on a Redis connection of its
 * own (a duplicate of the worker's). A job that leaves by other means (moved to delayed or
 * waiting-children by its processor) counts as busy until it runs again and ends.
 */
export function instrumentWorker(
  worker: Worker,
  options: InstrumentWorkerOptions = {},
): WorkerInstrumentation {
  const connection = ownConnection(worker);
  connection.on('error', () => undefined); // retried by ioredis; heartbeats log their failures
  const logger = options.logger ?? pino({ level: 'warn', base: { role: 'qscale-telemetry' } });
  const name = worker.opts.name;
  const telemetry = new WorkerTelemetry(
    connection,
    new QueueKeys(worker.opts.prefix ?? 'bull', worker.name),
    logger,
    {
      workerId:
        options.workerId ??
        (name !== undefined && WORKER_ID_PATTERN.test(name)
          ? name
          : `${toWorkerIdCharacters(hostname()).slice(0, 100)}-${process.pid}`),
      concurrency: Math.max(1, worker.concurrency),
      buckets: options.buckets ?? DEFAULT_BUCKETS,
      ...(options.heartbeatSeconds !== undefined && {
        heartbeatSeconds: options.heartbeatSeconds,
      }),
      ...(options.utilizationWindowSeconds !== undefined && {
        utilizationWindowSeconds: options.utilizationWindowSeconds,
      }),
    },
  );

  /** Jobs running on this worker: job id → telemetry token and start time. */
  const running = new Map<string, { token: number; startedAt: number }>();
  const onActive = (job: Job) => {
    if (job.id === undefined || running.has(job.id)) return;
    running.set(job.id, { token: telemetry.jobStarted(), startedAt: Date.now() });
  };
  const onEnded = (job: Job | undefined, status: 'completed' | 'failed') => {
    const entry = job?.id === undefined ? undefined : running.get(job.id);
    if (!job || !entry) return; // not started here (a stalled job failed by the checker)
    running.delete(job.id!);
    telemetry.jobEnded(jobOutcome(job, status, entry.startedAt, Date.now()), entry.token);
  };
  const onCompleted = (job: Job) => onEnded(job, 'completed');
  const onFailed = (job: Job | undefined) => onEnded(job, 'failed');
  worker.on('active', onActive);
  worker.on('completed', onCompleted);
  worker.on('failed', onFailed);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      worker.off('active', onActive);
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
      // With Redis unreachable the leave would wait for a reconnection: it gets CLOSE_TIMEOUT_MS,
      // then the connection is dropped, so it never keeps the app's process alive.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        telemetry.close(),
        new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      connection.disconnect();
    })());
  worker.once('closed', () => void close());

  const ready = telemetry.start();
  ready.catch((error: unknown) => logger.warn({ err: error }, 'qscale telemetry did not start'));
  return { ready, close };
}

/** A connection like the worker's, for the telemetry alone. */
function ownConnection(worker: Worker): RedisClient {
  const given = worker.opts.connection as unknown;
  // A client instance (the app's ioredis may be another copy than ours: no instanceof).
  if (typeof (given as { duplicate?: unknown }).duplicate === 'function') {
    return (given as RedisClient).duplicate();
  }
  return new Redis({ ...(given as object), maxRetriesPerRequest: null });
}
