import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { queueName, queuePrefix } from './setting-types.js';
import { SETTINGS } from './settings.js';

/** Processing and wait time histogram buckets, in seconds: 50 ms to 30 min. */
export const DEFAULT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Which job-queue library owns a queue's keys. */
export type QueueKind = 'bullmq' | 'rq';

/** Python RQ's fixed key prefix: its keys are `rq:queue:<name>`, `rq:wip:<name>`, … */
export const RQ_PREFIX = 'rq';

/**
 * A queue address split: `bullmq:<prefix>/<name>` gives both, `rq:<name>` an RQ queue (prefix
 * `rq`); a plain name is a BullMQ queue with no prefix of its own.
 */
export function splitQueueAddress(entry: string): {
  name: string;
  prefix?: string;
  kind: QueueKind;
} {
  const bullmq = /^bullmq:([^/]*)\/(.*)$/.exec(entry);
  if (bullmq) return { prefix: bullmq[1]!, name: bullmq[2]!, kind: 'bullmq' };
  const rq = /^rq:(.*)$/.exec(entry);
  if (rq) return { prefix: RQ_PREFIX, name: rq[1]!, kind: 'rq' };
  return { name: entry, kind: 'bullmq' };
}

/**
 * One entry of QUEUES: a plain queue name (a BullMQ queue under QUEUE_PREFIX),
 * `bullmq:<prefix>/<name>` for a BullMQ queue under another prefix, or `rq:<name>` for a Python
 * RQ queue. Returns what is wrong as a string when the entry is not valid.
 */
function parseQueueAddress(
  entry: string,
  defaultPrefix: string,
): { name: string; prefix: string; kind: QueueKind } | string {
  const address = splitQueueAddress(entry);
  const { name, prefix = defaultPrefix, kind } = address;
  if (address.prefix === undefined && entry.includes(':')) {
    return 'is not a queue name, bullmq:<prefix>/<name> or rq:<name>';
  }
  if (!queuePrefix.safeParse(prefix).success) {
    return `has prefix "${prefix}": it must be 1-50 characters of letters, digits, "_", "." or "-", optionally in a hash tag such as {bull}`;
  }
  if (!queueName.safeParse(name).success) {
    return 'must be 1-100 characters of letters, digits, "_", "." or "-" (or bullmq:<prefix>/<name>, rq:<name>)';
  }
  return { name, prefix, kind };
}

/**
 * The hash tag of a key prefix: the text between the first `{` and the next `}`, when not empty —
 * what Redis Cluster hashes instead of the whole key.
 */
function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}

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

export interface RedisConfig {
  /** Absent when no REDIS_URL was given (`qscale start` then runs its own redis-server). */
  url?: string;
  sentinels?: { host: string; port: number }[];
  sentinelName: string;
  sentinelPassword?: string;
  /** Redis Cluster seed nodes: every connection is an ioredis `Cluster`. */
  clusterNodes?: { host: string; port: number }[];
  /**
   * A Redis call on a request path (API, `status`, `doctor`, a scrape) fails after this many ms, so a
   * frozen Redis is answered 503 instead of hanging.
   */
  timeoutMs: number;
  /** Replicas that must confirm an upload's writes (`WAIT`) before it is answered 202; 0: off. */
  minReplicasAck: number;
  /** How long an upload waits for those replicas, in ms. */
  ackTimeoutMs: number;
  /** Where `qscale start` keeps its private Redis's data. */
  dataDir: string;
}

export interface EmbeddingConfig {
  provider: 'hash' | 'openai';
  dimensions: number;
  url?: string;
  model: string;
  apiKey?: string;
  batchSize: number;
  timeoutMs: number;
  maxRetries: number;
}

