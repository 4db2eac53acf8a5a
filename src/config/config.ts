import { resolve } from 'node:path';
import type { z } from 'zod';
import type { QueueAddress, QueuePattern } from '../kinds/queue-kind.js';
import type { SETTINGS } from './settings.js';

/** Processing and wait time histogram buckets, in seconds: 50 ms to 30 min. */
export const DEFAULT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Every setting as its declaration parsed it, by variable name (settings.ts). */
export type ParsedSettings = z.output<
  z.ZodObject<{ [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['schema'] }>
>;

/** METRICS_AUTH (`bearer:<token>` or `basic:<user>:<password>`, checked by its declaration). */
function metricsAuth(
  value: string | undefined,
):
  | { kind: 'bearer'; token: string }
  | { kind: 'basic'; user: string; password: string }
  | undefined {
  if (!value) return undefined;
  const [kind, ...rest] = value.split(':');
  return kind === 'bearer'
    ? { kind, token: rest.join(':') }
    : { kind: 'basic', user: rest[0]!, password: rest.slice(1).join(':') };
}

/** What `loadConfig` works out from several settings together (and has checked). */
export interface DerivedSettings {
  /** WORKER_ID, else `<hostname>-<pid>`. */
  workerId: string;
  /** QUEUES' (else QUEUE_NAME's) queues named one by one: kind, key prefix and name. */
  queues: QueueAddress[];
  /** QUEUES' patterns (`bullmq:<prefix>/*`, `rq:*`, `*`): queues found by discovery. */
  queuePatterns: QueuePattern[];
}

/**
 * The settings grouped by the part that uses them. What each means, its default and its range are
 * declared once, in settings.ts; this only says where each goes, and {@link Config}'s type follows
 * from it. An optional field is absent when its variable is unset (e.g. `http.port` without PORT:
 * the preferred port, else any free one, is taken).
 */
export function configOf(e: ParsedSettings, derived: DerivedSettings) {
  const auth = metricsAuth(e.METRICS_AUTH);
  return {
    redis: {
      ...(e.REDIS_URL !== undefined && { url: e.REDIS_URL }),
      ...(e.REDIS_SENTINELS !== undefined && { sentinels: e.REDIS_SENTINELS }),
      sentinelName: e.REDIS_SENTINEL_NAME,
      ...(e.REDIS_SENTINEL_PASSWORD !== undefined && {
        sentinelPassword: e.REDIS_SENTINEL_PASSWORD,
      }),
      ...(e.REDIS_CLUSTER_NODES !== undefined && { clusterNodes: e.REDIS_CLUSTER_NODES }),
      timeoutMs: e.REDIS_TIMEOUT_MS,
      minReplicasAck: e.REDIS_MIN_REPLICAS_ACK,
      ackTimeoutMs: e.REDIS_ACK_TIMEOUT_MS,
      dataDir: resolve(e.REDIS_DATA_DIR),
    },
    queue: { name: e.QUEUE_NAME, prefix: e.QUEUE_PREFIX },
    http: {
      host: e.HOST,
      ...(e.PORT !== undefined && { port: e.PORT }),
      uploadDir: resolve(e.UPLOAD_DIR),
      maxUploadBytes: e.MAX_UPLOAD_BYTES,
      maxFilesPerRequest: e.MAX_FILES_PER_REQUEST,
      ...(e.API_TOKEN !== undefined && { apiToken: e.API_TOKEN }),
      maxQueueBacklog: e.MAX_QUEUE_BACKLOG,
      idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
      bodyTimeoutSeconds: e.BODY_TIMEOUT_SECONDS,
      requestTimeoutSeconds: e.REQUEST_TIMEOUT_SECONDS,
      sweep: { intervalSeconds: e.SWEEP_INTERVAL_SECONDS, graceSeconds: e.SWEEP_GRACE_SECONDS },
      corsOrigins: (e.CORS_ORIGINS ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    },
    worker: {
      id: derived.workerId,
      concurrency: e.WORKER_CONCURRENCY,
      attempts: e.JOB_ATTEMPTS,
      backoffMs: e.JOB_BACKOFF_MS,
      lockMs: e.JOB_LOCK_MS,
      stalledIntervalMs: e.STALLED_INTERVAL_MS,
      keepCompleted: e.KEEP_COMPLETED_JOBS,
      keepFailed: e.KEEP_FAILED_JOBS,
      keepCompletedSeconds: e.KEEP_COMPLETED_SECONDS,
      keepFailedSeconds: e.KEEP_FAILED_SECONDS,
      shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT_SECONDS,
    },
    retention: {
      fileSeconds: e.FILE_RETENTION_SECONDS,
      maxFiles: e.MAX_FILES,
      intervalSeconds: e.RETENTION_INTERVAL_SECONDS,
    },
    metrics: {
      queues: derived.queues,
      queuePatterns: derived.queuePatterns,
      ...(e.METRICS_PORT !== undefined && { port: e.METRICS_PORT }),
      ...(auth && { auth }),
      ...(e.ACTION_TOKEN !== undefined && { actionToken: e.ACTION_TOKEN }),
      history: e.HISTORY === 'on',
      perWorker: e.WORKER_METRICS === 'on',
      workerSeriesLimit: e.WORKER_SERIES_LIMIT,
      heartbeatSeconds: e.HEARTBEAT_SECONDS,
      utilizationWindowSeconds: e.UTILIZATION_WINDOW_SECONDS,
      sampleTtlMs: e.SAMPLE_TTL_MS,
      discoveryIntervalSeconds: e.DISCOVERY_INTERVAL_SECONDS,
      maxDiscoveredQueues: e.MAX_DISCOVERED_QUEUES,
      buckets: e.HISTOGRAM_BUCKETS ?? DEFAULT_BUCKETS,
    },
    scaler: {
      ...(e.KEDA_PORT !== undefined && { port: e.KEDA_PORT }),
      ...(e.KEDA_TLS_CERT !== undefined &&
        e.KEDA_TLS_KEY !== undefined && {
          tls: {
            cert: resolve(e.KEDA_TLS_CERT),
            key: resolve(e.KEDA_TLS_KEY),
            ...(e.KEDA_TLS_CA !== undefined && { ca: resolve(e.KEDA_TLS_CA) }),
          },
        }),
      /** The wait objective of `workers` mode, and of every KEDA trigger that states none. */
      sizing: {
        targetWaitSeconds: e.TARGET_WAIT_SECONDS,
        ...(e.DRAIN_SECONDS !== undefined && { drainSeconds: e.DRAIN_SECONDS }),
        ...(e.EXPECTED_JOB_SECONDS !== undefined && { expectedJobSeconds: e.EXPECTED_JOB_SECONDS }),
      },
      rateWindowSeconds: e.RATE_WINDOW_SECONDS,
    },
    kubernetes: {
      podDeletionCost: e.POD_DELETION_COST === 'on',
      podDeletionCostIntervalSeconds: e.POD_DELETION_COST_INTERVAL_SECONDS,
      ...(e.POD_NAMESPACE !== undefined && { namespace: e.POD_NAMESPACE }),
    },
    autoscale: {
      enabled: e.AUTOSCALE === 'on',
      minWorkers: e.MIN_WORKERS,
      maxWorkers: e.MAX_WORKERS,
      mode: e.AUTOSCALE_MODE,
      ...(e.AUTOSCALE_TARGET !== undefined && { target: e.AUTOSCALE_TARGET }),
      intervalSeconds: e.AUTOSCALE_INTERVAL_SECONDS,
      stabilizationSeconds: e.AUTOSCALE_STABILIZATION_SECONDS,
    },
    chunking: { size: e.CHUNK_SIZE, overlap: e.CHUNK_OVERLAP },
    extraction: {
      timeoutSeconds: e.EXTRACT_TIMEOUT_SECONDS,
      maxMemoryMb: e.EXTRACT_MAX_MEMORY_MB,
      maxCharacters: e.EXTRACT_MAX_CHARACTERS,
      docxMaxUncompressedMb: e.DOCX_MAX_UNCOMPRESSED_MB,
      pdfMaxPages: e.PDF_MAX_PAGES,
      pdfMaxInflatedMb: e.PDF_MAX_INFLATED_MB,
      maxChunks: e.MAX_CHUNKS_PER_FILE,
    },
    embedding: {
      provider: e.EMBEDDING_PROVIDER,
      dimensions: e.EMBEDDING_DIM,
      ...(e.EMBEDDING_URL !== undefined && { url: e.EMBEDDING_URL }),
      model:
        e.EMBEDDING_MODEL ??
        (e.EMBEDDING_PROVIDER === 'hash' ? 'hash-ngram-v1' : 'text-embedding-3-small'),
      ...(e.EMBEDDING_API_KEY !== undefined && { apiKey: e.EMBEDDING_API_KEY }),
      batchSize: e.EMBEDDING_BATCH_SIZE,
      timeoutMs: e.EMBEDDING_TIMEOUT_MS,
      maxRetries: e.EMBEDDING_MAX_RETRIES,
    },
    logLevel: e.LOG_LEVEL,
  };
}

/** Every setting, parsed and checked once by `loadConfig` (load-config.ts) from the environment. */
export type Config = ReturnType<typeof configOf>;
export type RedisConfig = Config['redis'];
export type EmbeddingConfig = Config['embedding'];
