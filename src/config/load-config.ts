import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { DEFAULT_BUCKETS, type Config, type QueueKind } from './config.js';
import { hashTagOf, parseQueueAddress } from './queue-address.js';
import { SETTINGS } from './settings.js';
import { WORKER_ID_PATTERN } from './worker-id.js';

/**
 * Every setting, by its environment variable (declared in settings.ts). The schema's keys are the
 * variable names, so an error always names the variable the user has to fix.
 */
const envSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([name, s]) => [name, s.schema])) as {
    [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['schema'];
  },
);

export type Env = Record<string, string | undefined>;

function describeValue(env: Env, key: string): string {
  const value = env[key];
  if (value === undefined) return 'unset';
  if (/PASSWORD|TOKEN|KEY/.test(key)) return `"${'*'.repeat(Math.min(value.length, 8))}"`;
  return JSON.stringify(value);
}

/**
 * Parses and validates every setting once. Throws a {@link ConfigError} listing every bad variable
 * with its value and what is allowed.
 */
export function loadConfig(env: Env = process.env): Config {
  // Empty strings mean "unset", as in most twelve-factor tools.
  const cleaned: Env = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      return `${key}=${describeValue(cleaned, key)}: ${issue.message}`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.CHUNK_OVERLAP >= e.CHUNK_SIZE) {
    problems.push(
      `CHUNK_OVERLAP=${e.CHUNK_OVERLAP}: must be smaller than CHUNK_SIZE (${e.CHUNK_SIZE})`,
    );
  }
  if (e.EMBEDDING_PROVIDER === 'openai' && !e.EMBEDDING_URL) {
    problems.push(
      'EMBEDDING_URL=unset: required when EMBEDDING_PROVIDER=openai (an OpenAI-compatible base URL such as https://api.openai.com/v1)',
    );
  }
  const workerId = e.WORKER_ID ?? `${hostname()}-${process.pid}`;
  if (!WORKER_ID_PATTERN.test(workerId)) {
    problems.push(
      `WORKER_ID=${JSON.stringify(workerId)}: must be 1-128 characters of letters, digits, "_", ".", ":" or "-"`,
    );
  }
  if (e.MIN_WORKERS > e.MAX_WORKERS) {
    problems.push(`MIN_WORKERS=${e.MIN_WORKERS}: must not be above MAX_WORKERS (${e.MAX_WORKERS})`);
  }
  if ((e.KEDA_TLS_CERT === undefined) !== (e.KEDA_TLS_KEY === undefined)) {
    problems.push(
      `KEDA_TLS_CERT=${e.KEDA_TLS_CERT ? 'set' : 'unset'}, KEDA_TLS_KEY=${e.KEDA_TLS_KEY ? 'set' : 'unset'}: set both (PEM files) to serve TLS, or neither for plaintext`,
    );
  }
  if (e.KEDA_TLS_CA !== undefined && e.KEDA_TLS_CERT === undefined) {
    problems.push(
      'KEDA_TLS_CA=set: client certificates (mTLS) need KEDA_TLS_CERT and KEDA_TLS_KEY too',
    );
  }
  const queues: string[] = [];
  const queuePrefixes: Record<string, string> = {};
  const queueKinds: Record<string, QueueKind> = {};
  const entries = e.QUEUES
    ? e.QUEUES.split(',')
        .map((entry) => entry.trim())
        .filter(Boolean)
    : [e.QUEUE_NAME];
  for (const entry of entries) {
    const address = parseQueueAddress(entry, e.QUEUE_PREFIX);
    if (typeof address === 'string') {
      problems.push(`QUEUES=${JSON.stringify(e.QUEUES)}: "${entry}" ${address}`);
      continue;
    }
    if (queuePrefixes[address.name] !== undefined) {
      problems.push(
        `QUEUES=${JSON.stringify(e.QUEUES)}: queue "${address.name}" is listed twice; queue names must be distinct`,
      );
      continue;
    }
    queues.push(address.name);
    queuePrefixes[address.name] = address.prefix;
    queueKinds[address.name] = address.kind;
  }
  if (entries.length === 0) {
    problems.push(`QUEUES=${JSON.stringify(e.QUEUES)}: must list one or more distinct queue names`);
  }
  if (e.REDIS_CLUSTER_NODES !== undefined) {
    if (e.REDIS_SENTINELS !== undefined) {
      problems.push(
        'REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: use one topology (Cluster or Sentinel)',
      );
    }
    if (!hashTagOf(e.QUEUE_PREFIX)) {
      problems.push(
        `QUEUE_PREFIX=${JSON.stringify(e.QUEUE_PREFIX)}: Redis Cluster (REDIS_CLUSTER_NODES) needs every key of a queue in one hash slot, and BullMQ's scripts fail with CROSSSLOT otherwise; set a hash tag such as QUEUE_PREFIX={${e.QUEUE_PREFIX}}`,
      );
    }
    for (const [name, prefix] of Object.entries(queuePrefixes)) {
      if (queueKinds[name] === 'rq') {
        problems.push(
          `QUEUES=${JSON.stringify(e.QUEUES)}: "rq:${name}" is a Python RQ queue, and RQ does not run on Redis Cluster; watch it with a sidecar on the RQ app's own Redis`,
        );
        continue;
      }
      if (prefix !== e.QUEUE_PREFIX && !hashTagOf(prefix)) {
        problems.push(
          `QUEUES=${JSON.stringify(e.QUEUES)}: queue "${name}" has prefix "${prefix}" without a hash tag; on Redis Cluster write it as bullmq:{${prefix}}/${name}`,
        );
      }
    }
  }
  if (e.REDIS_ACK_TIMEOUT_MS >= e.REDIS_TIMEOUT_MS && e.REDIS_MIN_REPLICAS_ACK > 0) {
    problems.push(
      `REDIS_ACK_TIMEOUT_MS=${e.REDIS_ACK_TIMEOUT_MS}: must be below REDIS_TIMEOUT_MS (${e.REDIS_TIMEOUT_MS}), or the WAIT for replicas is cut off by the command deadline`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const auth = e.METRICS_AUTH;
  const [authKind, ...authRest] = auth?.split(':') ?? [];

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
      sweep: { intervalSeconds: e.SWEEP_INTERVAL_SECONDS, graceSeconds: e.SWEEP_GRACE_SECONDS },
      corsOrigins: (e.CORS_ORIGINS ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    },
    worker: {
      id: workerId,
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
      queues,
      queuePrefixes,
      queueKinds,
      ...(e.METRICS_PORT !== undefined && { port: e.METRICS_PORT }),
      ...(auth &&
        (authKind === 'bearer'
          ? { auth: { kind: 'bearer' as const, token: authRest.join(':') } }
          : {
              auth: {
                kind: 'basic' as const,
                user: authRest[0]!,
                password: authRest.slice(1).join(':'),
              },
            })),
      ...(e.ACTION_TOKEN !== undefined && { actionToken: e.ACTION_TOKEN }),
      history: e.HISTORY === 'on',
      perWorker: e.WORKER_METRICS === 'on',
      workerSeriesLimit: e.WORKER_SERIES_LIMIT,
      heartbeatSeconds: e.HEARTBEAT_SECONDS,
      utilizationWindowSeconds: e.UTILIZATION_WINDOW_SECONDS,
      sampleTtlMs: e.SAMPLE_TTL_MS,
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
      drainSeconds: e.DRAIN_SECONDS,
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
