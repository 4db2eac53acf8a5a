import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from '../redis/redis-connection.js';
import type { QueueKind } from '../kinds/queue-kind.js';
import type { Logger } from '../config/logger.js';
import { histogramQuantile, mergeHistograms } from '../queue/histogram-fields.js';
import { QueueKeys } from '../queue/queue-keys.js';
import {
  workerTotals,
  type JobCounts,
  type QueueSnapshot,
  type Sample,
} from '../queue/queue-snapshot.js';
import { driverOf } from '../kinds/registry.js';
import type { RecentFailure } from '../queue/recent-failures.js';
import type { QueueRates } from '../scaling/queue-rates.js';
import { busyWorkers } from '../scaling/scaling-decision.js';
import {
  sizeWorkers,
  type ServiceTimeSource,
  type SizingObjective,
} from '../scaling/worker-sizing.js';

/** One live worker as the status page shows it. */
export interface WorkerStatus {
  id: string;
  busy: number;
  concurrency: number;
  /** 0..1 over the worker's utilization window. */
  utilization: number;
}

/** One queue in `GET /api/status`. Rates and times are null until they can be measured. */
export interface QueueStatus {
  name: string;
  /** The queue's key prefix (`rq` for RQ). */
  prefix: string;
  kind: QueueKind;
  /** The kind as people name it: `BullMQ`, `RQ`. */
  kindLabel: string;
  /**
   * Where the worker numbers come from: `instrumented` (qscale telemetry: exact) or `derived`
   * (BullMQ's or RQ's own records; `from` says which, `workersKnown` false when live workers
   * cannot be counted, `concurrencyEstimated` when BullMQ's concurrency is estimated).
   */
  telemetry: {
    source: 'instrumented' | 'derived';
    from: string | null;
    workersKnown: boolean;
    /** Why live workers cannot be counted (the queue driver's words); null when they can. */
    workersUnknown: string | null;
    concurrencyEstimated: boolean;
    /** BullMQ: events trimmed from the events stream before the sidecar read them. */
    eventsMissed: number;
  };
  paused: boolean;
  counts: JobCounts;
  /** Jobs no worker has started (see `qscale_queue_length`). */
  backlog: number;
  oldestJobAgeSeconds: number;
  throughput: { finishedPerSecond: number | null; enqueuedPerSecond: number | null };
  processingSeconds: { p95: number | null; mean: number | null };
  /**
   * `live` is null when workers cannot be counted; `names` lists BullMQ workers without telemetry
   * (from CLIENT LIST), which have no per-worker records in `list`.
   */
  workers: {
    live: number | null;
    desired: number;
    /** Why `desired`: the wait objective it keeps and the sizing's reason, in words. */
    sizing: {
      targetWaitSeconds: number;
      serviceFrom: ServiceTimeSource;
      reason: string;
    };
    busy: number;
    list: WorkerStatus[];
    names: string[];
  };
  /** The latest failed jobs, newest first; null when they could not be read. */
  recentFailures: RecentFailure[] | null;
}

/** The body of `GET /api/status`, plus whatever `statusExtras` adds (e.g. `autoscaler`). */
export interface StatusBody {
  redisUp: boolean;
  /** Epoch ms of the sample; null when Redis could not be read (then `queues` is empty). */
  sampledAt: number | null;
  /** Where the page posts uploads; null hides the upload box. */
  uploadUrl: string | null;
  /**
   * The windows the rates and ratios are measured over, in seconds: throughput and the mean
   * processing time over `rateSeconds` (RATE_WINDOW_SECONDS); utilization over each worker's
   * UTILIZATION_WINDOW_SECONDS (`utilizationSeconds` is this sidecar's setting of it). p95
   * processing comes from every job recorded.
   */
  windows: { rateSeconds: number | null; utilizationSeconds: number | null };
  /** Redis memory and blob disk use; see {@link storageStatus}. */
  storage: StorageStatus;
  queues: QueueStatus[];
  [extra: string]: unknown;
}

/** Redis memory and blob disk use in `GET /api/status`; null when unknown (Redis not read). */
export interface StorageStatus {
  /** `used_memory`; on a Redis Cluster summed over the masters. */
  redisUsedBytes: number | null;
  /** `maxmemory`; on a Cluster summed over the masters, 0 when any of them has no limit. */
  redisMaxBytes: number | null;
  /** The upload API's blob byte totals of the sampled BullMQ queues, summed (see `blobBytes`). */
  blobBytes: number | null;
}

