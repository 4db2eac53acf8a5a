import { Queue, type KeepJobs } from 'bullmq';
import type { RedisClient } from '../redis/redis-connection.js';
import type { Config } from '../config/config.js';
import type { FileJobData, FileJobResult } from './file-job.js';

export type FileQueue = Queue<FileJobData, FileJobResult>;

/**
 * BullMQ's finished-job retention: at most `count` jobs, none older than `ageSeconds` (0: no age
 * limit). BullMQ applies it when a later job finishes; the API's retention sweeper also removes jobs
 * past the age when none finishes.
 */
function keepJobs(count: number, ageSeconds: number): KeepJobs {
  return ageSeconds > 0 ? { age: ageSeconds, count } : { count };
}

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
      removeOnComplete: keepJobs(config.worker.keepCompleted, config.worker.keepCompletedSeconds),
      removeOnFail: keepJobs(config.worker.keepFailed, config.worker.keepFailedSeconds),
    },
  });
  return queue;
}
