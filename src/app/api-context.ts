import type { RedisClient } from '../redis/redis-connection.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import type { Embedder } from '../embedding/embedder.js';
import type { FileQueue } from '../pipeline/file-queue.js';
import type { FileRecords } from '../pipeline/file-records.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { QueueSampler } from '../sampling/queue-sampler.js';
import type { BlobStorage } from '../storage/blob-storage.js';
import type { IdempotencyStore } from './idempotency.js';
import type { ReplicaAcker } from './replica-acker.js';
import type { UploadSettler } from './upload-settler.js';

/** Everything the handlers use, built once by the CLI (or a test). */
export interface ApiContext {
  config: Config;
  logger: Logger;
  redis: RedisClient;
  queue: FileQueue;
  keys: QueueKeys;
  records: FileRecords;
  sampler: QueueSampler;
  storage: BlobStorage;
  embedder: Embedder;
  idempotency: IdempotencyStore;
  /** Confirms uploads on replicas; only with REDIS_MIN_REPLICAS_ACK. */
  acker?: ReplicaAcker;
  /** Settles uploads whose enqueue had no clear answer. */
  settler: UploadSettler;
}