/** The storage part of a sample (pure: no I/O). */
export function storageStatus(sample: Sample | undefined): StorageStatus {
  const memory = sample?.memory;
  const counted = (sample?.queues ?? []).flatMap((q) =>
    q.blobBytes === undefined ? [] : [q.blobBytes],
  );
  return {
    redisUsedBytes: memory ? memory.reduce((sum, m) => sum + m.usedBytes, 0) : null,
    redisMaxBytes: memory
      ? memory.some((m) => m.maxBytes === 0)
        ? 0
        : memory.reduce((sum, m) => sum + m.maxBytes, 0)
      : null,
    blobBytes: counted.length > 0 ? counted.reduce((sum, bytes) => sum + bytes, 0) : null,
  };
}

export interface StatusApiOptions {
  /** Reads a sample (through the exporter's serialized scrape); undefined when Redis is down. */
  read: () => Promise<Sample | undefined>;
  rates: (snapshot: QueueSnapshot) => QueueRates;
  /** The wait objective `desired` is sized for. */
  sizing: SizingObjective;
  logger: Logger;
  /** A client for the recent-failures read; without it `recentFailures` is null. */
  redis?: RedisClient;
  /** The upload API's `…/api/v1/files`. */
  uploadUrl?: string;
  /** See {@link StatusBody.windows}. */
  windows?: Partial<StatusBody['windows']>;
  /** Merged into the body (core fields win), e.g. `() => ({ autoscaler: … })`. */
  extras?: () => Record<string, unknown>;
  /** How long a queue's failures read is reused, in ms. @defaultValue 2000 */
  failuresTtlMs?: number;
}

const finite = (value: number | undefined): number | null =>
  value !== undefined && Number.isFinite(value) ? value : null;

/** The upload URL as given, after checking it is an absolute http(s) URL. */
export function checkUploadUrl(uploadUrl: string): string {
  let url: URL | undefined;
  try {
    url = new URL(uploadUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new RangeError(
      `uploadUrl must be an absolute http(s) URL such as http://localhost:8080/api/v1/files, got ${JSON.stringify(uploadUrl)}`,
    );
  }
  return uploadUrl;
}

/** The status of one queue in a sample (pure: no I/O). */
export function queueStatus(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  sizing: SizingObjective,
  recentFailures: RecentFailure[] | null,
): QueueStatus {
  const processing = mergeHistograms(snapshot.processing.completed, snapshot.processing.failed);
  const sized = sizeWorkers(snapshot, rates, sizing);
  const derived = snapshot.telemetry === 'derived' ? snapshot.derived : undefined;
  return {
    name: snapshot.queue,
    prefix: snapshot.prefix ?? 'bull',
    kind: snapshot.kind ?? 'bullmq',
    kindLabel: driverOf(snapshot.kind).nouns.label,
    telemetry: {
      source: snapshot.telemetry ?? 'instrumented',
      from: derived?.from ?? null,
      workersKnown: derived?.workersKnown ?? true,
      workersUnknown:
        derived && !derived.workersKnown
          ? driverOf(snapshot.kind).nouns.workersUnknown(snapshot).found
          : null,
      concurrencyEstimated: derived?.concurrencyEstimated ?? false,
      eventsMissed: derived?.eventsMissed ?? 0,
    },
    paused: snapshot.paused,
    counts: snapshot.counts,
    backlog: snapshot.backlog,
    oldestJobAgeSeconds: snapshot.oldestJobAgeSeconds,
    throughput: {
      finishedPerSecond: finite(rates.finishedPerSecond),
      enqueuedPerSecond: finite(rates.arrivalPerSecond),
    },
    processingSeconds: {
      p95: finite(histogramQuantile(processing, 0.95)),
      mean: finite(rates.meanProcessingSeconds),
    },
    workers: {
      live: derived && !derived.workersKnown ? null : workerTotals(snapshot).live,
      desired: sized.workers,
      sizing: {
        targetWaitSeconds: sizing.targetWaitSeconds,
        serviceFrom: sized.serviceFrom,
        reason: sized.reason,
      },
      busy: busyWorkers(snapshot),
      list: snapshot.workers.map(({ id, busy, concurrency, utilization }) => ({
        id,
        busy,
        concurrency,
        utilization,
      })),
      names: derived?.workerNames ?? [],
    },
    recentFailures,
  };
}

/**
 * `GET /api/status`: every sampled queue's counts, backlog, throughput, p95 processing time,
 * workers live vs desired and recent failures, in one JSON body for the status page. Reads Redis
 * only through the shared sampler (cached for SAMPLE_TTL_MS) and a small failures read cached for
 * `failuresTtlMs`, so a page polling every second costs about one read per second, however many
 * tabs are open.
 */
export class StatusApi {
  private readonly options: StatusApiOptions;
  private readonly uploadUrl: string | null;
  private readonly failuresTtlMs: number;
  private readonly failures = new Map<
    string,
    { at: number; reading: Promise<RecentFailure[] | null> }
  >();

  constructor(options: StatusApiOptions) {
    this.options = options;
    this.uploadUrl = options.uploadUrl === undefined ? null : checkUploadUrl(options.uploadUrl);
    this.failuresTtlMs = options.failuresTtlMs ?? 2000;
    if (!Number.isFinite(this.failuresTtlMs) || this.failuresTtlMs < 0) {
      throw new RangeError(`failuresTtlMs must be a number ≥ 0, got ${this.failuresTtlMs}`);
    }
  }

  /** The current status; never throws for Redis trouble (then `redisUp: false`). */
  async read(): Promise<StatusBody> {
    const sample = await this.options.read();
    const queues = sample
      ? await Promise.all(
          sample.queues.map(async (snapshot) =>
            queueStatus(
              snapshot,
              this.options.rates(snapshot),
              this.options.sizing,
              await this.recentFailures(snapshot),
            ),
          ),
        )
      : [];
    return {
      ...this.extras(),
      redisUp: sample !== undefined,
      sampledAt: sample?.sampledAt ?? null,
      uploadUrl: this.uploadUrl,
      windows: {
        rateSeconds: this.options.windows?.rateSeconds ?? null,
        utilizationSeconds: this.options.windows?.utilizationSeconds ?? null,
      },
      storage: storageStatus(sample),
      queues,
    };
  }

  private extras(): Record<string, unknown> {
    if (!this.options.extras) return {};
    try {
      return this.options.extras();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'status extras failed; /api/status goes without');
      return {};
    }
  }

  private recentFailures(snapshot: QueueSnapshot): Promise<RecentFailure[] | null> {
    const queue = snapshot.queue;
    const { redis, logger } = this.options;
    if (!redis) return Promise.resolve(null);
    const now = Date.now();
    const cached = this.failures.get(queue);
    if (cached && now - cached.at < this.failuresTtlMs) return cached.reading;
    // The snapshot carries the queue's prefix and kind, as its driver read them.
    const keys = new QueueKeys(snapshot.prefix ?? 'bull', queue, snapshot.kind);
    const reading = driverOf(keys.kind)
      .readRecentFailures(redis, keys, 10)
      .catch((error: unknown) => {
        logger.warn({ err: error, queue }, 'could not read the recent failures');
        this.failures.delete(queue);
        return null;
      });
    this.failures.set(queue, { at: now, reading });
    return reading;
  }
}

