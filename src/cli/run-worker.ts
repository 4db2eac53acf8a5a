import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { createEmbedder } from '../embedding/create-embedder.js';
import { FileRecords } from '../pipeline/file-records.js';
import { QueueKeys } from '../queue/queue-keys.js';
import { createRedis } from '../redis/redis-connection.js';
import { LocalBlobStorage } from '../storage/local-blob-storage.js';
import { FileWorker } from '../worker/file-worker.js';
import { closeAll } from '../supervisor/close-all.js';

export interface RunningWorker {
  worker: FileWorker;
  close(): Promise<void>;
}

/** Starts a worker that takes file jobs until `close()`. */
export async function runWorker(config: Config, logger: Logger): Promise<RunningWorker> {
  const connection = createRedis(config.redis, {
    role: 'worker',
    connectionName: `qscale:worker:${config.worker.id}`,
  });
  connection.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  const keys = new QueueKeys(config.queue.prefix, config.queue.name);
  const worker = new FileWorker({
    config,
    logger,
    connection,
    records: new FileRecords(connection, keys),
    storage: new LocalBlobStorage(config.http.uploadDir),
    embedder: createEmbedder(config.embedding),
  });
  await worker.waitUntilReady();
  logger.info(
    {
      workerId: config.worker.id,
      queue: config.queue.name,
      concurrency: config.worker.concurrency,
    },
    'worker taking jobs',
  );
  let closing: Promise<void> | undefined;
  return {
    worker,
    close: () =>
      (closing ??= closeAll(logger, [
        () => worker.close(),
        () => connection.quit().then(() => undefined),
      ])),
  };
}
