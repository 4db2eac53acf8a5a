import { z } from 'zod';
import {
  clusterNodes,
  decimal,
  httpUrl,
  int,
  MiB,
  nonEmpty,
  oneOf,
  queueName,
  queuePrefix,
  redisUrl,
  secretToken,
  sentinels,
} from './setting-types.js';

/**
 * One setting, declared once: how its environment variable is parsed and checked (the schema,
 * with its default), how the docs show it, and the CLI flag that overrides it, if any. The config
 * schema, the CLI options and docs/settings.md's table all follow from {@link SETTINGS}
 * (`test/settings-docs.test.ts` fails when docs/settings.md differs: `npm run docs:settings`
 * writes it).
 */
export interface Setting<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** The default as the docs show it; `–` when unset means off or absent. */
  shown: string;
  /** What it does, one line (Markdown). */
  doc: string;
  /** A flag that overrides it on the commands that take it: `--port <port>`, `--autoscale`. */
  flag?: string;
}

function setting<S extends z.ZodType>(schema: S, docs: Omit<Setting, 'schema'>): Setting<S> {
  return { schema, ...docs };
}

/** Every setting, by its environment variable, in the order the docs list them. */
export const SETTINGS = {
  REDIS_URL: setting(redisUrl.optional(), {
    shown:
      '(`start`: a private redis-server; others: the private one of a running `start`, else `redis://127.0.0.1:6379`)',
    doc: '`redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS',
    flag: '--redis-url <url>',
  }),
  REDIS_SENTINELS: setting(sentinels.optional(), {
    shown: '–',
    doc: 'Sentinel mode: `host:port,host:port`; credentials and db come from `REDIS_URL`',
  }),
  REDIS_SENTINEL_NAME: setting(nonEmpty.default('mymaster'), {
    shown: '`mymaster`',
    doc: 'the Sentinel master group',
  }),
  REDIS_SENTINEL_PASSWORD: setting(z.string().optional(), {
    shown: '–',
    doc: 'password of the Sentinels themselves',
  }),
  REDIS_CLUSTER_NODES: setting(clusterNodes.optional(), {
    shown: '–',
    doc: 'Redis Cluster mode: seed nodes `host:port,host:port`; credentials and TLS come from `REDIS_URL`; `QUEUE_PREFIX` must hold a hash tag',
  }),
  REDIS_MIN_REPLICAS_ACK: setting(int(0, 100).default(0), {
    shown: '`0` (off)',
    doc: 'replicas that must confirm an upload (`WAIT`) before it is answered 202; otherwise 503 and nothing is kept',
  }),
  REDIS_ACK_TIMEOUT_MS: setting(int(1, 60_000).default(500), {
    shown: '`500`',
    doc: 'how long an upload waits for those replicas; below `REDIS_TIMEOUT_MS`',
  }),
  REDIS_DATA_DIR: setting(nonEmpty.default('./data/redis'), {
    shown: '`./data/redis`',
    doc: 'where `qscale start` keeps its private Redis',
  }),
  QUEUE_NAME: setting(queueName.default('file_processing'), {
    shown: '`file_processing`',
    doc: 'the BullMQ queue',
    flag: '--queue <name>',
  }),
  QUEUE_PREFIX: setting(queuePrefix.default('bull'), {
    shown: '`bull`',
    doc: 'BullMQ key prefix; use a hash tag such as `{bull}` on Redis Cluster',
    flag: '--prefix <prefix>',
  }),
  HOST: setting(nonEmpty.default('0.0.0.0'), {
    shown: '`0.0.0.0`; `qscale start`: `127.0.0.1`',
    doc: 'HTTP bind address (the image and the manifests set `0.0.0.0`)',
    flag: '--host <host>',
  }),
  PORT: setting(int(0, 65535).optional(), {
    shown: '8080, or a free port if busy',
    doc: 'HTTP port (`0`: any free port)',
    flag: '--port <port>',
  }),
  UPLOAD_DIR: setting(nonEmpty.default('./data/uploads'), {
    shown: '`./data/uploads`',
    doc: 'blob storage; a shared (ReadWriteMany) volume when app and workers run in separate pods',
    flag: '--upload-dir <dir>',
  }),
  MAX_UPLOAD_BYTES: setting(int(1, Number.MAX_SAFE_INTEGER).default(100 * MiB), {
    shown: '`104857600` (100 MiB)',
    doc: 'largest file',
  }),
  MAX_FILES_PER_REQUEST: setting(int(1, 1000).default(10), {
    shown: '`10`',
    doc: 'files per upload request',
  }),
  API_TOKEN: setting(secretToken.optional(), {
    shown: '–',
    doc: 'when set (≥ 16 characters), the API wants `Authorization: Bearer <token>`; unset: it answers only requests to a loopback host (`localhost`, `127.0.0.1`, `[::1]`), against DNS rebinding',
  }),
  MAX_QUEUE_BACKLOG: setting(int(0, Number.MAX_SAFE_INTEGER).default(0), {
    shown: '`0` (off)',
    doc: 'answer 429 while the backlog (wait + paused + prioritized + due delayed) is at or over this',
  }),
  IDEMPOTENCY_TTL_SECONDS: setting(int(1, 30 * 24 * 3600).default(24 * 3600), {
    shown: '`86400`',
    doc: 'how long an `Idempotency-Key` answer is remembered',
  }),
  BODY_TIMEOUT_SECONDS: setting(int(1, 3600).default(30), {
    shown: '`30`',
    doc: 'an upload whose body sends nothing for this long is answered 408 and dropped',
  }),
  REQUEST_TIMEOUT_SECONDS: setting(int(0, 7 * 86_400).default(3600), {
    shown: '`3600` (1 h)',
    doc: 'the most time one request may take to arrive, body included: an upload still sending then is answered 408 and dropped (100 MiB in 1 h needs 29 KB/s); `0`: no limit (`BODY_TIMEOUT_SECONDS` still cuts a body that stalls)',
  }),
  SWEEP_INTERVAL_SECONDS: setting(int(10, 86_400).default(600), {
    shown: '`600`',
    doc: 'how often the API sweeps leftovers (`.part` files, blobs without records, records of ended jobs); also at start',
  }),
  SWEEP_GRACE_SECONDS: setting(int(1, 30 * 24 * 3600).default(3600), {
    shown: '`3600`',
    doc: 'leftovers younger than this are left alone',
  }),
  WORKER_CONCURRENCY: setting(int(1, 1000).default(2), {
    shown: '`2`',
    doc: 'jobs one worker process runs at once',
    flag: '--concurrency <n>',
  }),
  JOB_ATTEMPTS: setting(int(1, 100).default(3), {
    shown: '`3`',
    doc: 'tries per job for transient errors',
  }),
  JOB_BACKOFF_MS: setting(int(0, 3_600_000).default(1000), {
    shown: '`1000`',
    doc: 'first retry delay; doubles each time',
  }),
  JOB_LOCK_MS: setting(int(1000, 3_600_000).default(30_000), {
    shown: '`30000`',
    doc: "BullMQ lock: a killed worker's job is handed on within about this time",
  }),
  STALLED_INTERVAL_MS: setting(int(1000, 3_600_000).default(30_000), {
    shown: '`30000`',
    doc: 'how often workers look for stalled jobs',
  }),
  KEEP_COMPLETED_JOBS: setting(int(0, 10_000_000).default(1000), {
    shown: '`1000`',
    doc: 'completed BullMQ jobs kept, at most (file records: see [Retention](limits.md#retention))',
  }),
  KEEP_FAILED_JOBS: setting(int(0, 10_000_000).default(5000), {
    shown: '`5000`',
    doc: 'failed BullMQ jobs kept, at most',
  }),
  KEEP_COMPLETED_SECONDS: setting(int(0, 10 * 365 * 86_400).default(86_400), {
    shown: '`86400` (1 day)',
    doc: 'completed BullMQ jobs older than this are removed too; `0`: by count only',
  }),
  KEEP_FAILED_SECONDS: setting(int(0, 10 * 365 * 86_400).default(7 * 86_400), {
    shown: '`604800` (7 days)',
    doc: 'failed BullMQ jobs older than this are removed too; `0`: by count only',
  }),
  FILE_RETENTION_SECONDS: setting(int(0, 100 * 365 * 86_400).default(0), {
    shown: '`0` (keep forever)',
    doc: 'a finished file (completed or failed) is deleted whole — record, chunks, vectors, job, blob — this long after it finished',
  }),
  MAX_FILES: setting(int(0, 1_000_000_000).default(0), {
    shown: '`0` (unlimited)',
    doc: 'finished files that are not among the newest `MAX_FILES` (by upload time) are deleted whole',
  }),
  RETENTION_INTERVAL_SECONDS: setting(int(1, 86_400).default(60), {
    shown: '`60`',
    doc: 'how often the API applies the retention settings (one replica per interval, at most 200 files per run)',
  }),
  SHUTDOWN_TIMEOUT_SECONDS: setting(int(1, 86_400).default(30), {
    shown: '`30`',
    doc: 'how long a stopping worker waits for jobs in flight; every process exits at most 5 s later',
  }),
  CHUNK_SIZE: setting(int(100, 100_000).default(1000), {
    shown: '`1000`',
    doc: 'chunk length, in characters',
  }),
  CHUNK_OVERLAP: setting(int(0, 50_000).default(200), {
    shown: '`200`',
    doc: 'characters shared by consecutive chunks',
  }),
  EXTRACT_TIMEOUT_SECONDS: setting(int(1, 3600).default(60), {
    shown: '`60`',
    doc: "wall-clock limit of one file's text extraction; past it the extraction thread is terminated and the job fails at once (no retry)",
  }),
  EXTRACT_MAX_MEMORY_MB: setting(int(16, 65_536).default(256), {
    shown: '`256`',
    doc: 'heap limit of an extraction thread (one per concurrent job); a file that needs more fails at once',
  }),
  EXTRACT_MAX_CHARACTERS: setting(int(1, 500_000_000).default(20_000_000), {
    shown: '`20000000`',
    doc: 'a file yielding more text fails with its count: text is never cut short',
  }),
  DOCX_MAX_UNCOMPRESSED_MB: setting(int(1, 4096).default(200), {
    shown: '`200`',
    doc: 'a `.docx` whose ZIP inflates to more (declared or real) fails before mammoth reads it; also at most 10 000 ZIP entries',
  }),
  PDF_MAX_PAGES: setting(int(1, 1_000_000).default(2000), {
    shown: '`2000`',
    doc: 'a PDF with more pages fails before a page is read',
  }),
  PDF_MAX_INFLATED_MB: setting(int(1, 65_536).default(256), {
    shown: '`256`',
    doc: 'a PDF whose compressed streams (images aside) inflate to more fails before pdfjs reads it',
  }),
  MAX_CHUNKS_PER_FILE: setting(int(1, 10_000_000).default(25_000), {
    shown: '`25000`',
    doc: 'a file cut into more chunks fails with the count (nothing of it stored)',
  }),
  EMBEDDING_PROVIDER: setting(oneOf(['hash', 'openai'] as const).default('hash'), {
    shown: '`hash`',
    doc: '`hash` or `openai`',
  }),
  EMBEDDING_DIM: setting(int(8, 8192).default(256), {
    shown: '`256`',
    doc: 'dimensions of the hash embedder',
  }),
  EMBEDDING_URL: setting(httpUrl.optional(), {
    shown: '–',
    doc: 'OpenAI-compatible base URL, e.g. `https://api.openai.com/v1` (required for `openai`)',
  }),
  EMBEDDING_MODEL: setting(nonEmpty.optional(), {
    shown: '`hash-ngram-v1` / `text-embedding-3-small`',
    doc: 'model name',
  }),
  EMBEDDING_API_KEY: setting(z.string().optional(), {
    shown: '–',
    doc: 'bearer token for the embedding API',
  }),
  EMBEDDING_BATCH_SIZE: setting(int(1, 2048).default(64), {
    shown: '`64`',
    doc: 'texts per embedding request',
  }),
  EMBEDDING_TIMEOUT_MS: setting(int(100, 600_000).default(30_000), {
    shown: '`30000`',
    doc: 'per embedding request',
  }),
  EMBEDDING_MAX_RETRIES: setting(int(0, 20).default(5), {
    shown: '`5`',
    doc: 'retries of one embedding request',
  }),
  WORKER_ID: setting(z.string().optional(), {
    shown: '`<hostname>-<pid>`',
    doc: "the worker's name (in Kubernetes: the pod name)",
  }),
  QUEUES: setting(z.string().trim().optional(), {
    shown: '`QUEUE_NAME`',
    doc: 'queues the sidecar watches, comma-separated: a name (under `QUEUE_PREFIX`), `bullmq:<prefix>/<name>` or `rq:<name>` (see [Watching an existing app](watching-other-apps.md)); `status` and `doctor` report each',
    flag: '--queues <list>',
  }),
  METRICS_PORT: setting(int(0, 65535).optional(), {
    shown: '9464, or a free port if busy',
    doc: 'exporter port (`0`: any free port)',
    flag: '--metrics-port <port>',
  }),
  ACTION_TOKEN: setting(secretToken.optional(), {
    shown: '–',
    doc: "the [console](console.md#operator-console)'s actions (retry, remove, pause, clean…) need it as a bearer token (16+ characters); unset: actions from loopback only, read-only elsewhere",
  }),
  HISTORY: setting(oneOf(['on', 'off'] as const).default('on'), {
    shown: '`on`',
    doc: "keep each queue's numbers in Redis for the status page's charts (74 KiB per queue; see [History](console.md#status-page)); `off`: the sidecar writes nothing",
  }),
  METRICS_AUTH: setting(
    z
      .string()
      .regex(/^(bearer:.{16,}|basic:[^:]+:.{8,})$/, {
        message:
          'must be bearer:<token of 16+ characters> or basic:<user>:<password of 8+ characters>',
      })
      .optional(),
    {
      shown: '–',
      doc: 'protect `/metrics`: `bearer:<token>` (16+ characters) or `basic:<user>:<password>` (8+); `/healthz` stays open',
    },
  ),
  WORKER_METRICS: setting(oneOf(['on', 'off'] as const).default('on'), {
    shown: '`on`',
    doc: '`off` drops the per-worker series (for very large fleets)',
  }),
  WORKER_SERIES_LIMIT: setting(int(0, 10_000).default(100), {
    shown: '`100`',
    doc: 'per queue, at most this many workers (the longest-running) get per-worker series; the rest count in the queue-level numbers only (0–10 000)',
  }),
  HEARTBEAT_SECONDS: setting(int(1, 300).default(5), {
    shown: '`5`',
    doc: 'worker heartbeat; a worker missing 3 heartbeats disappears from the metrics',
  }),
  UTILIZATION_WINDOW_SECONDS: setting(int(5, 3600).default(60), {
    shown: '`60`',
    doc: 'window of the utilization ratios',
  }),
  DISCOVERY_INTERVAL_SECONDS: setting(int(1, 3600).default(30), {
    shown: '`30`',
    doc: 'how often the queues that `QUEUES` names by pattern (`bullmq:<prefix>/*`, `rq:*`, `*`) are looked for again: new ones are watched, vanished ones dropped',
  }),
  MAX_DISCOVERED_QUEUES: setting(int(1, 100_000).default(500), {
    shown: '`500`',
    doc: 'queues found by pattern, at most; more are left out with a warning (`qscale_discovered_queues_left_out`)',
  }),
  SAMPLE_TTL_MS: setting(int(0, 60_000).default(1000), {
    shown: '`1000`',
    doc: "how long one Redis read serves scrapes and KEDA (and the upload API's backlog guard)",
  }),
  REDIS_TIMEOUT_MS: setting(int(50, 60_000).default(1000), {
    shown: '`1000`',
    doc: 'deadline of every Redis call on a request path (API, scrape, KEDA, `status`, `doctor`): past it the answer is 503 / `qscale_redis_up 0` / UNAVAILABLE',
  }),
  KEDA_PORT: setting(int(0, 65535).optional(), {
    shown: '6000, or a free port if busy',
    doc: 'KEDA external scaler (gRPC) port (`0`: any free port)',
    flag: '--keda-port <port>',
  }),
  KEDA_TLS_CERT: setting(nonEmpty.optional(), {
    shown: '–',
    doc: "PEM certificate file: serve the scaler over TLS (KEDA's `enableTLS`), with `KEDA_TLS_KEY`",
  }),
  KEDA_TLS_KEY: setting(nonEmpty.optional(), {
    shown: '–',
    doc: 'PEM private key file of `KEDA_TLS_CERT`',
  }),
  KEDA_TLS_CA: setting(nonEmpty.optional(), {
    shown: '–',
    doc: "PEM file: also require client certificates signed by this CA (mTLS; KEDA's `caCert`, `tlsClientCert`, `tlsClientKey`)",
  }),
  POD_DELETION_COST: setting(oneOf(['on', 'off'] as const).default('off'), {
    shown: '`off` (`on` for the exporter in `k8s/base`)',
    doc: "keep worker pods' `controller.kubernetes.io/pod-deletion-cost` = busy slots (needs the RBAC in `k8s/base`)",
  }),
  POD_DELETION_COST_INTERVAL_SECONDS: setting(int(1, 3600).default(10), {
    shown: '`10`',
    doc: 'at most one patch per pod per this many seconds',
  }),
  POD_NAMESPACE: setting(
    z
      .string()
      .trim()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
        message: 'must be a Kubernetes namespace name (lower-case letters, digits and "-")',
      })
      .optional(),
    {
      shown: "the service account's or kubeconfig's namespace",
      doc: 'namespace of the worker pods',
    },
  ),
  CORS_ORIGINS: setting(z.string().trim().optional(), {
    shown: '– (`qscale start` adds its status page)',
    doc: 'browser origins allowed to call the API, comma-separated, exact match',
  }),
  AUTOSCALE: setting(oneOf(['on', 'off'] as const).default('off'), {
    shown: '`off`',
    doc: '`on` = `--autoscale`: worker processes sized by the scaling decision',
    flag: '--autoscale',
  }),
  MIN_WORKERS: setting(int(0, 1000).default(1), {
    shown: '`1`',
    doc: 'fewest worker processes the local autoscaler keeps',
    flag: '--min-workers <n>',
  }),
  MAX_WORKERS: setting(int(1, 1000).default(4), {
    shown: '`4`',
    doc: 'most worker processes the local autoscaler starts',
    flag: '--max-workers <n>',
  }),
  AUTOSCALE_MODE: setting(oneOf(['backlog', 'latency', 'workers'] as const).default('backlog'), {
    shown: '`backlog`',
    doc: '`backlog`, `latency` or `workers`',
    flag: '--autoscale-mode <mode>',
  }),
  AUTOSCALE_TARGET: setting(
    z
      .string()
      .trim()
      .transform(Number)
      .pipe(z.number().positive({ message: 'must be a number > 0' }))
      .optional(),
    { shown: "the mode's (10, 10 s, 1)", doc: 'target per worker', flag: '--autoscale-target <n>' },
  ),
  AUTOSCALE_INTERVAL_SECONDS: setting(int(1, 3600).default(2), {
    shown: '`2`',
    doc: 'how often the autoscaler decides',
  }),
  AUTOSCALE_STABILIZATION_SECONDS: setting(int(0, 86_400).default(60), {
    shown: '`60`',
    doc: 'scale down only to the highest count wanted in this window',
  }),
  TARGET_WAIT_SECONDS: setting(decimal(0.1, 86_400).default(30), {
    shown: '`30`',
    doc: '`workers` mode and `qscale_queue_desired_workers`: the p95 time a job may wait before it starts; workers are sized to keep it (Erlang C)',
  }),
  EXPECTED_JOB_SECONDS: setting(decimal(0.001, 86_400).optional(), {
    shown: '–',
    doc: '`workers` mode: mean job time to assume until the queue has a measured one (its own jobs, or its stored history)',
  }),
  DRAIN_SECONDS: setting(decimal(0.1, 86_400).optional(), {
    shown: '`TARGET_WAIT_SECONDS`',
    doc: '`workers` mode: the most time the backlog may take to drain, when shorter than the wait objective',
  }),
  RATE_WINDOW_SECONDS: setting(decimal(0.1, 3600).default(120), {
    shown: '`120`',
    doc: 'window of the arrival rate (a step up shows within 9 s of it) and of the mean processing time, for `workers` mode and the throughput figures (fractions for time-compressed labs)',
  }),
  HISTOGRAM_BUCKETS: setting(
    z
      .string()
      .trim()
      .transform((value, ctx) => {
        const buckets = value.split(',').map((part) => Number(part.trim()));
        const ascending = buckets.every((b, i) => i === 0 || b > buckets[i - 1]!);
        if (
          buckets.length === 0 ||
          buckets.length > 50 ||
          !ascending ||
          buckets.some((b) => !(b > 0) || !Number.isFinite(b))
        ) {
          ctx.addIssue({
            code: 'custom',
            message:
              'must be 1-50 positive numbers of seconds in ascending order, e.g. 0.1,1,10,60',
          });
        }
        return buckets;
      })
      .optional(),
    {
      shown: '`0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,600,1800`',
      doc: 'processing and wait time buckets in seconds; give workers and exporter the same list',
    },
  ),
  LOG_LEVEL: setting(
    oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const).default('info'),
    {
      shown: '`info`',
      doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`',
      flag: '--log-level <level>',
    },
  ),
};