/** A file of the status page: its bytes (read once) and content type. */
export interface StatusAsset {
  path: () => string;
  contentType: string;
  body?: Promise<Buffer>;
}

const PAGE_DIR = new URL('./status-page/', import.meta.url);
const pageFile = (name: string) => () => fileURLToPath(new URL(name, PAGE_DIR));
const packageFile = (specifier: string) => () => createRequire(import.meta.url).resolve(specifier);

/**
 * The status page's files by URL path. The page's own files sit next to this module (`src/` under
 * tsx, `dist/` after the build copies `src/exporter/status-page`); uPlot comes from its package, so
 * the page works offline.
 */
export function createStatusAssets(): Map<string, StatusAsset> {
  return new Map<string, StatusAsset>([
    ['/', { path: pageFile('index.html'), contentType: 'text/html; charset=utf-8' }],
    [
      '/assets/status.js',
      { path: pageFile('status.js'), contentType: 'text/javascript; charset=utf-8' },
    ],
    [
      '/assets/jobs.js',
      { path: pageFile('jobs.js'), contentType: 'text/javascript; charset=utf-8' },
    ],
    [
      '/assets/status.css',
      { path: pageFile('status.css'), contentType: 'text/css; charset=utf-8' },
    ],
    [
      '/assets/uplot.min.js',
      {
        path: packageFile('uplot/dist/uPlot.iife.min.js'),
        contentType: 'text/javascript; charset=utf-8',
      },
    ],
    [
      '/assets/uplot.min.css',
      { path: packageFile('uplot/dist/uPlot.min.css'), contentType: 'text/css; charset=utf-8' },
    ],
  ]);
}

/** The asset's bytes, read on first use and kept; a failed read is retried next time. */
export function assetBody(asset: StatusAsset): Promise<Buffer> {
  asset.body ??= Promise.resolve()
    .then(() => readFile(asset.path()))
    .catch((error: unknown) => {
      asset.body = undefined;
      throw error;
    });
  return asset.body;
}

/**
 * The Content-Security-Policy of the page: only its own scripts and styles, and fetches to itself
 * and to the upload API's origin.
 */
export function statusPagePolicy(uploadUrl: string | undefined): string {
  const connect = ["'self'", ...(uploadUrl ? [new URL(uploadUrl).origin] : [])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