export interface Config {
  redis: RedisConfig;
  queue: { name: string; prefix: string };
  http: {
    host: string;
    /** Absent when PORT is not set: 8080 is preferred, any free port is taken if it is busy. */
    port?: number;
    uploadDir: string;
    maxUploadBytes: number;
    maxFilesPerRequest: number;
    apiToken?: string;
    maxQueueBacklog: number;
    idempotencyTtlSeconds: number;
    /** An upload whose body sends nothing for this long is answered 408 and dropped. */
    bodyTimeoutSeconds: number;
    /** Origins allowed to call the API from a browser (CORS), e.g. the status page's. */
    corsOrigins: string[];
    /** Sweep of leftovers (unfinished writes, blobs without records, records of ended jobs). */
    sweep: { intervalSeconds: number; graceSeconds: number };
  };
  worker: {
    id: string;
    concurrency: number;
    attempts: number;
    backoffMs: number;
    lockMs: number;
    stalledIntervalMs: number;
    keepCompleted: number;
    keepFailed: number;
    /** Completed jobs older than this (s) are removed too; 0: no age limit (count only). */
    keepCompletedSeconds: number;
    /** Failed jobs older than this (s) are removed too; 0: no age limit (count only). */
    keepFailedSeconds: number;
    shutdownTimeoutSeconds: number;
  };
  /**
   * Retention of uploaded files, applied by the API's retention sweeper: a finished file (completed
   * or failed, never queued or processing) is deleted whole — record, chunks, vectors, job, blob —
   * once it finished more than `fileSeconds` ago, or once it is not among the newest `maxFiles`.
   */
  retention: {
    /** 0: files are kept whatever their age. */
    fileSeconds: number;
    /** 0: no limit on the number of files. */
    maxFiles: number;
    /** Time between sweeps (one replica sweeps per interval). */
    intervalSeconds: number;
  };
  /** Worker telemetry and the exporter that reads it. */
  metrics: {
    /** Queues the exporter reports on, by name. */
    queues: string[];
    /** Each of `queues`' key prefix (QUEUE_PREFIX unless QUEUES gave `bullmq:<prefix>/<name>`). */
    queuePrefixes: Record<string, string>;
    /** Each of `queues`' kind: `rq` for QUEUES' `rq:<name>`, else `bullmq`. */
    queueKinds: Record<string, QueueKind>;
    /** Absent when METRICS_PORT is not set: 9464 is preferred, any free port is taken if busy. */
    port?: number;
    auth?: { kind: 'bearer'; token: string } | { kind: 'basic'; user: string; password: string };
    /**
     * ACTION_TOKEN: the status page's and `qscale jobs`' actions (retry, remove, pause, …) need it
     * as a bearer token. Unset: actions are allowed over loopback only, read-only elsewhere.
     */
    actionToken?: string;
    /**
     * HISTORY: the sidecar keeps each watched queue's numbers in Redis (an hour at 5 s, a day at
     * 1 min: streams under `…:qscale:history:*`) for the status page's charts.
     */
    history: boolean;
    perWorker: boolean;
    /**
     * Per queue, at most this many live workers (the longest-running) are read one by one and get
     * per-worker series; the rest count in the queue-level numbers only.
     */
    workerSeriesLimit: number;
    heartbeatSeconds: number;
    utilizationWindowSeconds: number;
    sampleTtlMs: number;
    /** Upper bounds, in seconds, of the processing and wait time histograms. */
    buckets: number[];
  };
  /** The KEDA external scaler and the scaling decision. */
  scaler: {
    /** Absent when KEDA_PORT is not set: 6000 is preferred, any free port is taken if busy. */
    port?: number;
    /** PEM file paths; `ca` requires and verifies client certificates (mTLS). */
    tls?: { cert: string; key: string; ca?: string };
    /** Default time the `workers` mode gives the backlog to drain. */
    drainSeconds: number;
    /** Window over which arrival rate and mean processing time are measured. */
    rateWindowSeconds: number;
  };
  /** Talking to the Kubernetes API (the exporter's pod-deletion-cost keeper). */
  kubernetes: {
    /** Keep worker pods' `controller.kubernetes.io/pod-deletion-cost` annotation up to date. */
    podDeletionCost: boolean;
    /** At most one patch per pod per this many seconds. */
    podDeletionCostIntervalSeconds: number;
    /** The workers' namespace; default: the in-cluster namespace or the kubeconfig context's. */
    namespace?: string;
  };
  /** Local worker processes sized by the scaling decision (`qscale start --autoscale`). */
  autoscale: {
    enabled: boolean;
    minWorkers: number;
    maxWorkers: number;
    mode: 'backlog' | 'latency' | 'workers';
    /** Target per worker; default: the mode's (backlog 10, latency 10 s, workers 1). */
    target?: number;
    intervalSeconds: number;
    /** Scale down only to the highest desired count of this window. */
    stabilizationSeconds: number;
  };
  chunking: { size: number; overlap: number };
  /** Text extraction, run in worker threads with these limits per file. */
  extraction: {
    /** Wall-clock limit per file; the thread is terminated when it is hit. */
    timeoutSeconds: number;
    /** Heap limit of an extraction thread, in MB. */
    maxMemoryMb: number;
    /** A file yielding more characters of text fails (it is never cut short). */
    maxCharacters: number;
    /** A .docx whose ZIP declares (or really inflates to) more fails before mammoth reads it. */
    docxMaxUncompressedMb: number;
    /** A PDF with more pages fails before any page is read. */
    pdfMaxPages: number;
    /** A PDF whose compressed streams (images aside) inflate to more fails before pdfjs reads it. */
    pdfMaxInflatedMb: number;
    /** A file cut into more chunks fails (nothing of it is stored). */
    maxChunks: number;
  };
  embedding: EmbeddingConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

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
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(workerId)) {
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
