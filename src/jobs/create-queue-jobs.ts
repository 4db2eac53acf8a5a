import type { QueueKeys } from '../queue/queue-keys.js';
import type { RedisClient } from '../queue/redis-connection.js';
import { BullmqJobs } from './bullmq-jobs.js';
import type { QueueJobs } from './queue-jobs.js';
import { RqJobs } from './rq-jobs.js';

/** The jobs of one watched queue, BullMQ or RQ as its keys say, on the caller's client. */
export function createQueueJobs(redis: RedisClient, keys: QueueKeys): QueueJobs {
  return keys.kind === 'rq' ? new RqJobs(redis, keys) : new BullmqJobs(redis, keys);
}
