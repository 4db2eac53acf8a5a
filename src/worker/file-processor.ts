import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../config/logger.js';
import type { Embedder } from '../embedding/embedder.js';
import { packVectors } from '../embedding/vector-math.js';
import { parseFileJobData, type FileJobData, type FileJobResult } from '../pipeline/file-job.js';
import type { FileRecords } from '../pipeline/file-records.js';
import { BlobNotFoundError, type BlobStorage } from '../storage/blob-storage.js';
import { ExtractionError } from './extract/extraction-error.js';
import type { ChunkedText } from './extract/extraction-limits.js';

export interface FileProcessorDeps {
  records: FileRecords;
  storage: BlobStorage;
  embedder: Embedder;
  /**
   * Turns a file into text cut into chunks; in the worker, an ExtractionSandbox (threads with
   * limits), so neither parsing nor cutting a long text holds up the event loop.
   */
  extract: (data: Buffer, type: FileJobData['type'], fileName: string) => Promise<ChunkedText>;
  embeddingBatchSize: number;
  logger: Logger;
}

export type FileJob = Job<FileJobData, FileJobResult>;

/** Errors that no retry can fix: the job fails at once. */
function isPermanent(error: unknown): boolean {
  return error instanceof ExtractionError || error instanceof BlobNotFoundError;
}

/**
 * Processes one file: read the blob, extract text, chunk, embed, store. Progress goes to the job
 * and the file record; a file deleted meanwhile is skipped and leaves nothing behind.
 */
export function createFileProcessor(deps: FileProcessorDeps) {
  const { records, storage, embedder, logger } = deps;

  return async function processFile(job: FileJob): Promise<FileJobResult> {
    // The queue may hold jobs another program added: such a job fails at once, saying why.
    const data = parseFileJobData(job.data);
    if (typeof data === 'string') {
      throw new UnrecoverableError(
        `job ${JSON.stringify(job.id)} is not a qscale file job (${data}); add files through the upload API`,
      );
    }
    const { fileId, fileName, type } = data;
    // Counts every start, including one after a crashed worker (stalled-job recovery).
    const attempt = Math.max(job.attemptsStarted, job.attemptsMade + 1);
    const started = Date.now();
    let lastProgress = -1;
    const progress = async (value: number) => {
      const rounded = Math.floor(value);
      if (rounded - lastProgress < 5 && rounded !== 100) return;
      lastProgress = rounded;
      await Promise.all([
        job.updateProgress(rounded),
        records.update(fileId, { progress: rounded }),
      ]);
    };

    const stillThere = await records.update(fileId, {
      status: 'processing',
      startedAt: started,
      attempts: attempt,
      progress: 0,
    });
    if (!stillThere) {
      await storage.remove(fileId);
      return { skipped: 'deleted' };
    }

    try {
      const content = await storage.read(fileId);
      await progress(10);
      const { characters, chunks } = await deps.extract(content, type, fileName);
      await progress(30);
      const vectors: Float32Array[] = [];
      for (let i = 0; i < chunks.length; i += deps.embeddingBatchSize) {
        vectors.push(...(await embedder.embed(chunks.slice(i, i + deps.embeddingBatchSize))));
        await progress(
          30 + (65 * Math.min(chunks.length, i + deps.embeddingBatchSize)) / chunks.length,
        );
      }
      const dimensions = vectors[0]?.length ?? 0;
      const result = {
        characters,
        chunks: chunks.length,
        embeddingModel: embedder.model,
        embeddingDimensions: dimensions,
      };
      const kept = await records.complete(fileId, chunks, packVectors(vectors), {
        ...result,
        status: 'completed',
        progress: 100,
        finishedAt: Date.now(),
        error: '',
      });
      if (!kept) {
        await storage.remove(fileId);
        return { skipped: 'deleted' };
      }
      await job.updateProgress(100);
      logger.info(
        { fileId, jobId: job.id, attempt, ms: Date.now() - started, ...result },
        'file processed',
      );
      return result;
    } catch (error) {
      const message = (error as Error).message;
      const permanent = isPermanent(error);
      const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      await records
        .update(
          fileId,
          final
            ? { status: 'failed', error: message, finishedAt: Date.now() }
            : { status: 'queued', error: `attempt ${attempt} failed, will retry: ${message}` },
        )
        .catch((updateError: unknown) =>
          logger.error({ err: updateError, fileId }, 'could not record the failure'),
        );
      logger.warn({ fileId, jobId: job.id, attempt, final, err: error }, 'file processing failed');
      if (permanent) throw new UnrecoverableError(message);
      throw error;
    }
  };
}
