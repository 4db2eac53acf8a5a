import { driverOf } from '../kinds/registry.js';
import type { QueueJobs } from '../queue/queue-jobs.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { RedisClient } from '../redis/redis-connection.js';

/** The jobs of one watched queue, as its kind's driver reads them, on the caller's client. */
export function createQueueJobs(redis: RedisClient, keys: QueueKeys): QueueJobs {
  return driverOf(keys.kind).createJobs(redis, keys);
}
