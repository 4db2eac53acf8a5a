import { Worker } from 'bullmq';
import type { RedisClient } from '../redis/redis-connection.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import type { Embedder } from '../embedding/embedder.js';
import { FILE_ID_PATTERN, type FileJobData, type FileJobResult } from '../pipeline/file-job.js';
import type { FileRecords } from '../pipeline/file-records.js';
import type { BlobStorage } from '../storage/blob-storage.js';
import { QueueKeys } from '../queue/queue-keys.js';
import { ExtractionSandbox } from './extract/extraction-sandbox.js';
import { createFileProcessor } from './file-processor.js';
import { WorkerTelemetry } from './worker-telemetry.js';

export interface FileWorkerDeps {
  config: Config;
  logger: Logger;
  /** A `worker`-role connection (BullMQ needs `maxRetriesPerRequest: null`). */
  connection: RedisClient;
  records: FileRecords;
  storage: BlobStorage;
  embedder: Embedder;
}

/**
 * A BullMQ worker for file jobs. `close()` stops taking jobs, lets the ones in flight finish for up
 * to SHUTDOWN_TIMEOUT_SECONDS, then gives up on them (their locks lapse and another worker picks
 * them up through stalled-job recovery).
 */
export class FileWorker {
  readonly worker: Worker<FileJobData, FileJobResult>;
  readonly telemetry: WorkerTelemetry;
  /** Extraction threads, one per concurrent job at most. */
  readonly extraction: ExtractionSandbox;
  private readonly deps: FileWorkerDeps;
  private closing?: Promise<void>;

  constructor(deps: FileWorkerDeps) {
    this.deps = deps;
    const { config, logger } = deps;
    this.telemetry = new WorkerTelemetry(
      deps.connection,
      new QueueKeys(config.queue.prefix, config.queue.name),
      logger,
      {
        workerId: config.worker.id,
        concurrency: config.worker.concurrency,
        heartbeatSeconds: config.metrics.heartbeatSeconds,
        utilizationWindowSeconds: config.metrics.utilizationWindowSeconds,
        buckets: config.metrics.buckets,
      },
    );
    this.extraction = new ExtractionSandbox({
      threads: config.worker.concurrency,
      ...config.extraction,
    });
    this.worker = new Worker<FileJobData, FileJobResult>(
      config.queue.name,
      this.telemetry.instrument(
        createFileProcessor({
          records: deps.records,
          storage: deps.storage,
          embedder: deps.embedder,
          extract: (data, type, fileName) =>
            this.extraction.extractChunks(data, type, fileName, config.chunking),
          embeddingBatchSize: config.embedding.batchSize,
          logger,
        }),
      ),
      {
        connection: deps.connection,
        prefix: config.queue.prefix,
        name: config.worker.id,
        concurrency: config.worker.concurrency,
        lockDuration: config.worker.lockMs,
        stalledInterval: config.worker.stalledIntervalMs,
        maxStalledCount: 1,
        autorun: true,
      },
    );
    this.worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
    this.worker.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled; it will be retried'));
    this.worker.on('failed', (job, error) => {
      // A job that ended for good (finishedOn set; a retried one has none) — the processor records
      // that itself, but not when its write was refused, nor for a job that stalled too often and
      // failed without it: the record must not keep saying queued or processing. (If this write
      // fails too, the API's sweep fixes the record later.)
      const fileId = (job?.data as Partial<FileJobData> | undefined)?.fileId;
      if (
        job &&
        typeof fileId === 'string' &&
        FILE_ID_PATTERN.test(fileId) &&
        (job.finishedOn || /stalled/i.test(error.message))
      ) {
        deps.records
          .failUnfinished(fileId, error.message, job.finishedOn ?? Date.now())
          .catch((err: unknown) => logger.error({ err }, 'could not record a failed job'));
      }
    });
  }

  /** Resolves once the worker is connected and taking jobs. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.telemetry.start();
  }

  /** Graceful stop; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const { logger, config } = this.deps;
    const timeoutMs = config.worker.shutdownTimeoutSeconds * 1000;
    const active = this.worker.isRunning();
    logger.info({ timeoutMs, running: active }, 'worker stopping: finishing jobs in flight');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const outcome = await Promise.race([
        this.worker.close().then(() => 'done' as const),
        timedOut,
      ]);
      if (outcome === 'timeout') {
        logger.warn(
          { timeoutMs },
          'jobs still running at the shutdown timeout; leaving them to stalled-job recovery',
        );
        // close(true) still waits for a processor to return: end extractions in flight first
        // (their jobs fail this attempt and are retried).
        await Promise.all([this.closeExtraction(), this.worker.close(true)]);
      }
    } finally {
      clearTimeout(timer);
      await this.closeExtraction();
      // Leave the live set whatever happened above, so the worker's series go at once.
      await this.telemetry.close();
    }
    logger.info('worker stopped');
  }

  /** Terminates the extraction threads, busy or not; never throws. */
  private closeExtraction(): Promise<void> {
    return this.extraction
      .close()
      .catch((err: unknown) =>
        this.deps.logger.error({ err }, 'could not stop the extraction threads'),
      );
  }
}
