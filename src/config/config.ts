/** Processing and wait time histogram buckets, in seconds: 50 ms to 30 min. */
export const DEFAULT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Which job-queue library owns a queue's keys. */
export type QueueKind = 'bullmq' | 'rq';

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

/** Every setting, parsed and checked once by `loadConfig` (load-config.ts) from the environment. */
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
