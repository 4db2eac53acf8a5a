import { Queue } from 'bullmq';
import type { RedisClient } from './redis-connection.js';
import type { Config } from '../config/config.js';
import type { FileJobData, FileJobResult } from './file-job.js';

export type FileQueue = Queue<FileJobData, FileJobResult>;

/**
 * The BullMQ queue that file jobs go through, with the retry and retention policy from the
 * config. Uploads enqueue through it; workers consume it by name.
 */
export function createFileQueue(config: Config, connection: RedisClient): FileQueue {
  const queue: FileQueue = new Queue(config.queue.name, {
    connection,
    prefix: config.queue.prefix,
    // Fail fast when Redis is down: the API answers 503 instead of waiting.
    skipWaitingForReady: true,
    defaultJobOptions: {
      attempts: config.worker.attempts,
      backoff: { type: 'exponential', delay: config.worker.backoffMs },
      removeOnComplete: { count: config.worker.keepCompleted },
      removeOnFail: { count: config.worker.keepFailed },
    },
  });
  return queue;
}
