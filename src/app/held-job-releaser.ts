import type { Logger } from '../config/logger.js';
import type { FileQueue } from '../pipeline/file-queue.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { ReplicaAcker } from './replica-acker.js';

/**
 * What to do after a kept upload: its jobs are still held (delayed); release them (promote) once
 * REDIS_MIN_REPLICAS_ACK replicas confirm them, otherwise they run when the hold ends. Without an
 * acker (no replicas required) there is nothing to release.
 */
export function heldJobReleaser(options: {
  acker: ReplicaAcker | undefined;
  minReplicasAck: number;
  queue: FileQueue;
  keys: QueueKeys;
  logger: Logger;
}): (ids: string[]) => Promise<void> {
  const { acker, minReplicasAck, queue, keys, logger } = options;
  return async (ids) => {
    if (!acker) return;
    const confirmed = await acker.confirm(ids.map((id) => keys.bull(id)));
    if (confirmed < minReplicasAck) {
      logger.warn(
        { fileIds: ids, confirmed, required: minReplicasAck },
        'kept upload not confirmed by replicas; its jobs run when their hold ends',
      );
      return;
    }
    await Promise.all(
      ids.map(async (id) => {
        const job = await queue.getJob(id);
        if (job && (await job.isDelayed())) await job.promote();
      }),
    );
  };
}
